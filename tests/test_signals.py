"""gpunn.signals: SIGINT / SIGTERM outside training are recorded, raised, said again once."""

import os
import signal
import time

import pytest

from gpunn import signals

SIGNALS = (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGALRM", signal.SIGINT))


@pytest.fixture
def own_handlers():
    """This test process's handlers back afterwards, and an empty record."""
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    yield
    signals.stop_saying_again()
    signals.received.clear()
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
