"""Ctrl-C and SIGTERM in training: the first asks the loop to stop cleanly, a second Ctrl-C quits.

with StopRequest() as stop:
    for batch in ...:
        if stop.requested: break      # finish the batch, checkpoint, exit non-zero
"""

from __future__ import annotations

import signal
import threading


class StopRequest:
    """Catches SIGINT/SIGTERM inside the ``with`` block (main thread only; elsewhere a no-op)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
