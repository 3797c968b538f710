"""``python -m gpunn`` and the ``gpunn`` command: the command line, with SIGINT and
SIGTERM taken from the first line on (``gpunn.signals``), before anything heavy loads.

Until ``gpunn.signals`` has loaded (its ``import signal`` alone takes about a millisecond),
``_signal``, the C module Python loaded at start-up, takes them: either raises
KeyboardInterrupt, which ``run`` reports in gpunn's one line.
"""

import _signal
import sys

STOPS = (_signal.SIGINT, _signal.SIGTERM)  # gpunn.signals.STOPS, before it can be imported
_received: list[int] = []  # taken by _stop_early (for gpunn.signals.received)


def _stop_early(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt


def _quiet_early(unraisable, _previous=sys.unraisablehook):
    """As ``gpunn.signals``' hook, until it loads: no "Exception ignored" report of a
    KeyboardInterrupt once a signal was taken here; every other report as before."""
    if not (_received and isinstance(unraisable.exc_value, KeyboardInterrupt)):
        _previous(unraisable)


def run() -> int:
    sys.unraisablehook = _quiet_early
    try:  # a Ctrl-C between taking SIGINT and SIGTERM is caught too
        for sig in STOPS:  # one the process was started ignoring stays ignored (signals.taken)
            if _signal.getsignal(sig) != _signal.SIG_IGN:
                _signal.signal(sig, _stop_early)
        from gpunn import signals

        signals.record()
        signals.received.extend(_received)  # one an import dropped: main stops at once
        from gpunn.cli import main
    except KeyboardInterrupt:
        loaded = sys.modules.get("gpunn.signals")
        if loaded is not None:  # its re-send cancelled; its record and quiet hook kept, for
            loaded.stop_saying_again()  # CPython may yet report the Ctrl-C as "ignored"
        for sig in STOPS:  # the program ends: as signals.settle() leaves them
            _signal.signal(sig, _signal.SIG_IGN)
        print("gpunn: interrupted", file=sys.stderr)
        return 130
    return main(exits=True)


if __name__ == "__main__":
    sys.exit(run())
