"""The demo's web dashboard: a consumer of the unified namespace, like a MES or SCADA.

It reads the plants from MQTT, sends commands over OPC UA, and shows what only the simulator
can know (the true state of a disconnected cell) from the server's Objects/SimulatorView,
labelled as such. It imports nothing of factory_sim, opcua_server or mqtt_bridge.
"""
