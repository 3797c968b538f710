"""gpunn's command line: train, evaluate, predict, presets, bench, gradients, curves, distortions.

Every error gpunn raises on purpose (``GpunnError``) becomes one line on stderr and a
non-zero exit: 2 for bad input, 3 for a numerical failure, 130 for an interrupt.

At its top this module imports only the standard library and gpunn's light modules
(``errors``, ``signals``, ``parser``): everything heavier (NumPy first) loads inside
``main``'s handler, so that a Ctrl-C during start-up is one line too, not a traceback.
"""

from __future__ import annotations

import io
import sys

from gpunn import signals
from gpunn.errors import GpunnError, NumericalError
from gpunn.signals import EXIT_INTERRUPTED

EXIT_BAD_INPUT, EXIT_NUMERICAL = 2, 3


def main(argv: list[str] | None = None, *, exits: bool = False) -> int:
    """The ``gpunn`` program (``argv`` None: the process's own arguments and signals).

    Outside training, SIGINT and SIGTERM stop it with one line and exit 130, and so does a
    signal received while the command ran that a library caught and dropped, or made its
    own error (``gpunn.signals``). Then their handlers are put back as main found them,
    or, with ``exits`` (the process ends with main: ``python -m gpunn``), both ignored."""
    own_signals = argv is None
    if own_signals:
        signals.record()  # already, when started by gpunn.__main__
        _print_paths_as_given()
    try:
        return _report_interrupts(argv, own_signals)
    finally:  # however it ends (argparse's --help too): no re-send, no record left
        if own_signals:
            signals.settle() if exits else signals.release()


def _print_paths_as_given() -> None:
    """Standard output writes a file name's bytes back as they were given, as Python does
    in the C locale: a name that is not UTF-8 reaches Python as lone surrogates (its
    "surrogateescape"), which a strict UTF-8 stdout refused with a traceback."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="surrogateescape")


def _report_interrupts(argv: list[str] | None, own_signals: bool) -> int:
    """``_run``'s exit status, 130 and one line when a signal ended it or came during it."""
    interrupted = False
    try:
        code = _run(argv, own_signals)
    except KeyboardInterrupt:  # outside training, or a second Ctrl-C in it: stop at once
        interrupted = True
    except (Exception, SystemExit):
        if not (own_signals and signals.received):
            raise
        interrupted = True  # a library made the Ctrl-C its own error (NumPy: ImportError)
    finally:
        if own_signals:
            signals.stop_saying_again()
    if interrupted or (own_signals and signals.received and code != EXIT_INTERRUPTED):
        return signals.interrupted()
    return code


def _run(argv: list[str] | None, own_signals: bool) -> int:
    with signals.held():
        from gpunn.parser import build_parser

        args = build_parser().parse_args(argv)
        from gpunn import commands, inspect_commands

    name = f"cmd_{args.command}"
    handler = getattr(commands, name, None) or getattr(inspect_commands, name)
    try:
        from gpunn.kernels.threads import workers

        workers()  # a bad GPUNN_CPU_THREADS is refused now, before any work
        if own_signals and signals.received:  # one an import caught and dropped: stop
            raise KeyboardInterrupt
        return handler(args) or 0
    except NumericalError as exc:
        print(f"gpunn: error: {exc}", file=sys.stderr)
        return EXIT_NUMERICAL
    except GpunnError as exc:
        from gpunn.interrupts import TrainingInterrupted

        print(
            f"gpunn: {'stopped' if isinstance(exc, TrainingInterrupted) else 'error'}: {exc}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED if isinstance(exc, TrainingInterrupted) else EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader went away (gpunn predict … | head): not an error
        from gpunn.run_setup import silence_stdout

        silence_stdout()
        return 0
    except OSError as exc:  # a full disk, an unwritable folder: still one line
        print(f"gpunn: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError as exc:  # a model file's absurd sizes, a batch too large (CuPy's too)
        print(f"gpunn: error: out of memory: {str(exc) or 'an allocation failed'}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main(exits=True))
