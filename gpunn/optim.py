"""Mini-batch stochastic gradient descent with L2, L1 and momentum.

With gradients summed over a mini-batch of m examples and n training examples:

    g  = ∇w/m + (λ/n) w + (λ₁/n) sgn(w)      (biases: ∇b/m only)
    v ← μ v − η g,   w ← w + v                (μ = 0: w ← w − η g)

so λ alone gives the book's weight decay w ← (1 − ηλ/n) w − (η/m) ∇w. With ``ema`` β > 0
the optimizer also keeps an exponential moving average of every parameter (Polyak
averaging), starting from the weights before the first step and updated after each:

    a ← β a + (1 − β) w

The whole update of one array is one pass: a CuPy elementwise kernel on the GPU, a Numba
loop on the CPU.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from gpunn.backend import elementwise_kernel
from gpunn.errors import ConfigError
from gpunn.values import is_real

if TYPE_CHECKING:
    from gpunn.network import Network

_GPU_SOURCE = """
T gt = g * inv_m + l2 * w;
if (l1 != (T)0) gt += l1 * (T)((w > (T)0) - (w < (T)0));
if (mu != (T)0) { v = mu * v - eta * gt; w += v; } else { w -= eta * gt; }
"""
_GPU_AVERAGE = "a = beta * a + ((T)1 - beta) * w;\n"


def _gpu_update(eta_on_device: bool = False, average: bool = False):
    """The update kernel; with ``eta_on_device`` η is read from a 1-element array when
    the kernel runs (a replayed CUDA graph then follows the schedule); with ``average``
    it also moves the average ``a`` by β."""
    if eta_on_device:
        params, source, name = "raw T eta_now", "const T eta = eta_now[0];\n" + _GPU_SOURCE, "_at"
    else:
        params, source, name = "T eta", _GPU_SOURCE, ""
    ins, outs = f"T g, T inv_m, {params}, T l2, T l1, T mu", "T w, T v"
    if average:
        ins, outs, source, name = (
            f"{ins}, T beta",
            f"{outs}, T a",
            source + _GPU_AVERAGE,
            name + "_ema",
        )
    return elementwise_kernel(ins, outs, source, f"gpunn_sgd_update{name}")


def check_hyper(
    eta: float, lmbda: float = 0.0, l1: float = 0.0, momentum: float = 0.0, ema: float = 0.0
) -> None:
    """Raise ConfigError for a learning rate, penalty, momentum or average decay out of range."""
    named = (("eta", eta), ("lmbda", lmbda), ("l1", l1), ("momentum", momentum), ("ema", ema))
    for name, v in named:
        if not is_real(v):
            raise ConfigError(f"{name} must be a number, got {v!r}")
        if not np.isfinite(v):
            raise ConfigError(f"{name} must be a finite number, got {v!r}")
    if eta <= 0:
        raise ConfigError(f"the learning rate eta must be positive, got {eta!r}")
    if lmbda < 0 or l1 < 0:
        raise ConfigError(f"regularisation must be non-negative, got lmbda={lmbda!r}, l1={l1!r}")
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
    if not 0.0 <= ema < 1.0:
        raise ConfigError(f"the average's decay ema must be in [0, 1) (0: none), got {ema!r}")


class SGD:
    """``step(network, m)`` after each backprop; ``velocities`` and ``averages`` hold μ's and
    β's buffers by parameter name ('layer{i}/{w,b}')."""

    def __init__(
        self,
        eta: float,
        lmbda: float = 0.0,
        l1: float = 0.0,
        momentum: float = 0.0,
        n: int = 1,
        ema: float = 0.0,
    ) -> None:
        check_hyper(eta, lmbda, l1, momentum, ema)
        if n < 1:
            raise ConfigError(f"the training set size n must be positive, got {n!r}")
        self.eta, self.lmbda, self.l1, self.momentum, self.n = eta, lmbda, l1, momentum, n
        self.ema = ema
        self.velocities: dict[str, object] = {}
        self.averages: dict[str, object] = {}

    def step(self, network: Network, m: int, eta: Any = None) -> None:
        """Apply one update to every parameter of ``network`` from its summed gradients.

        ``eta``: None for ``self.eta``; on the GPU, a 1-element device array holding η,
        read when the update runs (what a CUDA graph of the step needs).
        """
        xp = network.xp
        gpu = xp is not np
        dtype = network.dtype.type
        l2, l1 = self.lmbda / self.n, self.l1 / self.n
        if eta is None:
            eta = dtype(self.eta)
        elif not gpu:
            eta = dtype(eta[0])
        average = bool(self.ema)
        update = _gpu_update(not np.isscalar(eta), average) if gpu else _cpu_update
        # the CPU loop always takes β and 1 − β (rounded in w's dtype as the GPU rounds them);
        # the GPU kernel takes β only when it averages
        betas = [dtype(self.ema), dtype(1) - dtype(self.ema)] if not gpu else [dtype(self.ema)]
        for i, layer in enumerate(network.layers):
            # only weights are regularised; biases get (0, 0)
            for k, w, g, decay in (
                ("w", layer.w, layer.gw, (l2, l1)),
                ("b", layer.b, layer.gb, (0.0, 0.0)),
            ):
                name = _param_name(i, k)
                v = self._velocity(name, w, xp)
                args = [dtype(a) for a in (*decay, self.momentum)]
                outs = [w, w if v is None else v]  # v unread at μ = 0
                if average or not gpu:
                    args += betas
                    outs.append(self._average(name, w) if average else w)  # a unread at β = 0
                update(g, dtype(1.0 / m), eta, *args, *outs)

    def prepare(self, network: Network) -> None:
        """Make every buffer the updates will use now (before a CUDA graph capture, which
        must not allocate and fill them)."""
        for name, w in network.named_params():
            self._velocity(name, w, network.xp)
            if self.ema:
                self._average(name, w)

    def _velocity(self, name: str, w, xp):
        """v for parameter ``name`` (zeros when new), or None on the CPU without momentum."""
        v = self.velocities.get(name)
        if v is None and (self.momentum or xp is not np):
            v = self.velocities[name] = xp.zeros_like(w)
        return v

    def _average(self, name: str, w):
        """a for parameter ``name`` (a copy of w when new)."""
        a = self.averages.get(name)
        if a is None:
            a = self.averages[name] = w.copy()
        return a

    @contextlib.contextmanager
    def averaged(self, network: Network):
        """``with``: the network's parameters hold the averages (swapped in place, so the
        arrays, and a CUDA graph captured on them, stay the same); swapped back after."""
        pairs = self._average_pairs(network)
        _swap(pairs)
        try:
            yield network
        finally:
            _swap(pairs)

    def keep_averages(self, network: Network) -> None:
        """Copy the averages into the network's parameters for good (the end of a run)."""
        for w, a in self._average_pairs(network):
            w[...] = a

    def _average_pairs(self, network: Network) -> list:
        """(parameter, average) of every parameter that has an average yet."""
        return [
            (w, self.averages[name]) for name, w in network.named_params() if name in self.averages
        ]

    def state(self) -> dict:
        """Host copies of the buffers: 'velocity/{name}' and 'average/{name}'."""
        from gpunn.backend import to_numpy

        return {
            f"{kind}/{name}": to_numpy(v).copy()
            for kind, buffers in (("velocity", self.velocities), ("average", self.averages))
            for name, v in buffers.items()
        }

    def load_state(self, state: dict, device, dtype) -> None:
        """Take the buffers of a ``state()`` (its keys 'velocity/…' and 'average/…')."""
        self.velocities, self.averages = {}, {}
        for key, v in state.items():
            kind, name = split_state_key(key)
            buffers = self.velocities if kind == "velocity" else self.averages
            buffers[name] = device.send_finite(v, dtype, key)


STATE_KINDS = ("velocity", "average")


def split_state_key(key: str) -> tuple[str, str]:
    """('velocity' or 'average', parameter name) of an optimizer state key; ValueError else."""
    kind, _, name = key.partition("/")
    if kind not in STATE_KINDS or not name:
        raise ValueError(f"{key!r} is not an optimizer buffer (velocity/… or average/…)")
    return kind, name


def _swap(pairs) -> None:
    """Exchange the values of each (x, y) in place."""
    for x, y in pairs:
        held = x.copy()
        x[...] = y
        y[...] = held


@functools.cache
def _param_name(layer: int, key: str) -> str:
    """'layer{i}/{w,b}', the name Network.named_params gives (built once, not every step)."""
    return f"layer{layer}/{key}"


@njit(cache=True, nogil=True)
def _cpu_update(g, inv_m, eta, l2, l1, mu, beta, beta_c, w, v, a):  # pragma: no cover - compiled
    """The update of one array in one pass over g, w, v and a, with no temporaries.

    gt = g·(1/m) [+ λ/n·w] [+ λ₁/n·sgn w], then v ← μv − η·gt, w ← w + v (μ = 0:
    w ← w − η·gt), then [a ← β·a + (1 − β)·w], each operation rounded in w's dtype (the
    scalars come in it) as the same whole-array NumPy expressions would round it: the
    same bits as those, 8× faster on a (1000, 1600) float32 w.
    """
    for i in range(w.size):
        wi = w.flat[i]
        gt = g.flat[i] * inv_m
        if l2:
            gt += l2 * wi
        if l1:
            gt += l1 * np.sign(wi)
        if mu:
            vi = mu * v.flat[i] - eta * gt
            v.flat[i] = vi
            wi = wi + vi
        else:
            wi = wi - eta * gt
        w.flat[i] = wi
        if beta:
            a.flat[i] = beta * a.flat[i] + beta_c * wi
