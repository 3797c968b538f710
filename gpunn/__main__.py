"""``python -m gpunn`` and the ``gpunn`` command: the command line, with SIGINT and
SIGTERM taken from the first line on (``gpunn.signals``), before anything heavy loads."""

import sys


def run() -> int:
    from gpunn import signals

    try:  # a Ctrl-C between taking SIGINT and SIGTERM is caught too
        signals.record()
        from gpunn.cli import main
    except KeyboardInterrupt:
        signals.settle()
        return signals.interrupted()
    return main(exits=True)


if __name__ == "__main__":
    sys.exit(run())
