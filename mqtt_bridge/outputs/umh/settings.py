"""Settings of the UMH output: the MQTT connection (as the MQTT output's) and UMH's form."""

from __future__ import annotations

from dataclasses import dataclass

from mqtt_bridge.outputs.mqtt.settings import MqttSettings
from mqtt_bridge.outputs.umh import states
from mqtt_bridge.outputs.umh.topics import check_level
from mqtt_bridge.settings import require

FORMS = ("classic", "core")


@dataclass(frozen=True)
class UmhSettings(MqttSettings):
    """Where and how to publish to a United Manufacturing Hub broker.

    >>> UmhSettings(url="mqtt://umh.example:1883", form="core").form
    'core'
    >>> UmhSettings(origin_id="_x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mqtt_bridge.settings.SettingsError: UMH origin_id '_x': expected letters, digits, ...
    """

    client_id: str = "factory-sim-umh"
    # "classic": `_historian` messages (UMH Classic's data model); "core": `_raw` time series,
    # one value per message (UMH Core's topic convention)
    form: str = "classic"
    origin_id: str = ""  # UMH's optional level below the work cell; "" for none
    # the variable whose values become `_analytics/state/add` (states.TABLES)
    state_variable: str = "state/CurrentState"
    batch: str = "machine"  # delivery rounds, as the MQTT output's machine mode (not a choice)
    # unconfirmed messages per connection: about one message per value, as in tag mode, whose
    # default this is (paho is fastest with a small window)
    max_inflight: int | None = 20

    def __post_init__(self) -> None:
        require(self.form in FORMS, f"UMH form {self.form!r}: expected classic or core")
        if self.origin_id:
            check_level("origin_id", self.origin_id)
        require(self.state_variable in states.TABLES,
                f"UMH state_variable {self.state_variable!r}: expected one of "
                + ", ".join(states.TABLES))
        require(self.topic_prefix == "",
                f"UMH topic_prefix {self.topic_prefix!r}: UMH's topics begin with umh/v1, "
                "a prefix is not allowed")
        require(self.batch == "machine",
                f"UMH batch {self.batch!r}: the UMH output always delivers in rounds (machine)")
        super().__post_init__()
