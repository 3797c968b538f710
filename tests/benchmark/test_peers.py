"""PyTorch peers: skipped cleanly without torch; the same arithmetic as gpunn with it."""

import sys

import numpy as np
import pytest

from gpunn.benchmark import peers
from gpunn.benchmark.harness import BenchConfig, run_throughput
from gpunn.benchmark.subjects import build_network, load_images, make_pool
from gpunn.benchmark.timing import Unavailable
from gpunn.presets import get_preset


def tiny_config(peer_names) -> BenchConfig:
    """One fc30 inference row at m = 4, one short round, random images."""
    return BenchConfig(
        presets=("fc30",),
        batch_sizes=(4,),
        modes=("infer",),
        peers=peer_names,
        repeats=1,
        seconds=0.001,
        warmup_steps=1,
        data="random",
        max_load=None,
    )


def test_no_torch_means_unavailable_peers(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(Unavailable, match="PyTorch is not importable"):
        peers.import_torch()
    assert peers.torch_info()["available"] is False
    config = tiny_config(("torch", "torch-compile"))
    (row,) = run_throughput(config)[0]
    assert row["gpunn"]["available"]
    for name in ("torch", "torch-compile"):
        assert row["peers"][name]["available"] is False
        assert "PyTorch is not importable" in row["peers"][name]["reason"]
        assert row["peers"][name]["ratio"] is None


def test_a_torch_that_fails_to_load_is_unavailable_not_an_error(monkeypatch):
    """A torch built for other CUDA libraries raises OSError on import, not ImportError."""

    def broken(name):
        raise OSError("libcudnn_graph.so.9: cannot open shared object file")

    monkeypatch.setattr(peers.importlib, "import_module", broken)
    with pytest.raises(Unavailable, match="OSError: libcudnn_graph"):
        peers.import_torch()
    assert peers.torch_info()["available"] is False


class FakeTorch:
    """Just torch's thread count."""

    def __init__(self, threads):
        self.threads = threads

    def get_num_threads(self):
        return self.threads

    def set_num_threads(self, n):
        self.threads = n


def test_torch_threads_are_put_back_and_read_anew_each_time(monkeypatch):
    torch = FakeTorch(2)
    monkeypatch.setattr(peers, "import_torch", lambda: torch)
    with peers.torch_threads(None) as threads:
        assert threads == 2
        torch.set_num_threads(1)  # as torch-1t leaves it
    assert torch.threads == 2
    with peers.torch_threads(3) as threads:
        assert threads == torch.threads == 3
    assert torch.threads == 2
    torch.threads = 5  # the caller's own choice between two runs
    with peers.torch_threads(None) as threads:
        assert threads == 5


def test_no_torch_means_no_thread_count(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with peers.torch_threads(4) as threads:
        assert threads is None


def test_a_peer_that_fails_to_build_is_reported_and_the_row_goes_on(monkeypatch):
    """Not only Unavailable: torch.compile refusing, CUDA out of memory, …"""
    from gpunn.benchmark import harness

    def refuse(*args, **kwargs):
        raise RuntimeError("Dynamo is not supported on this Python\nmore")

    monkeypatch.setattr(harness, "torch_runner", refuse)
    monkeypatch.setitem(sys.modules, "torch", None)  # no thread handling to do either
    config = tiny_config(("torch-compile",))
    (row,) = run_throughput(config)[0]
    assert row["gpunn"]["available"]
    assert row["peers"]["torch-compile"] == {
        "available": False,
        "reason": "RuntimeError: Dynamo is not supported on this Python",
        "ratio": None,
    }


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
