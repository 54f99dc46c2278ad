"""The journal's writer: commits every `interval` seconds, or at once when woken (enough rows
are waiting), in a thread of its own, so the event loop that appends never waits for the disk;
and the sinks' commit listeners, told after every commit so they sleep instead of polling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class CommitThread:
    """Calls `commit()` periodically until `stop()`; keeps the commit listeners."""

    def __init__(self, commit: Callable[[], bool], interval: float) -> None:
        self._commit = commit
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,),
                                        name="journal-commit", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Commit now, not at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after each commit; returns the function that removes it."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def tell(self) -> None:
        """A commit succeeded: tell the listeners (from the committing thread)."""
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            self._commit()  # a failure is logged and retried at the next interval
