"""PyTorch peers: each preset written again in PyTorch, doing the same arithmetic.

On the GPU, TF32 is turned off (``exact_float32``): cuDNN and cuBLAS do float32 as gpunn does.

Same layer sizes, activations and float32; the same starting weights (copied from
gpunn's network); network3's order in a conv layer (valid convolution, max-pool,
then + b, then σ); the same cost — ½‖σ(z) − y‖²/m for the quadratic cost, −Σ ln
softmax(z)_y / m (log-softmax + NLL) for log-likelihood, softplus(z) − y z summed / m
for cross-entropy; dropout on a layer's inputs where the preset has it (PyTorch's
inverted dropout: the same mask-and-multiply, scaled at training instead of at
evaluation). The optimiser is plain ``torch.optim.SGD`` with the preset's η,
momentum, and weight decay λ/n on weights only, which is gpunn's update rule.

``torch-compile`` is the same step with the forward and loss through
``torch.compile`` (backward and the SGD step stay eager).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from gpunn.benchmark.subjects import TRAIN_SIZE
from gpunn.benchmark.timing import Runner, Unavailable

PEERS = ("torch", "torch-1t", "torch-compile")


def import_torch():
    """The torch module, or raise ``Unavailable`` saying why it cannot be imported (not
    installed, or a build whose CUDA libraries this machine lacks: an OSError)."""
    try:
        return importlib.import_module("torch")
    except Exception as exc:
        why = f"PyTorch is not importable ({type(exc).__name__}: {exc}); pip install 'gpunn[bench]'"
        raise Unavailable(why) from None


@contextmanager
def torch_threads(requested: int | None) -> Iterator[int | None]:
    """The threads the 'torch' peer runs on: ``requested``, else torch's count on entry
    (None without torch). torch runs on them inside; its count on entry is put back after,
    whatever the peers set ('torch-1t': one)."""
    try:
        torch = import_torch()
    except Unavailable:
        yield None
        return
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(requested or before)
        yield requested or before
    finally:
        torch.set_num_threads(before)


def exact_float32(torch) -> dict:
    """Turn off TF32 for cuDNN convolutions and cuBLAS products (torch 2.13's default
    lets cuDNN use TF32 tensor cores), so the peer does float32 arithmetic as gpunn
    does; the settings, for the report."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch ≥ 2.9's interface
        conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        return {
            "cudnn_conv": conv.fp32_precision,
            "cuda_matmul": torch.backends.cuda.matmul.fp32_precision,
        }
    torch.backends.cudnn.allow_tf32 = False  # the older one (mixing the two is an error)
    torch.backends.cuda.matmul.allow_tf32 = False
    return {"cudnn_conv": "ieee", "cuda_matmul": "ieee"}


def torch_info() -> dict:
    """torch's version, threads and CUDA/cuDNN versions, or why torch is missing."""
    try:
        torch = import_torch()
    except Unavailable as exc:
        return {"available": False, "reason": str(exc)}
    cuda = torch.cuda.is_available()
    return {
        "available": True,
        "version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_available": cuda,
        "fp32_precision": exact_float32(torch),
    }


def _activation(torch, name: str):
    fns = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
    if name == "linear":
        return lambda z: z
    if name not in fns:
        raise Unavailable(f"no PyTorch peer for activation {name!r}")
    return fns[name]


def build_model(torch, preset, state: dict, device: str):
    """(parameters, forward(x, train) → z of the output layer, output activation) of the
    preset in PyTorch, starting from gpunn's ``Network.state()`` arrays."""
    from gpunn.layers import ConvPool

    F = torch.nn.functional
    params, layers, built = [], [], preset.layers()
    for i, layer in enumerate(built):
        w = torch.tensor(state[f"layer{i}/w"], device=device, requires_grad=True)
        b = torch.tensor(state[f"layer{i}/b"], device=device, requires_grad=True)
        params += [w, b]
        act = _activation(torch, layer.activation.name) if i < len(built) - 1 else None
        if isinstance(layer, ConvPool):
            if layer.pooling != "max":
                raise Unavailable(f"no PyTorch peer for {layer.pooling} pooling")
            layers.append(("conv", w, b, act, layer))
        else:
            layers.append(("fc", w, b, act, layer))

    def forward(x, train: bool):
        a = x
        for kind, w, b, act, layer in layers:
            if kind == "conv":
                c = F.conv2d(a, w, None, layer.stride, layer.pad)
                if layer.pool > 1:
                    c = F.max_pool2d(c, layer.pool)
                z = c + b.view(1, -1, 1, 1)
            else:
                a = a.reshape(a.shape[0], -1)
                p = layer.p_dropout
                if p and train:
                    a = F.dropout(a, p, training=True)
                z = F.linear(a, w, b)
            if act is None:
                return z
            a = act(z)
        raise AssertionError("unreachable")

    return params, forward, built[-1].activation.name


def loss_fn(torch, cost: str, out_activation: str):
    """loss(z, labels, onehot) averaged over the batch, as gpunn's cost/m."""
    F = torch.nn.functional
    if cost == "log-likelihood":
        return lambda z, labels, onehot: F.nll_loss(F.log_softmax(z, dim=1), labels)
    if cost == "quadratic":
        act = _activation(torch, out_activation)

        def quadratic(z, labels, onehot):
            d = act(z) - onehot
            return 0.5 * (d * d).sum() / z.shape[0]

        return quadratic
    if cost == "cross-entropy":
        return lambda z, labels, onehot: (
            F.binary_cross_entropy_with_logits(z, onehot, reduction="sum") / z.shape[0]
        )
    raise Unavailable(f"no PyTorch peer for cost {cost!r}")


def torch_runner(
    preset,
    mode: str,
    pool,
    state: dict,
    device: str,
    peer: str = "torch",
    threads: int | None = None,
) -> Runner:
    """A ``Runner`` for the PyTorch peer called ``peer`` (one of ``PEERS``).

    'torch' runs on ``threads`` (None: torch's count now), 'torch-1t' on one (set before
    each of its measurements, outside the clock), 'torch-compile' as 'torch' through
    ``torch.compile``.
    """
    if peer not in PEERS:
        raise Unavailable(f"unknown peer {peer!r}: choose from {', '.join(PEERS)}")
    torch = import_torch()
    threads = 1 if peer == "torch-1t" else threads or torch.get_num_threads()
    dev = "cuda" if device == "gpu" else "cpu"
    if dev == "cuda":
        if not torch.cuda.is_available():
            raise Unavailable("this PyTorch build has no usable CUDA device")
        torch.backends.cudnn.benchmark = True
        exact_float32(torch)
    c = preset.config()
    if c.l1:
        raise Unavailable("torch.optim.SGD has no L1 term")
    params, forward, out_act = build_model(torch, preset, state, dev)
    loss = loss_fn(torch, preset.cost.lower(), out_act)
    weights, biases = params[0::2], params[1::2]
    opt = torch.optim.SGD(
        [
            {"params": weights, "weight_decay": c.lmbda / TRAIN_SIZE},
            {"params": biases, "weight_decay": 0.0},
        ],
        lr=c.eta,
        momentum=c.momentum,
    )
    xs = [torch.from_numpy(np.ascontiguousarray(b)).to(dev) for b in pool.x]
    labels = [torch.from_numpy(b).to(dev) for b in pool.labels]
    onehot = [torch.from_numpy(b).to(dev) for b in pool.onehot]
    k, m = len(xs), pool.x.shape[1]

    def train_loss(x, lab, y):
        return loss(forward(x, True), lab, y)

    def infer_out(x):
        z = forward(x, False)
        return torch.softmax(z, dim=1) if out_act == "softmax" else _activation(torch, out_act)(z)

    if peer == "torch-compile":
        torch._dynamo.reset()  # a fresh cache per runner: no recompilation limit is hit
        train_loss = torch.compile(train_loss, dynamic=False)
        infer_out = torch.compile(infer_out, dynamic=False)

    def train(i: int) -> None:
        j = i % k
        opt.zero_grad(set_to_none=True)
        train_loss(xs[j], labels[j], onehot[j]).backward()
        opt.step()

    def infer(i: int):
        with torch.inference_mode():
            return infer_out(xs[i % k])

    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    step = {"train": train, "infer": infer}[mode]
    return Runner(
        peer, step, sync, m, {"threads": threads}, prepare=lambda: torch.set_num_threads(threads)
    )
