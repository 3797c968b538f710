"""gpunn.signals: SIGINT / SIGTERM outside training are recorded, raised, said again once."""

import os
import signal
import sys
import time
from types import SimpleNamespace

import pytest

from gpunn import signals

SIGNALS = (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGALRM", signal.SIGINT))


@pytest.fixture
def own_handlers():
    """This test process's handlers back afterwards, and an empty record."""
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    yield
    signals.release()
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.skipif(not signals.CAN_SAY_AGAIN, reason="no setitimer: not POSIX")
def test_a_signal_is_recorded_raised_and_said_again_once_until_settled(own_handlers):
    alarm = signal.getsignal(signal.SIGALRM)
    signals.record()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signals.received == [signal.SIGTERM]
    with pytest.raises(KeyboardInterrupt):  # dropped above, as a library may: said again
        time.sleep(5)
    assert signals.received == [signal.SIGTERM, signal.SIGTERM]
    time.sleep(2 * signals.SAY_AGAIN_S)  # once only
    signals.settle()
    assert signals.received == []
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGALRM) is alarm


def test_training_takes_a_signal_the_command_line_recorded_as_its_first_stop(own_handlers):
    """One dropped before training began: the loop stops cleanly at once (a checkpoint),
    and no re-send comes later to count as a second Ctrl-C."""
    from gpunn.interrupts import StopRequest

    signals.record()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    with StopRequest() as stop:
        assert stop.requested == "SIGINT"
        time.sleep(2 * signals.SAY_AGAIN_S)  # no re-send: it would raise here


def test_a_signal_ignored_from_the_start_stays_ignored(own_handlers):
    """As Python does for SIGINT: a job a script started in the background (the shell set
    Ctrl-C to be ignored) is not stopped by a Ctrl-C meant for the script, neither by the
    command line's record nor by training's StopRequest; SIGTERM is still taken."""
    from gpunn.interrupts import StopRequest

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signals.record()
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is signals._interrupt
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # nothing raised, nothing recorded
    with StopRequest() as stop:
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop.requested is None
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested == "SIGTERM"
    assert signals.received == []


def test_release_puts_back_the_handlers_record_found(own_handlers):
    """A caller of the command line goes on after it (and starts processes that inherit
    what it leaves): both handlers as they were, not ignored; nothing recorded."""

    def mine(signum, frame):
        pass

    signal.signal(signal.SIGTERM, mine)
    signals.record()
    signals.record()  # twice, as gpunn.__main__ and main each do: the first's finding holds
    assert signal.getsignal(signal.SIGTERM) is signals._interrupt
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    signals.release()
    assert signal.getsignal(signal.SIGTERM) is mine
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signals.received == []


def test_a_recorded_ctrl_c_that_python_drops_is_not_reported_as_ignored(own_handlers, monkeypatch):
    """CPython reports a KeyboardInterrupt it cannot raise (importlib's module-lock callback,
    a weakref callback) through ``sys.unraisablehook`` ("Exception ignored in …"); once the
    signal is recorded, the record stops the command and that report is noise. Any other
    unraisable error, or one before a signal, still goes to the hook that was there."""
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(type(u.exc_value)))

    def unraisable(exc):
        sys.unraisablehook(SimpleNamespace(exc_type=type(exc), exc_value=exc, object=None))

    signals.record()
    unraisable(KeyboardInterrupt())  # no signal recorded yet: not gpunn's
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    unraisable(KeyboardInterrupt())  # the recorded one, dropped: quiet
    unraisable(ValueError("a real error in a callback"))
    assert reported == [KeyboardInterrupt, ValueError]
    signals.release()
    unraisable(KeyboardInterrupt())
    assert reported == [KeyboardInterrupt, ValueError, KeyboardInterrupt]


@pytest.mark.skipif(not signals.CAN_SAY_AGAIN, reason="no setitimer: not POSIX")
def test_a_ctrl_c_after_training_is_not_said_again_to_the_caller(own_handlers):
    """Training's StopRequest cancels the re-send and puts SIGALRM's handler back; a Ctrl-C
    later in the same command arms it anew, and release() must cancel that one too, or the
    caller of main() gets a stray Ctrl-C half a second after main returned."""
    from gpunn.interrupts import StopRequest

    alarm = signal.getsignal(signal.SIGALRM)
    signals.record()
    with StopRequest():
        pass
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    signals.release()
    time.sleep(2 * signals.SAY_AGAIN_S)  # a stray re-send would raise here
    assert signal.getsignal(signal.SIGALRM) is alarm
