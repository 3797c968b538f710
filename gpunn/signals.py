"""SIGINT and SIGTERM outside training, for the command line: from ``gpunn.__main__``'s
first line on, each is recorded and raised as KeyboardInterrupt.

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

import os
import signal

EXIT_INTERRUPTED = 130
SAY_AGAIN_S = 0.5
CAN_SAY_AGAIN = hasattr(signal, "setitimer")  # POSIX

received: list[int] = []  # the signals of this command so far
_alarm_handler: list = []  # SIGALRM's handler before record(), to put back


def record() -> None:
    """Take SIGINT and SIGTERM: record each, raise KeyboardInterrupt (again: no change)."""
    if CAN_SAY_AGAIN and not _alarm_handler:
        _alarm_handler.append(signal.getsignal(signal.SIGALRM))
    for sig in (signal.SIGINT, signal.SIGTERM):
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
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
