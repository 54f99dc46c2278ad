"""Where the bridge delivers: one folder per output (`mqtt/`, `timeseries/`), each a sink that
drains the journal through its own cursor with its own encoder (`journal_sink.py`)."""
