"""The OPC UA input: any OPC UA Machinery server's machines, values and events as Samples.

Start at `source.py` (`OpcUaSource`); `README.md` in this folder maps the other modules and
`opcua.example.toml` shows its configuration.
"""

from mqtt_bridge.inputs.opcua.errors import SourceError
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings
from mqtt_bridge.inputs.opcua.source import OpcUaSource

__all__ = ["OpcUaSettings", "OpcUaSource", "SourceError"]
