"""Errors the command line reports as one clear line and a non-zero exit, never a traceback."""


class CliError(Exception):
    """A user-facing failure: bad input, an unreachable peer, a refused login."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
