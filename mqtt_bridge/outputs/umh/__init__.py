"""The United Manufacturing Hub output: `_historian` or `_raw` values and `_analytics`."""
