"""SIGINT and SIGTERM outside training, for the command line: from ``gpunn.__main__``'s
first line on, each is recorded and raised as KeyboardInterrupt, unless the process was
started ignoring it (then it stays ignored, in training too: ``taken``).

The record is what lets gpunn stop for a Ctrl-C that never reached it as an exception:
CPython drops one raised in importlib's module-lock callback ("Exception ignored in …
_get_module_lock"), NumPy turns one in its C extensions' import into an ImportError, and
an optional import (``except ImportError: pass``) then drops that. The command line
checks the record before a command starts, reports any exception after a recorded signal
as the interrupt, and, on POSIX, the signal is sent again once, 0.5 s later, until the
command has ended (in training it then reaches the loop's own handler: a clean stop).
Only stdlib imports here: this module loads before anything heavy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

EXIT_INTERRUPTED = 130
STOPS = (signal.SIGINT, signal.SIGTERM)  # the signals that stop gpunn
SAY_AGAIN_S = 0.5
CAN_SAY_AGAIN = hasattr(signal, "setitimer")  # POSIX

received: list[int] = []  # the signals of this command so far
_alarm_handler: list = []  # SIGALRM's handler before record(), to put back
_stop_handlers: dict = {}  # SIGINT's and SIGTERM's before record(), for release()
_unraisable_hook: list = []  # sys.unraisablehook before record(), for release()


def taken() -> tuple[int, ...]:
    """The stop signals gpunn handles: ``STOPS`` but those ignored now. A signal the process
    was started ignoring stays ignored, as Python does for SIGINT: a shell without job
    control starts a script's background jobs so, and a Ctrl-C meant for the script must
    not stop them."""
    return tuple(sig for sig in STOPS if signal.getsignal(sig) != signal.SIG_IGN)


def record() -> None:
    """Take SIGINT and SIGTERM (``taken()``): record each, raise KeyboardInterrupt (again:
    no change)."""
    if CAN_SAY_AGAIN and not _alarm_handler:
        _alarm_handler.append(signal.getsignal(signal.SIGALRM))
    for sig in taken():
        previous = signal.signal(sig, _interrupt)
        _stop_handlers.setdefault(sig, previous)
    if not _unraisable_hook:
        _unraisable_hook.append(sys.unraisablehook)
        sys.unraisablehook = _quiet_recorded


def _quiet_recorded(unraisable) -> None:
    """Python's "Exception ignored in …" report, but for a KeyboardInterrupt of a recorded
    signal (importlib's module-lock callback drops them): the record stops the command."""
    if not (received and isinstance(unraisable.exc_value, KeyboardInterrupt)):
        _unraisable_hook[0](unraisable)


def _interrupt(signum, frame) -> None:
    received.append(signum)
    if len(received) == 1 and CAN_SAY_AGAIN:
        previous = signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signum))
        if not _alarm_handler:  # training's StopRequest put it back already
            _alarm_handler.append(previous)
        signal.setitimer(signal.ITIMER_REAL, SAY_AGAIN_S)
    raise KeyboardInterrupt


def stop_saying_again() -> None:
    """No re-send from here (the command has ended, or said it was interrupted)."""
    if CAN_SAY_AGAIN and _alarm_handler:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, _alarm_handler.pop())


def settle() -> None:
    """The program ends now, and has said how: no re-send, the record cleared, and both
    signals ignored (one during the interpreter's shutdown would only kill it silently,
    or print "Exception ignored")."""
    release()
    for sig in STOPS:
        signal.signal(sig, signal.SIG_IGN)


def release() -> None:
    """The command has ended (its caller goes on): no re-send, the record cleared, and
    SIGINT's and SIGTERM's handlers as ``record()`` found them."""
    stop_saying_again()
    received.clear()
    while _stop_handlers:
        sig, handler = _stop_handlers.popitem()
        signal.signal(sig, handler)
    if _unraisable_hook:
        sys.unraisablehook = _unraisable_hook.pop()


def interrupted() -> int:
    """Say so, in the command line's one line; its exit status."""
    print("gpunn: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def block_here() -> None:
    """Block SIGINT and SIGTERM in the calling thread (for good), so that the kernel gives
    them to the main thread, which Python wakes for them (POSIX; elsewhere nothing)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """SIGINT and SIGTERM wait, blocked, while the libraries load, and are handled on
    leaving. The threads the libraries start (OpenBLAS's, at NumPy's import) inherit the
    block, so later signals reach the main thread: Python 3.11 does not wake the main
    thread for a signal another thread took, and a Ctrl-C was lost while predict then
    waited on its input. And a signal handled here is not one an import can drop."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the mask as it is (no change)
    try:  # a handler already due runs inside the next call: the finally must then too
        block_here()
        yield
    finally:  # Python runs the handler of any signal that came meanwhile: here
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
