"""The bridge's durable buffer, the one owner of "nothing lost": one SQLite journal between the
OPC UA source and the sinks. What each part guarantees and the interface a sink uses:
README.md in this folder; a sink is written against `SinkJournal` (`interface.py`).
"""

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.journal.core import Journal
from mqtt_bridge.journal.interface import (
    Encoder,
    Item,
    JournalEntry,
    JournalError,
    SinkJournal,
)

__all__ = ["Dropped", "Encoder", "Item", "Journal", "JournalEntry", "JournalError",
           "SinkJournal"]
