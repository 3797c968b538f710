"""``python -m gpunn`` and the ``gpunn`` command: the command line, with SIGINT and
SIGTERM taken from the first line on (``gpunn.signals``), before anything heavy loads."""

import sys


def run() -> int:
    from gpunn import signals

    signals.record()
    try:
        from gpunn.cli import main
    except KeyboardInterrupt:
        print("gpunn: interrupted", file=sys.stderr)
        signals.settle()
        return signals.EXIT_INTERRUPTED
    return main()


if __name__ == "__main__":
    sys.exit(run())
