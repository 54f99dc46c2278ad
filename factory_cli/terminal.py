"""The console tables are printed to: the terminal's width, or wide when piped to a file.

Piped output (a file, `less`, a test) has no width; rich would assume 80 columns and wrap
the tables, which makes them hard to read and to grep.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

PIPED_WIDTH = 200


def stdout_console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)


@contextmanager
def pipe_may_close():
    """Output piped into `head` and the like: stop writing quietly when the reader is gone."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
