"""Companion-specification types, defined in the project's own code (official NodeIds).

Only what the address space uses is declared: the type nodes, their supertypes, and the
instance declarations (states, properties) instances point at. Each module adds its nodes
to a `NodeBatch`; `declare_all` declares them all in dependency order.
"""

from __future__ import annotations

from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import NodeBatch
from opcua_server.types import di, jobs, laser, machinery, packml, robotics


def declare_all(batch: NodeBatch, ns: Namespaces) -> None:
    di.declare(batch, ns)
    machinery.declare(batch, ns)
    laser.declare(batch, ns)
    packml.declare(batch, ns)
    robotics.declare(batch, ns)
    jobs.declare(batch, ns)
