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
#: OPC 10031-4 ISA-95 job control and OPC 40001-3 Machinery Job Management (registered after
#: PLANT, so that the indexes of the namespaces before them stay what they were)
ISA95_JOB_CONTROL = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/"
MACHINERY_JOBS = "http://opcfoundation.org/UA/Machinery/Jobs/"

OFFICIAL = (DI, MACHINERY, LASER_SYSTEMS, PACKML, ROBOTICS, ISA95_JOB_CONTROL, MACHINERY_JOBS)
_REGISTERED = (DI, MACHINERY, LASER_SYSTEMS, PACKML, ROBOTICS, PLANT, ISA95_JOB_CONTROL,
               MACHINERY_JOBS)  # the order of the fields of `Namespaces`



@dataclass(frozen=True, slots=True)
class Namespaces:
    """Namespace indexes of one running server."""

    di: int
    machinery: int
    laser: int
    packml: int
    robotics: int
    plant: int
    isa95: int
    jobs: int


async def register_namespaces(server) -> Namespaces:
    """Register every namespace the address space uses and return their indexes."""
    indexes = [await server.register_namespace(uri) for uri in _REGISTERED]
    return Namespaces(*indexes)
