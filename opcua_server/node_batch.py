"""Build many nodes with chosen NodeIds in one go, straight into the server's address space.

asyncua's `Node.add_object(...)` makes one service call per node and instantiates types by
copying their children; a plant multiplied to hundreds of cells has tens of thousands of
nodes, so the server builds them as plain AddNodesItems and adds them in one batch, which
starts the reference plant in well under a second.
"""

from __future__ import annotations

from asyncua import ua

HAS_COMPONENT = ua.NodeId(ua.ObjectIds.HasComponent)
HAS_PROPERTY = ua.NodeId(ua.ObjectIds.HasProperty)
HAS_SUBTYPE = ua.NodeId(ua.ObjectIds.HasSubtype)
ORGANIZES = ua.NodeId(ua.ObjectIds.Organizes)
ENUMERATION = ua.NodeId(ua.ObjectIds.Enumeration)
HAS_ADD_IN = ua.NodeId(ua.ObjectIds.HasAddIn)
HAS_MODELLING_RULE = ua.NodeId(ua.ObjectIds.HasModellingRule)
MANDATORY = ua.NodeId(ua.ObjectIds.ModellingRule_Mandatory)
OPTIONAL = ua.NodeId(ua.ObjectIds.ModellingRule_Optional)

# kept one way, as in the standard nodesets (a type or a modelling rule would collect
# thousands of inverse references)
_ONE_WAY = frozenset({HAS_MODELLING_RULE, ua.NodeId(ua.ObjectIds.HasTypeDefinition)})

READ = ua.AccessLevel.CurrentRead.mask
READ_WRITE = READ | ua.AccessLevel.CurrentWrite.mask
READ_HISTORY = READ | ua.AccessLevel.HistoryRead.mask


class NodeBatch:
    """Collects nodes and references, then adds them to a server in one call."""

    def __init__(self) -> None:
        self.items: list[ua.AddNodesItem] = []
        self.references: list[ua.AddReferencesItem] = []

    def _item(self, nodeid, browse_name, node_class, parent, reference, typedef, attrs):
        attrs.DisplayName = ua.LocalizedText(browse_name.Name)
        item = ua.AddNodesItem(
            RequestedNewNodeId=nodeid,
            BrowseName=browse_name,
            NodeClass=node_class,
            ParentNodeId=parent,
            ReferenceTypeId=reference,
            TypeDefinition=typedef if typedef is not None else ua.NodeId(),
            NodeAttributes=attrs,
        )
        self.items.append(item)
        return nodeid

    def object(self, nodeid, browse_name, parent, typedef, reference=HAS_COMPONENT, notifier=False,
               rule=None) -> ua.NodeId:
        attrs = ua.ObjectAttributes()
        # EventNotifier is mandatory for objects (OPC 10000-3, 5.5.1), 0 where none
        attrs.EventNotifier = ua.EventNotifier.SubscribeToEvents.mask if notifier else 0
        attrs.SpecifiedAttributes = (ua.NodeAttributesMask.DisplayName
                                     | ua.NodeAttributesMask.EventNotifier)
        self._item(nodeid, browse_name, ua.NodeClass.Object, parent, reference, typedef, attrs)
        self._rule(nodeid, rule)
        return nodeid

    def variable(self, nodeid, browse_name, parent, value: ua.Variant, datatype: ua.NodeId,
                 typedef=None, reference=HAS_COMPONENT, access=READ, rule=None,
                 value_rank=-1, sampling_ms: float | None = None) -> ua.NodeId:
        if typedef is None:
            typedef = ua.NodeId(
                ua.ObjectIds.PropertyType if reference == HAS_PROPERTY
                else ua.ObjectIds.BaseDataVariableType
            )
        attrs = ua.VariableAttributes()
        attrs.Value = value
        attrs.DataType = datatype
        attrs.ValueRank = value_rank
        attrs.AccessLevel = access
        attrs.UserAccessLevel = access
        attrs.Historizing = False  # mandatory (OPC 10000-3, 5.6.2); opcua_server.history sets it
        attrs.SpecifiedAttributes = (
            ua.NodeAttributesMask.DisplayName | ua.NodeAttributesMask.Value
            | ua.NodeAttributesMask.DataType | ua.NodeAttributesMask.ValueRank
            | ua.NodeAttributesMask.AccessLevel | ua.NodeAttributesMask.UserAccessLevel
            | ua.NodeAttributesMask.Historizing
        )
        if sampling_ms is not None:  # the fastest the server refreshes the value
            attrs.MinimumSamplingInterval = sampling_ms
            attrs.SpecifiedAttributes |= ua.NodeAttributesMask.MinimumSamplingInterval
        self._item(nodeid, browse_name, ua.NodeClass.Variable, parent, reference, typedef, attrs)
        self._rule(nodeid, rule)
        return nodeid

    def object_type(self, nodeid, browse_name, supertype, abstract=False) -> ua.NodeId:
        attrs = ua.ObjectTypeAttributes()
        attrs.IsAbstract = abstract
        attrs.SpecifiedAttributes = (
            ua.NodeAttributesMask.DisplayName | ua.NodeAttributesMask.IsAbstract
        )
        return self._item(nodeid, browse_name, ua.NodeClass.ObjectType, supertype, HAS_SUBTYPE,
                          None, attrs)

    def enum_type(self, nodeid, browse_name, supertype=ENUMERATION) -> ua.NodeId:
        """An Enumeration DataType (its values are documented by the specification)."""
        attrs = ua.DataTypeAttributes()
        attrs.IsAbstract = False
        attrs.SpecifiedAttributes = (ua.NodeAttributesMask.DisplayName
                                     | ua.NodeAttributesMask.IsAbstract)
        self._item(nodeid, browse_name, ua.NodeClass.DataType, supertype, HAS_SUBTYPE, None,
                   attrs)
        return nodeid

    def structure_type(self, nodeid, browse_name, definition: ua.StructureDefinition) -> ua.NodeId:
        """A Structure DataType with its DataTypeDefinition (so clients can decode it)."""
        attrs = ua.DataTypeAttributes()
        attrs.DataTypeDefinition = definition
        attrs.IsAbstract = False  # mandatory; node-opcua cannot decode the type without it
        attrs.SpecifiedAttributes = (ua.NodeAttributesMask.DisplayName
                                     | ua.NodeAttributesMask.DataTypeDefinition
                                     | ua.NodeAttributesMask.IsAbstract)
        self._item(nodeid, browse_name, ua.NodeClass.DataType, ua.NodeId(ua.ObjectIds.Structure),
                   HAS_SUBTYPE, None, attrs)
        return nodeid

    def method(self, nodeid, browse_name, parent, inputs: list[ua.Argument],
               outputs: list[ua.Argument] = (), argument_ids=None) -> ua.NodeId:
        """A method with its InputArguments and OutputArguments properties (NodeIds
        "<method>.InputArguments" ..., or `argument_ids`: (inputs, outputs), a spec's own)."""
        attrs = ua.MethodAttributes()
        attrs.Executable = True
        attrs.UserExecutable = True
        attrs.SpecifiedAttributes = (
            ua.NodeAttributesMask.DisplayName | ua.NodeAttributesMask.Executable
            | ua.NodeAttributesMask.UserExecutable
        )
        self._item(nodeid, browse_name, ua.NodeClass.Method, parent, HAS_COMPONENT, None, attrs)
        for position, (name, args) in enumerate((("InputArguments", inputs),
                                                  ("OutputArguments", outputs))):
            if args:
                self.variable(
                    argument_ids[position] if argument_ids is not None
                    else ua.NodeId(f"{nodeid.Identifier}.{name}", nodeid.NamespaceIndex),
                    ua.QualifiedName(name, 0), nodeid,
                    ua.Variant(list(args), ua.VariantType.ExtensionObject),
                    ua.NodeId(ua.ObjectIds.Argument), reference=HAS_PROPERTY, value_rank=1,
                )
        return nodeid

    def reference(self, source, target, reference_type,
                  target_class=ua.NodeClass.Unspecified) -> None:
        self.references.append(ua.AddReferencesItem(
            SourceNodeId=source, ReferenceTypeId=reference_type, IsForward=True,
            TargetNodeId=target, TargetNodeClass=target_class,
        ))
        if reference_type in _ONE_WAY:
            return
        # with its inverse, as AddNodes makes them: a client browsing either way finds it
        self.references.append(ua.AddReferencesItem(
            SourceNodeId=target, ReferenceTypeId=reference_type, IsForward=False,
            TargetNodeId=source,
        ))

    def _rule(self, nodeid, rule) -> None:
        if rule is not None:
            self.reference(nodeid, rule, HAS_MODELLING_RULE)

    def commit(self, server) -> None:
        """Add everything collected to `server`'s address space; fail loudly on any refusal."""
        service = server.iserver.node_mgt_service
        for item, result in zip(self.items, service.add_nodes(self.items), strict=True):
            if not result.StatusCode.is_good():
                raise RuntimeError(f"cannot add node {item.RequestedNewNodeId} "
                                   f"({item.BrowseName}): {result.StatusCode}")
        for ref, status in zip(self.references, service.add_references(self.references),
                               strict=True):
            if not status.is_good():
                raise RuntimeError(f"cannot add reference {ref}: {status}")
        self.items.clear()
        self.references.clear()
