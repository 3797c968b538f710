"""capture_graph: the capture is always ended, the work's own error is the one raised, and
no garbage collection falls inside it."""

import gc

import pytest

from gpunn.graphs import capture_graph


class RecordingStream:
    """A stream stand-in that records the capture calls; end_capture can be made to fail."""

    def __init__(self, end_fails: bool = False) -> None:
        self.calls: list[str] = []
        self.end_fails = end_fails

    def begin_capture(self) -> None:
        self.calls.append("begin")

    def end_capture(self):
        self.calls.append("end")
        if self.end_fails:
            raise RuntimeError("cudaErrorStreamCaptureInvalidated")
        return "graph"


def test_the_graph_is_what_end_capture_gives_after_the_work():
    stream = RecordingStream()
    assert capture_graph(stream, lambda: stream.calls.append("work")) == "graph"
    assert stream.calls == ["begin", "work", "end"]


@pytest.mark.parametrize("end_fails", [False, True])
def test_a_failing_work_ends_the_capture_and_its_error_is_raised(end_fails):
    stream = RecordingStream(end_fails)

    def work():
        raise ValueError("refused during capture")

    with pytest.raises(ValueError, match="refused during capture"):
        capture_graph(stream, work)
    assert stream.calls == ["begin", "end"]


@pytest.mark.parametrize("work_fails", [False, True])
@pytest.mark.parametrize("enabled_before", [True, False])
def test_no_garbage_collection_during_the_capture(work_fails, enabled_before):
    """A collection inside a capture could free CUDA memory there, invalidating it."""
    stream, seen = RecordingStream(), []

    def work():
        seen.append(gc.isenabled())
        if work_fails:
            raise ValueError("refused during capture")

    (gc.enable if enabled_before else gc.disable)()
    try:
        if work_fails:
            with pytest.raises(ValueError):
                capture_graph(stream, work)
        else:
            capture_graph(stream, work)
        assert seen == [False]
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()
