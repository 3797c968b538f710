"""Imported first by each chapter script, before NumPy and gpunn load (a second or more
with CuPy): a SIGINT or SIGTERM while they load ends the script with one line and exit
130, as it would later, instead of a traceback. Nothing has been written by then.

The handlers stay (both raise KeyboardInterrupt, which ``common.run`` reports); the
one-line hook for what ends the start-up lasts until ``common.run`` calls ``started``.
"""

import os
import signal
import sys

_received: list[int] = []  # the signals taken while starting
_previous_hook = sys.excepthook


def _stop(signum, frame) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _one_line(kind, value, traceback) -> None:
    """A KeyboardInterrupt, or whatever a library made of one while it loaded (NumPy
    turns it into an ImportError), as one line and exit 130."""
    if issubclass(kind, KeyboardInterrupt) or _received:
        name = os.path.basename(sys.argv[0]).removesuffix(".py")
        print(f"{name}: stopped while starting; nothing was written", file=sys.stderr)
        os._exit(130)  # nothing to clean up yet
    _previous_hook(kind, value, traceback)


def started() -> None:
    """The libraries are loaded: errors are ``common.run``'s to report from here."""
    sys.excepthook = _previous_hook


for _sig in (signal.SIGINT, signal.SIGTERM):
    if signal.getsignal(_sig) != signal.SIG_IGN:  # one the shell had ignored stays so
        signal.signal(_sig, _stop)
sys.excepthook = _one_line
