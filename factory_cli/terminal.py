"""The console tables are printed to: the terminal's width, or wide when piped to a file.

Piped output (a file, `less`, a test) has no width; rich would assume 80 columns and wrap
the tables, which makes them hard to read and to grep.
"""

from __future__ import annotations

import sys

PIPED_WIDTH = 200


def stdout_console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
