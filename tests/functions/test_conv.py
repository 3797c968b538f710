"""The CPU convolution against a loop reference, finite differences, and its shape errors."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpunn.functions.conv as conv
from gpunn.errors import ConfigError, ShapeError
from gpunn.functions.conv import conv_backward, conv_forward, conv_output_shape
from tests.gradcheck import assert_close, numerical_grad

# (N, C, F, H, W, KH, KW, stride, pad): odd sizes, 1-3 channels, non-square kernels,
# a kernel as large as the padded input, strides that leave a remainder.
CASES = [
    (2, 1, 3, 7, 9, 3, 3, 1, 0),
    (3, 2, 2, 7, 9, 3, 2, 1, 0),
    (2, 3, 4, 7, 9, 2, 3, 2, 1),
    (1, 2, 1, 6, 5, 1, 1, 1, 0),
    (2, 2, 3, 5, 6, 5, 6, 1, 0),
    (2, 1, 2, 8, 7, 3, 3, 3, 2),
    (4, 3, 2, 5, 5, 4, 4, 1, 2),
]


def conv_reference(x, w, stride=1, pad=0):
    """z[n, f, i, j] = Σ x_padded[n, :, window(i, j)] · w[f], one output at a time."""
    n_, c_, h, v = x.shape
    f_, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (v + 2 * pad - kw) // stride + 1
    z = np.zeros((n_, f_, oh, ow), np.float64)
    for n in range(n_):
        for f in range(f_):
            for i in range(oh):
                for j in range(ow):
                    window = x[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    z[n, f, i, j] = np.sum(window.astype(np.float64) * w[f])
    return z


def arrays(rng, case, dtype=np.float64):
    n, c, f, h, v, kh, kw, _, _ = case
    x = rng.standard_normal((n, c, h, v)).astype(dtype)
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    return x, w


def rel_err(a, b):
    return np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_reference(rng, case, dtype):
    x, w = arrays(rng, case, dtype)
    z = conv_forward(x, w, *case[7:])
    assert z.shape == conv_output_shape(x.shape, w.shape, *case[7:]) and z.dtype == dtype
    assert rel_err(z, conv_reference(x, w, *case[7:])) < (1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradients_match_finite_differences(rng, case):
    x, w = arrays(rng, case)
    stride, pad = case[7:]
    gz = rng.standard_normal(conv_output_shape(x.shape, w.shape, stride, pad))

    def cost():  # C = Σ gz · z, so ∂C/∂z = gz
        return float(np.sum(gz * conv_forward(x, w, stride, pad)))

    gx, gw = conv_backward(gz, x, w, stride, pad)
    assert gx.shape == x.shape and gw.shape == w.shape
    assert_close(gx, numerical_grad(cost, x))
    assert_close(gw, numerical_grad(cost, w))


def test_small_chunks_give_the_same_answer(rng, monkeypatch):
    """Several chunks of examples, the last one short, agree with one chunk."""
    case = (7, 2, 3, 7, 9, 3, 2, 2, 1)
    x, w = arrays(rng, case, np.float32)
    gz = rng.standard_normal(conv_output_shape(x.shape, w.shape, 2, 1)).astype(np.float32)
    whole = conv_forward(x, w, 2, 1), *conv_backward(gz, x, w, 2, 1)
    monkeypatch.setattr(conv, "CHUNK_BYTES", 2 * 2 * 3 * 2 * 4 * 5 * 4)  # 2 examples a chunk
    chunked = conv_forward(x, w, 2, 1), *conv_backward(gz, x, w, 2, 1)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_backward_takes_any_gz_layout_and_can_skip_gx(rng):
    x, w = arrays(rng, CASES[1])
    gz = rng.standard_normal(conv_output_shape(x.shape, w.shape))
    gz_t = np.ascontiguousarray(gz.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)  # (F, N) layout
    gx, gw = conv_backward(gz, x, w)
    gx_t, gw_t = conv_backward(gz_t, x, w)
    np.testing.assert_allclose(gx, gx_t, rtol=1e-12)
    np.testing.assert_allclose(gw, gw_t, rtol=1e-12)
    no_gx, gw_only = conv_backward(gz, x, w, need_gx=False)
    assert no_gx is None
    np.testing.assert_allclose(gw_only, gw, rtol=1e-12)


def test_cross_correlation_not_convolution():
    """The kernel is not flipped: a one-hot kernel at (0, 0) picks the window's top-left."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 0, 0] = 1
    np.testing.assert_array_equal(conv_forward(x, w)[0, 0], x[0, 0, :3, :3])


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    f=st.integers(1, 3),
    h=st.integers(1, 8),
    v=st.integers(1, 8),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
)
def test_random_shapes_match_reference(n, c, f, h, v, kh, kw, stride, pad):
    if h + 2 * pad < kh or v + 2 * pad < kw:
        with pytest.raises(ShapeError):
            conv_output_shape((n, c, h, v), (f, c, kh, kw), stride, pad)
        return
    x, w = arrays(np.random.default_rng(h * 31 + v), (n, c, f, h, v, kh, kw, stride, pad))
    assert rel_err(conv_forward(x, w, stride, pad), conv_reference(x, w, stride, pad)) < 1e-12


@pytest.mark.parametrize(
    "x_shape, w_shape, words",
    [
        ((2, 3, 8, 8), (4, 2, 3, 3), ["(2, 3, 8, 8)", "(4, 2, 3, 3)", "channels"]),
        ((2, 1, 4, 4), (4, 1, 5, 5), ["(2, 1, 4, 4)", "(4, 1, 5, 5)", "does not fit"]),
        ((1, 8, 8), (4, 1, 3, 3), ["(1, 8, 8)", "(4, 1, 3, 3)"]),
    ],
)
def test_impossible_shapes_name_both(x_shape, w_shape, words):
    with pytest.raises(ShapeError) as info:
        conv_forward(np.zeros(x_shape), np.zeros(w_shape))
    assert all(word in str(info.value) for word in words)


def test_bad_gz_options_and_dtypes_are_refused():
    x, w = np.zeros((2, 1, 6, 6)), np.zeros((3, 1, 3, 3))
    with pytest.raises(ShapeError, match=r"gz \(2, 3, 3, 3\).*\(2, 3, 4, 4\)"):
        conv_backward(np.zeros((2, 3, 3, 3)), x, w)
    for stride, pad in [(0, 0), (1, -1), (1.5, 0)]:
        with pytest.raises(ConfigError):
            conv_forward(x, w, stride, pad)
    with pytest.raises(TypeError, match="float32 or all float64"):
        conv_forward(x.astype(np.float32), w)
    with pytest.raises(TypeError):
        conv_forward(x.astype(np.int64), w.astype(np.int64))


def test_importing_the_functions_loads_no_cuda():
    code = (
        "import sys, numpy as np\n"
        "from gpunn.functions.conv import conv_forward\n"
        "from gpunn.functions.pool import pool_forward\n"
        "pool_forward(conv_forward(np.ones((1, 1, 6, 6)), np.ones((2, 1, 3, 3))), 2)\n"
        "bad = [m for m in ('numba.cuda', 'gpunn.kernels.conv', 'gpunn.kernels.pool', 'cupy')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_threads_over_examples_give_the_same_answer(rng, monkeypatch):
    """Three threads on uneven ranges of 7 examples agree with the reference."""
    from gpunn.kernels import threads

    monkeypatch.setattr(threads, "MIN_ELEMENTS", 0)
    monkeypatch.setattr(threads, "MIN_EXAMPLES", 0)
    monkeypatch.setattr(threads, "workers", lambda: 3)
    monkeypatch.setattr(threads, "_pool", None)
    case = (7, 2, 3, 7, 9, 3, 2, 2, 1)
    x, w = arrays(rng, case)
    z = conv_forward(x, w, 2, 1)
    assert rel_err(z, conv_reference(x, w, 2, 1)) < 1e-12
    gz = rng.standard_normal(z.shape)
    gx, gw = conv_backward(gz, x, w, 2, 1)
    monkeypatch.setattr(threads, "workers", lambda: 1)
    gx_1, gw_1 = conv_backward(gz, x, w, 2, 1)
    np.testing.assert_allclose(gx, gx_1, rtol=1e-12)
    np.testing.assert_allclose(gw, gw_1, rtol=1e-12)
