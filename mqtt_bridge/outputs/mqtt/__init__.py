"""The MQTT output: `sink.MqttSink`, its payloads (`payload.py`) and settings; see README.md."""
