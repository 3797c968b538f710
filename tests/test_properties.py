"""Property tests (hypothesis, derandomised): layer shapes, dropout masks, model round trips.

Shapes: a layer built on a random input shape gives the shape its formula says, and
raises ShapeError exactly when that shape would be empty. Dropout: masks keep about
1 − p of their elements, are a pure function of their key, and differ between keys.
Files: any small network saved and loaded again is the same network, to the bit.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpunn.errors import ConfigError, ShapeError
from gpunn.functions.dropout import dropout_mask, mask_key
from gpunn.layers import ConvPool, FullyConnected, Softmax
from gpunn.network import Network

SETTINGS = settings(derandomize=True, max_examples=60, deadline=None)
small = st.integers(min_value=1, max_value=12)


@SETTINGS
@given(
    in_shape=st.lists(small, min_size=1, max_size=3).map(tuple),
    n_out=small,
    n_in=st.one_of(st.none(), st.integers(1, 2000)),
)
def test_fully_connected_shapes(in_shape, n_out, n_in):
    layer = FullyConnected(n_out, n_in=n_in)
    flat = math.prod(in_shape)
    if n_in is not None and n_in != flat:
        with pytest.raises(ShapeError, match=f"expects {n_in} inputs"):
            layer.build(in_shape, np.random.default_rng(0))
        return
    w, b = layer.build(in_shape, np.random.default_rng(0))
    assert layer.out_shape == (n_out,)
    assert w.shape == (n_out, flat) and b.shape == (n_out,)


@SETTINGS
@given(
    c=st.integers(1, 3),
    h=st.integers(1, 16),
    w=st.integers(1, 16),
    n_filters=st.integers(1, 4),
    kernel=st.integers(1, 6),
    pool=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
)
def test_convpool_shapes(c, h, w, n_filters, kernel, pool, stride, pad):
    layer = ConvPool(n_filters, kernel, pool, stride=stride, pad=pad)
    oh = (h + 2 * pad - kernel) // stride + 1  # the convolution's output, before pooling
    ow = (w + 2 * pad - kernel) // stride + 1
    fits = oh >= pool and ow >= pool
    if not fits:
        with pytest.raises(ShapeError, match="does not fit input shape"):
            layer.build((c, h, w), np.random.default_rng(0))
        return
    wts, b = layer.build((c, h, w), np.random.default_rng(0))
    assert layer.out_shape == (n_filters, oh // pool, ow // pool)
    assert all(s >= 1 for s in layer.out_shape)
    assert wts.shape == (n_filters, c, kernel, kernel) and b.shape == (n_filters,)


def test_convpool_with_fewer_weights_than_pool_cells_builds():
    ConvPool(1, kernel=1, pool=2).build((1, 4, 4), np.random.default_rng(0))


@SETTINGS
@given(in_shape=st.lists(small, min_size=1, max_size=4).map(tuple))
def test_convpool_needs_exactly_three_axes(in_shape):
    layer = ConvPool(2, 1, 1)
    if len(in_shape) == 3:
        layer.build(in_shape, np.random.default_rng(0))
        assert layer.out_shape == (2, *in_shape[1:])
    else:
        with pytest.raises(ShapeError, match=r"\(channels, height, width\)"):
            layer.build(in_shape, np.random.default_rng(0))


@SETTINGS
@given(
    value=st.one_of(
        st.integers(-5, 0), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)
    )
)
def test_sizes_must_be_positive_integers(value):
    for make in (
        lambda: FullyConnected(value),
        lambda: Softmax(value),
        lambda: ConvPool(value),
        lambda: ConvPool(3, kernel=value),
        lambda: ConvPool(3, pool=value),
        lambda: ConvPool(3, stride=value),
    ):
        with pytest.raises(ConfigError):
            make()


@SETTINGS
@given(p=st.one_of(st.floats(max_value=-1e-12), st.floats(min_value=1.0), st.just(float("nan"))))
def test_dropout_outside_zero_to_one_is_refused(p):
    with pytest.raises(ConfigError, match=r"dropout probability must be in \[0, 1\)"):
        FullyConnected(5, p_dropout=p)


@SETTINGS
@given(
    p=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**31),
    step=st.integers(0, 10**6),
    layer=st.integers(0, 5),
)
def test_dropout_masks_keep_one_minus_p(p, seed, step, layer):
    key = mask_key(seed, step, layer)
    n = 40_000
    mask = dropout_mask(np, (n,), np.float32, p, key)
    assert set(np.unique(mask).tolist()) <= {0.0, 1.0}
    keep = mask.mean()
    sigma = math.sqrt(max(p * (1 - p), 1e-12) / n)
    assert abs(keep - (1 - p)) <= 6 * sigma + 1e-6
    if p == 0.0:
        assert keep == 1.0
    # a pure function of the key, and another key gives another mask
    assert np.array_equal(dropout_mask(np, (n,), np.float32, p, key), mask)
    if 0.05 < p < 0.95:
        other = dropout_mask(np, (n,), np.float32, p, mask_key(seed, step + 1, layer))
        assert not np.array_equal(other, mask)


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    p=st.floats(0.05, 0.9),
    seed=st.integers(0, 1000),
)
def test_a_layer_drops_its_inputs_with_the_mask(shape, p, seed):
    n, n_in = shape
    layer = FullyConnected(3, "linear", p_dropout=p, n_in=n_in)
    w, b = layer.build((n_in,), np.random.default_rng(seed))
    layer.set_params({"w": w, "b": b})
    x = np.random.default_rng(seed).random((n, n_in)) + 1.0  # never zero
    key = mask_key(seed, 0, 0)
    layer.forward(x, train=True, key=key)
    mask = dropout_mask(np, x.shape, x.dtype, p, key)
    assert np.array_equal(layer.x, x * mask)
    assert np.allclose(layer.z, (x * mask) @ w.T + b)
    layer.forward(x, train=False)  # evaluation: nothing dropped, weights scaled by 1 − p
    assert np.allclose(layer.z, (1 - p) * (x @ w.T) + b)


ACTIVATIONS = ["sigmoid", "tanh", "relu", "linear"]


@st.composite
def networks(draw):
    """A small random network: optional ConvPool, 0-2 hidden FC layers, an output layer."""
    conv = draw(st.booleans())
    side = draw(st.integers(6, 12))
    input_shape = (draw(st.integers(1, 2)), side, side) if conv else (draw(st.integers(1, 30)),)
    layers = []
    if conv:
        layers.append(
            ConvPool(
                draw(st.integers(1, 3)),
                kernel=draw(st.integers(1, 3)),
                pool=draw(st.integers(1, 2)),
                activation=draw(st.sampled_from(ACTIVATIONS)),
                pooling=draw(st.sampled_from(ConvPool.POOLINGS)),
            )
        )
    for _ in range(draw(st.integers(0, 2))):
        layers.append(
            FullyConnected(
                draw(st.integers(1, 12)),
                draw(st.sampled_from(ACTIVATIONS)),
                p_dropout=draw(st.sampled_from([0.0, 0.25, 0.5])),
                init=draw(st.sampled_from(["default", "large", "network3"])),
            )
        )
    n_classes = draw(st.integers(2, 10))
    if draw(st.booleans()):
        layers.append(Softmax(n_classes, p_dropout=draw(st.sampled_from([0.0, 0.5]))))
        cost = "log-likelihood"
    else:
        layers.append(FullyConnected(n_classes, "sigmoid"))
        cost = draw(st.sampled_from(["quadratic", "cross-entropy"]))
    return Network(
        layers,
        cost,
        input_shape=input_shape,
        device="cpu",
        dtype=draw(st.sampled_from(["float32", "float64"])),
        seed=draw(st.integers(0, 2**31)),
    )


@settings(derandomize=True, max_examples=40, deadline=None)
@given(net=networks(), metadata=st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
def test_any_small_network_survives_a_round_trip(net, metadata, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.npz"
    net.save(path, metadata)
    back = Network.load(path, "cpu")
    assert back.config() == net.config()
    assert back.metadata == metadata
    assert back.dtype == net.dtype and back.input_shape == net.input_shape
    state = net.state()
    assert back.state().keys() == state.keys()
    for k, v in back.state().items():
        assert v.dtype == state[k].dtype and np.array_equal(v, state[k]), k
    if not any(isinstance(layer, ConvPool) for layer in net.layers):
        x = np.random.default_rng(0).random((5, *net.input_shape))
        assert np.array_equal(back.predict_proba(x), net.predict_proba(x))
