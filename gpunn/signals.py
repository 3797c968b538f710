"""SIGINT and SIGTERM outside training, for the command line: from ``gpunn.__main__``'s
first line on, each is recorded and raised as KeyboardInterrupt, unless the process was
started ignoring it (``IGNORED_AT_START``: then it stays ignored, in training too).

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


def _ignored_now() -> frozenset[int]:
    return frozenset(sig for sig in STOPS if signal.getsignal(sig) == signal.SIG_IGN)


# The stops this process was started ignoring, as this module found them on import (before
# any handler of gpunn's): a shell without job control starts a script's background jobs
# ignoring SIGINT, nohup-like launchers may ignore SIGTERM. gpunn leaves those ignored, as
# Python does for SIGINT; ``taken()`` are the others.
IGNORED_AT_START = _ignored_now()


def taken() -> tuple[int, ...]:
    """The stop signals gpunn handles: ``STOPS`` but those ignored from the start."""
    return tuple(sig for sig in STOPS if sig not in IGNORED_AT_START)


def record() -> None:
    """Take SIGINT and SIGTERM (``taken()``): record each, raise KeyboardInterrupt (again:
    no change)."""
    if CAN_SAY_AGAIN and not _alarm_handler:
        _alarm_handler.append(signal.getsignal(signal.SIGALRM))
    for sig in taken():
        signal.signal(sig, _interrupt)


def _interrupt(signum, frame) -> None:
    received.append(signum)
    if len(received) == 1 and CAN_SAY_AGAIN:
        signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signum))
        signal.setitimer(signal.ITIMER_REAL, SAY_AGAIN_S)
    raise KeyboardInterrupt


def stop_saying_again() -> None:
    """No re-send from here (the command has ended, or said it was interrupted)."""
    if CAN_SAY_AGAIN and _alarm_handler:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, _alarm_handler.pop())


def settle() -> None:
    """The command has ended and said so: no re-send, the record cleared, and both
    signals ignored (one during the interpreter's shutdown would only kill it silently,
    or print "Exception ignored")."""
    stop_saying_again()
    received.clear()
    for sig in STOPS:
        signal.signal(sig, signal.SIG_IGN)


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
