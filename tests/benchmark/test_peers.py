"""PyTorch peers: skipped cleanly without torch; the same arithmetic as gpunn with it."""

import sys

import numpy as np
import pytest

from gpunn.benchmark import peers
from gpunn.benchmark.harness import BenchConfig, run_throughput
from gpunn.benchmark.subjects import build_network, load_images, make_pool
from gpunn.benchmark.timing import Unavailable
from gpunn.presets import get_preset


def test_no_torch_means_unavailable_peers(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(Unavailable, match="PyTorch is not importable"):
        peers.import_torch()
    assert peers.torch_info()["available"] is False
    config = BenchConfig(
        presets=("fc30",),
        batch_sizes=(4,),
        modes=("infer",),
        peers=("torch", "torch-compile"),
        repeats=1,
        seconds=0.001,
        warmup_steps=1,
        data="random",
        max_load=None,
    )
    (row,) = run_throughput(config)[0]
    assert row["gpunn"]["available"]
    for name in ("torch", "torch-compile"):
        assert row["peers"][name]["available"] is False
        assert "PyTorch is not importable" in row["peers"][name]["reason"]
        assert row["peers"][name]["ratio"] is None


@pytest.mark.parametrize("name", ["fc30", "fc100-ce-l2", "shallow", "conv2-relu"])
def test_peer_matches_gpunn_forward_and_gradients(name):
    """Same weights in, same outputs and the same gradients (presets without dropout)."""
    torch = pytest.importorskip("torch")
    if name.startswith("conv"):
        pytest.importorskip("gpunn.functions.conv", reason="gpunn's conv op is not there yet")
        pytest.importorskip("gpunn.functions.pool", reason="gpunn's pool op is not there yet")
    preset = get_preset(name)
    net, opt = build_network(preset)
    pool = make_pool(load_images("random", n=64), 8, preset.input_shape)
    params, forward, out_act = peers.build_model(torch, preset, net.state(), "cpu")
    x, y = pool.x[0], pool.onehot[0]
    z = forward(torch.from_numpy(x), False)
    a = torch.softmax(z, 1) if out_act == "softmax" else peers._activation(torch, out_act)(z)
    np.testing.assert_allclose(a.detach().numpy(), net.feedforward(x), rtol=1e-4, atol=1e-6)
    loss = peers.loss_fn(torch, preset.cost, out_act)
    loss(z, torch.from_numpy(pool.labels[0]), torch.from_numpy(y)).backward()
    net.backprop(x, y)
    grads = [g for layer in net.layers for g in (layer.gw, layer.gb)]
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        np.testing.assert_allclose(p.grad.numpy() * len(x), g, rtol=1e-3, atol=1e-5, err_msg=i)
