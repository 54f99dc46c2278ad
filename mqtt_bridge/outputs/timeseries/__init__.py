"""The time-series output: `sink.TimeSeriesSink`, its line protocol and settings; see README.md."""
