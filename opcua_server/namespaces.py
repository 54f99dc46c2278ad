"""The namespaces the server registers, and the order their indexes are looked up in.

Official namespaces (Machinery, DI, ...) carry the companion specifications' own URIs so that
any client that knows the specification finds its types by NodeId. The plant's machines and
the simulation control live in the project's own namespace, `PLANT`; vendor-level cells each
get their vendor's namespace (see `opcua_server.vendor`).
"""

from __future__ import annotations

from dataclasses import dataclass

DI = "http://opcfoundation.org/UA/DI/"
MACHINERY = "http://opcfoundation.org/UA/Machinery/"
LASER_SYSTEMS = "http://opcfoundation.org/UA/LaserSystems/"
PACKML = "http://opcfoundation.org/UA/PackML/"
ROBOTICS = "http://opcfoundation.org/UA/Robotics/"
PLANT = "urn:factory-sim:plant"

OFFICIAL = (DI, MACHINERY, LASER_SYSTEMS, PACKML, ROBOTICS)


@dataclass(frozen=True, slots=True)
class Namespaces:
    """Namespace indexes of one running server."""

    di: int
    machinery: int
    laser: int
    packml: int
    robotics: int
    plant: int


async def register_namespaces(server) -> Namespaces:
    """Register every namespace the address space uses and return their indexes."""
    indexes = [await server.register_namespace(uri) for uri in (*OFFICIAL, PLANT)]
    return Namespaces(*indexes)
