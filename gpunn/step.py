"""One training step (backprop over a mini-batch, then the SGD update), replayed from a
CUDA graph on the GPU.

At mini-batch 10 a step of the book's conv nets is about 70 kernels of a few µs each;
launched one by one from Python they cost more host time than the GPU takes to run
them (bench/NOTES.md). On the GPU ``TrainStep`` therefore runs its first step eagerly on
a side stream and then captures the very same work as a CUDA graph; every later step
is: copy the batch into the graph's input buffers, write the step number and η into
device memory, launch the graph (a handful of host calls whatever the network).

What makes the step capturable: nothing in it reads the device from the host; the
dropout masks read the step from device memory (``StepKey``) and the update reads η
from it; matrix products call cuBLAS directly (``gpunn.kernels.blas``; CuPy's own refuses
capture); the velocities (and averages) exist before capture. Memory comes from a pool of
the graph's own, kept as long as the graph, whose addresses are baked into it. A graph is kept only
while the network's parameters and the optimizer's buffers are the arrays it was
captured with; new ones (a restore) mean a new capture.

If capture fails (an operation that refuses it), the step says why once and runs
eagerly from then on. ``GPUNN_CUDA_GRAPHS=0`` (or ``graphs=False``) turns graphs off.

Written 2026-12-01; its logic is tested on the CPU with stand-ins for CuPy's calls
(tests/fakecupy.py), CUDA's capture itself only by the GPU tests, not yet run on a GPU.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gpunn.errors import DeviceError
from gpunn.graphs import capture_graph

if TYPE_CHECKING:
    from gpunn.network import Network
    from gpunn.optim import SGD

GRAPHS_ENV = "GPUNN_CUDA_GRAPHS"


def graphs_wanted() -> bool:
    """False when ``GPUNN_CUDA_GRAPHS`` says 0, off, false or no; else True."""
    return os.environ.get(GRAPHS_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


class TrainStep:
    """``step(x, y_onehot, k)``: training step k on one mini-batch of ``m`` examples.

    x (m,) + input_shape or (m, n_in), y_onehot (m, n_outputs), both on the network's
    device; η is ``optimizer.eta`` at the time of the call. ``mode`` says how steps run:
    'eager' or 'graph'. In graph mode the layers' caches (z, a, gw, gb, …) are the graph's
    buffers, filled by each replay; right after the call that captured the graph they
    hold nothing meaningful (the capture runs nothing). Parameters are always current.
    """

    def __init__(
        self, network: Network, optimizer: SGD, m: int, seed: int | None = None,
        graphs: bool | None = None, log: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        self.net, self.optimizer, self.m = network, optimizer, int(m)
        self.seed = network.seed if seed is None else int(seed)
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        want = graphs_wanted() if graphs is None else bool(graphs)
        self.mode = "graph" if want and network.device.is_gpu else "eager"
        self._graph: _StepGraph | None = None
        self._retired: list[_StepGraph] = []  # their memory may still back layer caches

    def __call__(self, x: Any, y_onehot: Any, step: int) -> None:
        if self.mode == "eager":
            self._eager(x, y_onehot, step)
        elif self._graph is not None and self._graph.matches(self.net, self.optimizer):
            self._graph.feed(x, y_onehot, step, self.optimizer.eta)
            self._graph.launch()
        else:
            self._capture(x, y_onehot, step)

    def pool_bytes(self) -> int:
        """GPU memory held by the graphs' own memory pools (0 without a graph)."""
        graphs = self._retired + ([self._graph] if self._graph is not None else [])
        return sum(int(g.pool.total_bytes()) for g in graphs)

    def warm_up(self, x: Any, y_onehot: Any) -> None:
        """Run the step's kernels once (compiling them) without capturing; the caller puts
        the parameters back afterwards."""
        if self.mode == "graph":
            try:
                g = self._new_graph()  # its buffers; its stream and pool stay unused here
                g.feed(x, y_onehot, 0, self.optimizer.eta)
                g.backprop()
                g.update()
                return
            except Exception as exc:  # the graph's own kernels (first use here): not fatal
                self._give_up(exc)
        self._eager(x, y_onehot, 0)

    def _give_up(self, exc: Exception) -> None:
        """Run eagerly from now on, and say why once."""
        self.mode = "eager"
        self.log(
            f"gpunn: this training step cannot run as a CUDA graph ({type(exc).__name__}: "
            f"{str(exc)[:200]}); running it eagerly"
        )

    def _eager(self, x, y_onehot, step: int) -> None:
        self.net.backprop(x, y_onehot, step=step, seed=self.seed)
        self.optimizer.step(self.net, self.m)

    def _capture(self, x, y_onehot, step: int) -> None:
        """Run step ``step`` eagerly on the graph's stream and memory, then capture it."""
        if self._graph is not None:
            self._retired.append(self._graph)
            self._graph = None
        g = self._new_graph()
        g.feed(x, y_onehot, step, self.optimizer.eta)
        stage = "backprop"
        try:
            with g.scope():
                g.backprop()
                stage = "update"
                g.update()
                stage = "capture"
                g.capture()
        except Exception as exc:
            if stage == "update":  # some parameters may have moved: not safe to redo the step
                raise DeviceError(
                    f"the training step failed while updating the parameters on the graph's "
                    f"stream ({type(exc).__name__}: {str(exc)[:200]}); run again with "
                    f"{GRAPHS_ENV}=0 to train without CUDA graphs"
                ) from exc
            self._give_up(exc)
            if stage == "backprop":
                g.stream.synchronize()  # what the side stream queued is done before the retry
                self._eager(x, y_onehot, step)
            return
        finally:
            g.stream.synchronize()  # the eager step is done before later work reads it
        self._graph = g

    def _new_graph(self) -> _StepGraph:
        return _StepGraph(self.net, self.optimizer, self.m, self.seed)


class _StepGraph:
    """A captured step: its input buffers, device scalars, stream, memory pool and graph.

    It holds the network and optimizer, not the ``TrainStep``: no reference cycle, so a
    step dropped by its owner frees its graph, pool and stream at once, never in a later
    garbage collection that could fall inside another graph's capture."""

    def __init__(self, net: Network, optimizer: SGD, m: int, seed: int) -> None:
        cp = self.cp = _graph_xp(net)
        self.net, self.optimizer, self.m, self.seed = net, optimizer, m, seed
        optimizer.prepare(net)
        self.x = cp.empty((m, *net.input_shape), dtype=net.dtype)
        self.y = cp.empty((m, net.n_outputs), dtype=net.dtype)
        self.step = cp.zeros(1, dtype="int64")
        self.eta = cp.zeros(1, dtype=net.dtype)
        self.pool = cp.cuda.MemoryPool()
        self.stream = cp.cuda.Stream(non_blocking=True)
        self.graph: Any = None
        self.kept = _state_arrays(net, optimizer)

    def feed(self, x, y_onehot, step: int, eta: float) -> None:
        """Copy the batch in and set the step and η, on the current stream."""
        self.cp.copyto(self.x, x.reshape(self.x.shape))
        self.cp.copyto(self.y, y_onehot)
        self.step.fill(step)
        self.eta.fill(eta)

    def backprop(self) -> None:
        self.net.backprop(self.x, self.y, step=self.step, seed=self.seed)

    def update(self) -> None:
        self.optimizer.step(self.net, self.m, eta=self.eta)

    def scope(self) -> contextlib.ExitStack:
        """``with``: CuPy allocates from the graph's pool and queues on its stream, after
        all work queued so far."""
        self.stream.wait_event(self.cp.cuda.get_current_stream().record())
        scope = contextlib.ExitStack()
        scope.enter_context(self.cp.cuda.using_allocator(self.pool.malloc))
        scope.enter_context(self.stream)
        return scope

    def capture(self) -> None:
        """Capture backprop + update into ``self.graph`` (nothing runs now)."""
        self.graph = capture_graph(self.stream, self._backprop_and_update)

    def _backprop_and_update(self) -> None:
        self.backprop()
        self.update()

    def launch(self) -> None:
        self.graph.launch()  # on the current stream

    def matches(self, net, opt) -> bool:
        """True while the parameters and the optimizer's buffers are the arrays captured."""
        now = _state_arrays(net, opt)
        return len(now) == len(self.kept) and all(
            a is b for a, b in zip(now, self.kept, strict=True)
        )


def _graph_xp(net) -> Any:
    """CuPy, for the graph's buffers and streams (a seam: the CPU tests put a stand-in here)."""
    return net.xp


def _state_arrays(net, opt) -> list:
    """Every array a captured step writes in place: parameters, velocities, averages."""
    arrays = [a for layer in net.layers for a in (layer.w, layer.b)]
    return arrays + list(opt.velocities.values()) + list(opt.averages.values())
