"""TrainStep: the eager step on every device; on a GPU, CUDA graph replays against it."""

import gc
import weakref

import numpy as np
import pytest

from gpunn import backend
from gpunn.layers import ConvPool, FullyConnected, Softmax
from gpunn.network import Network
from gpunn.optim import SGD
from gpunn.step import TrainStep, graphs_wanted

M = 10


def small_net(device, pooling="max"):
    """A conv net with dropout on both FC layers' inputs: every kind of kernel a step runs."""
    layers = [
        ConvPool(4, kernel=5, pool=2, activation="relu", pooling=pooling),
        FullyConnected(20, "relu", p_dropout=0.5),
        Softmax(10, p_dropout=0.3),
    ]
    return Network(layers, "log-likelihood", input_shape=(1, 12, 12), device=device, seed=3)


def batches(device, k, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((k, M, 144), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, (k, M))]
    return [(device.send(a), device.send(b)) for a, b in zip(x, y, strict=True)]


def params(net):
    return {k: backend.to_numpy(v) for k, v in net.named_params()}


def test_eager_step_is_backprop_then_update(device):
    a, b = small_net(device), small_net(device)
    opt_a, opt_b = (
        SGD(0.1, lmbda=1.0, momentum=0.5, n=100),
        SGD(0.1, lmbda=1.0, momentum=0.5, n=100),
    )
    step = TrainStep(a, opt_a, M, seed=7, graphs=False)
    for k, (x, y) in enumerate(batches(device, 3)):
        step(x, y, k)
        b.backprop(x, y, step=k, seed=7)
        opt_b.step(b, M)
    assert step.mode == "eager"
    for name, v in params(a).items():
        np.testing.assert_array_equal(v, params(b)[name], err_msg=name)


def test_steps_on_the_cpu_are_eager():
    net = small_net("cpu")
    assert TrainStep(net, SGD(0.1), M, graphs=True).mode == "eager"


@pytest.mark.parametrize(
    "value, wanted", [(None, True), ("1", True), ("0", False), ("off", False), (" False ", False)]
)
def test_graphs_env(monkeypatch, value, wanted):
    if value is None:
        monkeypatch.delenv("GPUNN_CUDA_GRAPHS", raising=False)
    else:
        monkeypatch.setenv("GPUNN_CUDA_GRAPHS", value)
    assert graphs_wanted() is wanted


@pytest.fixture(params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def graph_device(request, monkeypatch):
    """Where the graph path runs: on a GPU for real; on the CPU with NumPy stand-ins for
    CuPy's calls and a recorder for the capture (``tests/fakecupy.py``), which checks the
    path's logic — buffers, device step and η, recapture, fallbacks — but not CUDA's."""
    if request.param == "cpu":
        from gpunn import step as step_module
        from tests import fakecupy

        monkeypatch.setattr(step_module, "_graph_xp", lambda net: fakecupy.module())
        monkeypatch.setattr(step_module._StepGraph, "capture", fakecupy.record_instead_of_capture)
    return backend.get_device(request.param)


def graph_step(net, opt, **kwargs) -> TrainStep:
    """A TrainStep in graph mode, on the CPU too (where it would choose eager steps)."""
    step = TrainStep(net, opt, M, graphs=True, **kwargs)
    step.mode = "graph"
    return step


def _replay_against_eager(device, steps, etas, between=None, pooling="max", momentum=0.5, ema=0.0):
    """Train two copies, by graph and eagerly, with η changing per step; compare each step
    (and the weights' averages, with ema)."""
    g_net, e_net = small_net(device, pooling), small_net(device, pooling)
    g_opt, e_opt = (SGD(0.1, lmbda=1.0, momentum=momentum, n=100, ema=ema) for _ in range(2))
    g_step = graph_step(g_net, g_opt, seed=5, log=pytest.fail)
    e_step = TrainStep(e_net, e_opt, M, seed=5, graphs=False)
    for k, (x, y) in enumerate(batches(device, steps)):
        if between is not None:
            between(k, g_net, e_net)
        g_opt.eta = e_opt.eta = etas[k]
        g_step(x, y, k)
        e_step(x, y, k)
        for name, v in params(g_net).items():
            np.testing.assert_allclose(v, params(e_net)[name], rtol=1e-5, atol=1e-6, err_msg=name)
        for name, a in g_opt.averages.items():
            np.testing.assert_allclose(
                backend.to_numpy(a),
                backend.to_numpy(e_opt.averages[name]),
                rtol=1e-5,
                atol=1e-6,
                err_msg=name,
            )
    assert len(g_opt.averages) == (2 * len(g_net.layers) if ema else 0)
    return g_step


@pytest.mark.parametrize(
    "pooling, momentum, ema",
    [("max", 0.5, 0.0), ("mean", 0.0, 0.0), ("l2", 0.9, 0.0), ("max", 0.5, 0.9)],
)
def test_graph_replays_match_eager_steps(graph_device, pooling, momentum, ema):
    """The masks change with the step and η with the schedule, as when run eagerly; an
    evaluation between steps (as the trainer's between epochs) disturbs nothing."""
    x_eval = batches(graph_device, 1, seed=9)[0][0]

    def evaluate(k, g_net, e_net):
        np.testing.assert_allclose(
            backend.to_numpy(g_net.feedforward(x_eval)),
            backend.to_numpy(e_net.feedforward(x_eval)),
            rtol=1e-5,
            atol=1e-6,
        )

    etas = [0.1, 0.05, 0.2, 0.2, 0.01, 0.1]
    g_step = _replay_against_eager(graph_device, 6, etas, evaluate, pooling, momentum, ema)
    assert g_step.mode == "graph" and g_step._graph is not None and not g_step._retired


def test_new_parameter_arrays_mean_a_new_capture(graph_device):
    def reload(k, g_net, e_net):
        if k == 3:  # a restore puts new arrays in place: the old graph must not be replayed
            state = g_net.state()
            g_net.load_state(state)
            e_net.load_state(state)

    g_step = _replay_against_eager(graph_device, 6, [0.1] * 6, between=reload)
    assert len(g_step._retired) == 1


@pytest.mark.parametrize(
    "broken, in_warm_up",
    [("capture", False), ("backprop", False), ("backprop", True)],
)
def test_a_graph_that_cannot_be_made_means_eager_steps(
    graph_device, monkeypatch, broken, in_warm_up
):
    """A refused capture (the step already ran eagerly before it: counted once), or the
    graph's own kernels failing before any parameter moved (the step runs eagerly
    instead): later steps run eagerly, the reason is said once, and training is unchanged."""
    from gpunn import step as step_module

    def fail(self):
        raise RuntimeError(f"{broken} failed (test)")

    monkeypatch.setattr(step_module._StepGraph, broken, fail)
    said = []
    net, ref = small_net(graph_device), small_net(graph_device)
    step = graph_step(net, SGD(0.1), seed=1, log=said.append)
    ref_step = TrainStep(ref, SGD(0.1), M, seed=1, graphs=False)
    (x, y), *rest = batches(graph_device, 3)
    if in_warm_up:
        step.warm_up(x, y)
        ref_step.warm_up(x, y)
    for k, (x, y) in enumerate(rest):
        step(x, y, k)
        ref_step(x, y, k)
    assert step.mode == "eager" and len(said) == 1 and f"{broken} failed" in said[0]
    for name, v in params(net).items():
        np.testing.assert_allclose(v, params(ref)[name], rtol=1e-5, atol=1e-6, err_msg=name)


def no_fallback(message: str) -> None:
    """A trainer's log that fails the test if the step gave up its graph."""
    assert "CUDA graph" not in message, message


def test_the_trainer_with_and_without_graphs_agrees(graph_device):
    from gpunn.config import TrainConfig
    from gpunn.train import Trainer
    from tests.synthetic import blobs

    data = blobs(n_train=300, n_validation=50, n_test=50)
    config = TrainConfig(epochs=2, mini_batch_size=M, eta=0.1, momentum=0.5, seed=2)
    nets = []
    for graphs in (True, False):
        net = Network(
            [FullyConnected(30, "relu", p_dropout=0.5), Softmax(10, p_dropout=0.2)],
            "log-likelihood", device=graph_device, seed=4,
        )  # fmt: skip
        trainer = Trainer(net, data, config, cuda_graphs=graphs, log=no_fallback)
        if graphs:
            trainer.train_step.mode = "graph"  # on the CPU too, with the stand-ins
        trainer.run()
        assert trainer.train_step.mode == ("graph" if graphs else "eager")
        assert (trainer.train_step._graph is not None) == graphs
        nets.append(params(net))
    for name, v in nets[0].items():
        np.testing.assert_allclose(v, nets[1][name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_dropped_step_frees_its_graph_at_once(graph_device):
    """No reference cycle: the graph, its pool and stream go with the step, not in a later
    garbage collection (which could fall inside another capture)."""
    net, opt = small_net(graph_device), SGD(0.1, momentum=0.5, n=100)
    step = graph_step(net, opt, log=pytest.fail)
    x, y = batches(graph_device, 1)[0]
    step(x, y, 0)
    graph = weakref.ref(step._graph)
    gc.disable()
    try:
        del step
        assert graph() is None
    finally:
        gc.enable()
