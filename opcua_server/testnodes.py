"""Objects/TestNodes (`serve --test-nodes`): what OPC UA clients break on, outside the plant.

Integrators test their clients against values a factory rarely has: every built-in data type
as a scalar, an array and a matrix, large values, odd NodeIds, a value whose status cycles
through Good, Uncertain and Bad, slow and fast values that change a bounded number of times,
and writable values with range checks. The folder is in its own namespace
(`urn:factory-sim:test-nodes`), not in the plant's, and its Description and `Note` say that it
is no part of the factory (like Objects/SimulatorView). Every variable has its type definition
(BaseDataVariableType, AnalogItemType for the ranged writable numbers, PropertyType for
properties), and its DataType, ValueRank and ArrayDimensions match its value.

    Objects/TestNodes
      Note
      Scalar/<Type>, Array/<Type> (3 values), Matrix/<Type> (2 x 3 values)
          for Boolean ... LocalizedText, ExtensionObject (a Range), DataValue, DiagnosticInfo
      Large/ String (100,000 characters), ByteString (1 MiB), DoubleArray (100,000 values)
      OddIds/ i=4294967295, a GUID, an opaque id, a string id with spaces, slashes, dots and
              non-ASCII letters, and a string id of 4,096 characters (the longest allowed)
      Dynamic/ Fast (every simulated second), Slow (every simulated minute): a counter that
               stops after UpdateLimit changes (properties UpdateRate, UpdateLimit);
               StatusCycling: Good, Uncertain, Bad, each for 10 simulated seconds
      Writable/<Type> for every scalar type; numbers within their EURange (-100..100, 0..100
               unsigned), texts and byte strings up to 4,096 long; else BadOutOfRange

The dynamic values follow simulated time (the server's flush after every pacing tick or Step),
so a test steps the plant and knows what it will read.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

from asyncua import ua

from opcua_server.node_batch import HAS_PROPERTY, ORGANIZES, READ, READ_WRITE, NodeBatch
from opcua_server.writes import Writes

URI = "urn:factory-sim:test-nodes"
NOTE = ("test nodes of the simulator, not part of the factory: data types, odd NodeIds and "
        "changing statuses for testing OPC UA clients")
V = ua.VariantType
_WHEN = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

#: built-in type -> (DataType, a sample value)
SAMPLES: dict[str, tuple[int, object]] = {
    "Boolean": (ua.ObjectIds.Boolean, True),
    "SByte": (ua.ObjectIds.SByte, -128),
    "Byte": (ua.ObjectIds.Byte, 255),
    "Int16": (ua.ObjectIds.Int16, -32768),
    "UInt16": (ua.ObjectIds.UInt16, 65535),
    "Int32": (ua.ObjectIds.Int32, -2147483648),
    "UInt32": (ua.ObjectIds.UInt32, 4294967295),
    "Int64": (ua.ObjectIds.Int64, -9223372036854775808),
    "UInt64": (ua.ObjectIds.UInt64, 18446744073709551615),
    "Float": (ua.ObjectIds.Float, 3.5),
    "Double": (ua.ObjectIds.Double, math.pi),
    "String": (ua.ObjectIds.String, "Grüße, 工場 ✓"),
    "DateTime": (ua.ObjectIds.DateTime, _WHEN),
    "Guid": (ua.ObjectIds.Guid, uuid.UUID("72962b91-fa75-4ae6-8d28-b404dc7daf63")),
    "ByteString": (ua.ObjectIds.ByteString, b"\x00\x01\x7f\x80\xfe\xff"),
    "XmlElement": (ua.ObjectIds.XmlElement, ua.XmlElement("<part id=\"7\">bracket</part>")),
    "NodeId": (ua.ObjectIds.NodeId, ua.NodeId("press-brake", 1)),
    "ExpandedNodeId": (ua.ObjectIds.ExpandedNodeId,
                       ua.ExpandedNodeId(2253, 0, NamespaceUri=None, ServerIndex=0)),
    "StatusCode": (ua.ObjectIds.StatusCode,
                   ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)),
    "QualifiedName": (ua.ObjectIds.QualifiedName, ua.QualifiedName("Bracket", 1)),
    "LocalizedText": (ua.ObjectIds.LocalizedText, ua.LocalizedText("Biegen", "de-DE")),
    "ExtensionObject": (ua.ObjectIds.Range, ua.Range(Low=-1.5, High=99.5)),
    "DataValue": (ua.ObjectIds.DataValue, ua.DataValue(ua.Variant(7.0, V.Double),
                                                       SourceTimestamp=_WHEN)),
    "DiagnosticInfo": (ua.ObjectIds.DiagnosticInfo, ua.DiagnosticInfo(SymbolicId=1)),
}
_UNSIGNED = {"Byte", "UInt16", "UInt32", "UInt64"}
_NUMBERS = {"SByte", "Int16", "Int32", "Int64", "Float", "Double"} | _UNSIGNED
_TEXTS = {"String": len, "ByteString": len, "XmlElement": lambda x: len(str(x))}
MAX_TEXT = 4096
FAST_S, SLOW_S, STATUS_S = 1.0, 60.0, 10.0
FAST_LIMIT, SLOW_LIMIT = 1000, 100
STATUS_CYCLE = (ua.StatusCodes.Good, ua.StatusCodes.UncertainLastUsableValue,
                ua.StatusCodes.BadSensorFailure)


def _vtype(name: str) -> ua.VariantType:
    return V[name]


def value_range(name: str) -> tuple[float, float] | None:
    """The EURange of a writable number, or None for a type without one."""
    if name in _UNSIGNED:
        return (0.0, 100.0)
    if name in _NUMBERS:
        return (-100.0, 100.0)
    return None


class TestNodes:
    """Builds Objects/TestNodes, updates its dynamic values, checks writes to it."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, ns: int) -> None:
        self.ns = ns
        self.root = self._id("TestNodes")
        self._fast, self._slow = self._id("Dynamic/Fast"), self._id("Dynamic/Slow")
        self._status = self._id("Dynamic/StatusCycling")

    def _id(self, text: str) -> ua.NodeId:
        return ua.NodeId(text, self.ns)

    def _name(self, text: str) -> ua.QualifiedName:
        return ua.QualifiedName(text, self.ns)

    # ---- building ----
    def build(self, batch: NodeBatch) -> None:
        folder = ua.NodeId(ua.ObjectIds.FolderType)
        batch.object(self.root, self._name("TestNodes"), ua.NodeId(ua.ObjectIds.ObjectsFolder),
                     folder, reference=ORGANIZES)
        _describe(batch.items[-1], NOTE)
        batch.variable(self._id("TestNodes/Note"), self._name("Note"), self.root,
                       ua.Variant(NOTE, V.String), ua.NodeId(ua.ObjectIds.String),
                       reference=HAS_PROPERTY)
        for group in ("Scalar", "Array", "Matrix", "Large", "OddIds", "Dynamic", "Writable"):
            batch.object(self._id(group), self._name(group), self.root, folder,
                         reference=ORGANIZES)
        for name, (datatype, sample) in SAMPLES.items():
            vtype, dt = _vtype(name), ua.NodeId(datatype)
            self._variable(batch, f"Scalar/{name}", ua.Variant(sample, vtype), dt)
            self._variable(batch, f"Array/{name}", ua.Variant([sample] * 3, vtype), dt, [3])
            self._variable(batch, f"Matrix/{name}", ua.Variant(
                [[sample] * 3, [sample] * 3], vtype, Dimensions=[2, 3]), dt, [2, 3])
            if name not in ("DataValue", "DiagnosticInfo"):
                self._writable(batch, name, sample, dt)
        self._large(batch)
        self._odd_ids(batch)
        self._dynamic(batch)

    def _variable(self, batch: NodeBatch, path: str, value: ua.Variant, datatype: ua.NodeId,
                  dimensions: list[int] | None = None, nodeid: ua.NodeId | None = None,
                  access: int = READ, typedef: ua.NodeId | None = None) -> ua.NodeId:
        parent, name = path.rsplit("/", 1)
        nodeid = nodeid or self._id(path)
        batch.variable(nodeid, self._name(name), self._id(parent), value, datatype,
                       access=access, typedef=typedef,
                       value_rank=len(dimensions) if dimensions else -1)
        if dimensions:
            attrs = batch.items[-1].NodeAttributes
            attrs.ArrayDimensions = list(dimensions)
            attrs.SpecifiedAttributes |= ua.NodeAttributesMask.ArrayDimensions
        return nodeid

    def _writable(self, batch: NodeBatch, name: str, sample, datatype: ua.NodeId) -> None:
        limits = value_range(name)
        if name in _NUMBERS:
            sample = type(sample)(0)
        typedef = ua.NodeId(ua.ObjectIds.AnalogItemType if limits else
                            ua.ObjectIds.BaseDataVariableType)
        node = self._variable(batch, f"Writable/{name}", ua.Variant(sample, _vtype(name)),
                              datatype, access=READ_WRITE, typedef=typedef)
        if limits:
            batch.variable(self._id(f"Writable/{name}.EURange"), ua.QualifiedName("EURange", 0),
                           node, ua.Variant(ua.Range(Low=limits[0], High=limits[1]),
                                            V.ExtensionObject),
                           ua.NodeId(ua.ObjectIds.Range), reference=HAS_PROPERTY)

    def _large(self, batch: NodeBatch) -> None:
        self._variable(batch, "Large/String", ua.Variant("0123456789" * 10_000, V.String),
                       ua.NodeId(ua.ObjectIds.String))
        self._variable(batch, "Large/ByteString", ua.Variant(bytes(range(256)) * 4096,
                                                             V.ByteString),
                       ua.NodeId(ua.ObjectIds.ByteString))
        self._variable(batch, "Large/DoubleArray", ua.Variant(
            [i / 7 for i in range(100_000)], V.Double), ua.NodeId(ua.ObjectIds.Double),
            [100_000])

    def odd_ids(self) -> dict[str, ua.NodeId]:
        ns = self.ns
        return {
            "MaxNumeric": ua.NodeId(4294967295, ns),
            "Guid": ua.NodeId(uuid.UUID("0f0e0d0c-0b0a-0908-0706-050403020100"), ns,
                              ua.NodeIdType.Guid),
            "Opaque": ua.NodeId(b"\x00\xffopaque\x01", ns, ua.NodeIdType.ByteString),
            "Spaces": ua.NodeId("Odd id/with spaces, dots.and/slashes · ÄÖÜ ✓", ns),
            "Long": ua.NodeId("L" * MAX_TEXT, ns),
        }

    def _odd_ids(self, batch: NodeBatch) -> None:
        for name, nodeid in self.odd_ids().items():
            self._variable(batch, f"OddIds/{name}", ua.Variant(name, V.String),
                           ua.NodeId(ua.ObjectIds.String), nodeid=nodeid)

    def _dynamic(self, batch: NodeBatch) -> None:
        for node, name, rate, limit in ((self._fast, "Fast", FAST_S, FAST_LIMIT),
                                        (self._slow, "Slow", SLOW_S, SLOW_LIMIT)):
            self._variable(batch, f"Dynamic/{name}", ua.Variant(0, V.UInt32),
                           ua.NodeId(ua.ObjectIds.UInt32), nodeid=node)
            for prop, value, vtype, dt in (("UpdateRate", rate, V.Double, ua.ObjectIds.Double),
                                           ("UpdateLimit", limit, V.UInt32,
                                            ua.ObjectIds.UInt32)):
                batch.variable(self._id(f"Dynamic/{name}.{prop}"), self._name(prop), node,
                               ua.Variant(value, vtype), ua.NodeId(dt), reference=HAS_PROPERTY)
        self._variable(batch, "Dynamic/StatusCycling", ua.Variant(0.0, V.Double),
                       ua.NodeId(ua.ObjectIds.Double), nodeid=self._status)

    # ---- acting ----
    def update(self, writes: Writes, now: float) -> None:
        """The dynamic values at simulated time `now` (seconds since the plant's start)."""
        fast = min(int(now // FAST_S), FAST_LIMIT)
        slow = min(int(now // SLOW_S), SLOW_LIMIT)
        writes.value(self._fast, ua.Variant(fast, V.UInt32), min(now, fast * FAST_S))
        writes.value(self._slow, ua.Variant(slow, V.UInt32), min(now, slow * SLOW_S))
        phase = int(now // STATUS_S)
        writes.value(self._status, ua.Variant(float(phase), V.Double), phase * STATUS_S,
                     ua.StatusCode(status_at(now)))

    def bind(self, guard) -> None:
        """Range checks for the writable values (`opcua_server.write_guard`)."""
        for name in SAMPLES:
            if name in ("DataValue", "DiagnosticInfo"):
                continue
            guard.on_write(self._id(f"Writable/{name}"), _vtype(name), _checker(name))


def status_at(now: float) -> int:
    """The status of Dynamic/StatusCycling at simulated time `now`.

    >>> [ua.StatusCode(status_at(t)).name for t in (0, 10, 20, 30)]
    ['Good', 'UncertainLastUsableValue', 'BadSensorFailure', 'Good']
    """
    return STATUS_CYCLE[int(now // STATUS_S) % len(STATUS_CYCLE)]


def _checker(name: str):
    limits = value_range(name)
    length = _TEXTS.get(name)

    async def check(value) -> None:
        if limits is not None and not (limits[0] <= value <= limits[1]):
            raise ValueError(f"TestNodes/Writable/{name}: {value} is outside its EURange "
                             f"{limits[0]:g}..{limits[1]:g}")
        if length is not None and length(value) > MAX_TEXT:
            raise ValueError(f"TestNodes/Writable/{name}: longer than {MAX_TEXT}")
    return check


def _describe(item: ua.AddNodesItem, text: str) -> None:
    item.NodeAttributes.Description = ua.LocalizedText(text)
    item.NodeAttributes.SpecifiedAttributes |= ua.NodeAttributesMask.Description
