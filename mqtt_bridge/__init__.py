"""An OPC UA client that publishes any Machinery server to MQTT and a time series."""
