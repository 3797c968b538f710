"""Mini-batch stochastic gradient descent with L2, L1 and momentum.

With gradients summed over a mini-batch of m examples and n training examples:

    g  = ∇w/m + (λ/n) w + (λ₁/n) sgn(w)      (biases: ∇b/m only)
    v ← μ v − η g,   w ← w + v                (μ = 0: w ← w − η g)

so λ alone gives the book's weight decay w ← (1 − ηλ/n) w − (η/m) ∇w. The whole update
of one array is one pass: a CuPy elementwise kernel on the GPU, a Numba loop on the CPU.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from gpunn.backend import elementwise_kernel
from gpunn.errors import ConfigError

if TYPE_CHECKING:
    from gpunn.network import Network

_GPU_SOURCE = """
T gt = g * inv_m + l2 * w;
if (l1 != (T)0) gt += l1 * (T)((w > (T)0) - (w < (T)0));
if (mu != (T)0) { v = mu * v - eta * gt; w += v; } else { w -= eta * gt; }
"""


def _gpu_update(eta_on_device: bool = False):
    """The update kernel; with ``eta_on_device`` η is read from a 1-element array when
    the kernel runs (a replayed CUDA graph then follows the schedule)."""
    if eta_on_device:
        params, source, name = "raw T eta_now", "const T eta = eta_now[0];\n" + _GPU_SOURCE, "_at"
    else:
        params, source, name = "T eta", _GPU_SOURCE, ""
    return elementwise_kernel(
        f"T g, T inv_m, {params}, T l2, T l1, T mu", "T w, T v", source, f"gpunn_sgd_update{name}"
    )


def check_hyper(eta: float, lmbda: float = 0.0, l1: float = 0.0, momentum: float = 0.0) -> None:
    """Raise ConfigError for a learning rate, penalty or momentum out of range."""
    for name, v in (("eta", eta), ("lmbda", lmbda), ("l1", l1), ("momentum", momentum)):
        if not np.isfinite(v):
            raise ConfigError(f"{name} must be a finite number, got {v!r}")
    if eta <= 0:
        raise ConfigError(f"the learning rate eta must be positive, got {eta!r}")
    if lmbda < 0 or l1 < 0:
        raise ConfigError(f"regularisation must be non-negative, got lmbda={lmbda!r}, l1={l1!r}")
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")


class SGD:
    def __init__(
        self, eta: float, lmbda: float = 0.0, l1: float = 0.0, momentum: float = 0.0, n: int = 1
    ) -> None:
        check_hyper(eta, lmbda, l1, momentum)
        if n < 1:
            raise ConfigError(f"the training set size n must be positive, got {n!r}")
        self.eta, self.lmbda, self.l1, self.momentum, self.n = eta, lmbda, l1, momentum, n
        self.velocities: dict[str, object] = {}

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
        update = _gpu_update(not np.isscalar(eta)) if gpu else _cpu_update
        for i, layer in enumerate(network.layers):
            # only weights are regularised; biases get (0, 0)
            for k, w, g, decay in (
                ("w", layer.w, layer.gw, (l2, l1)),
                ("b", layer.b, layer.gb, (0.0, 0.0)),
            ):
                v = self._velocity(_param_name(i, k), w, xp)
                args = (dtype(a) for a in (*decay, self.momentum))
                update(g, dtype(1.0 / m), eta, *args, w, w if v is None else v)  # v unread at μ = 0

    def prepare(self, network: Network) -> None:
        """Make every velocity buffer the updates will use now (before a CUDA graph capture,
        which must not allocate and zero them)."""
        for i, layer in enumerate(network.layers):
            for k, w in (("w", layer.w), ("b", layer.b)):
                self._velocity(_param_name(i, k), w, network.xp)

    def _velocity(self, name: str, w, xp):
        """v for parameter ``name`` (zeros when new), or None on the CPU without momentum."""
        v = self.velocities.get(name)
        if v is None and (self.momentum or xp is not np):
            v = self.velocities[name] = xp.zeros_like(w)
        return v

    def state(self) -> dict:
        from gpunn.backend import to_numpy

        return {name: to_numpy(v).copy() for name, v in self.velocities.items()}

    def load_state(self, state: dict, device, dtype) -> None:
        self.velocities = {name: device.send(v, dtype) for name, v in state.items()}


@functools.cache
def _param_name(layer: int, key: str) -> str:
    """'layer{i}/{w,b}', the name Network.named_params gives (built once, not every step)."""
    return f"layer{layer}/{key}"


@njit(cache=True, nogil=True)
def _cpu_update(g, inv_m, eta, l2, l1, mu, w, v):  # pragma: no cover - compiled
    """The update of one array in one pass over g, w and v, with no temporaries.

    gt = g·(1/m) [+ λ/n·w] [+ λ₁/n·sgn w], then v ← μv − η·gt, w ← w + v (μ = 0:
    w ← w − η·gt), each operation rounded in w's dtype (the scalars come in it) as
    the same whole-array NumPy expressions would round it: the same bits as those,
    8× faster on a (1000, 1600) float32 w.
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
            w.flat[i] = wi + vi
        else:
            w.flat[i] = wi - eta * gt
