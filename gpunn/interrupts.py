"""Ctrl-C and SIGTERM in training: the first asks the loop to stop cleanly, a second Ctrl-C quits.

with StopRequest() as stop:
    for batch in ...:
        if stop.requested: break      # finish the batch, checkpoint, exit non-zero
        ...
        with stop.hold():             # a second Ctrl-C here waits for the block to end
            write_checkpoint()

A second Ctrl-C raises KeyboardInterrupt at once, except inside ``hold()``: cutting a
checkpoint write short could leave a temporary file behind or mask the interrupt with
an error from the half-closed zip. There it is only noted, and since a stop was already
asked for, the loop stops right after the write. The trainer then raises
``TrainingInterrupted``, which names the checkpoint it saved.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gpunn import signals
from gpunn.errors import GpunnError


class TrainingInterrupted(GpunnError):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint (``.checkpoint``)."""

    def __init__(self, message: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class StopRequest:
    """Catches SIGINT/SIGTERM inside the ``with`` block (main thread only; elsewhere a no-op;
    a signal the process was started ignoring stays ignored: ``gpunn.signals.taken``)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}
        self._holding = False

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT and not self._holding:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = self.requested or signal.Signals(signum).name

    @contextmanager
    def hold(self) -> Iterator[None]:
        """A block that a second Ctrl-C does not cut short (see the module docstring)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def __enter__(self) -> StopRequest:
        signals.stop_saying_again()  # a re-send now would count as a second Ctrl-C
        if signals.received:  # the command line's, dropped before training began
            self.requested = signal.Signals(signals.received[0]).name
        if threading.current_thread() is threading.main_thread():
            for sig in signals.taken():  # one ignored stays ignored
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
