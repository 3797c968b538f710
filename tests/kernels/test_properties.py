"""The CUDA kernels against the NumPy path on random small shapes (hypothesis, derandomised).

Under the simulator each thread costs about a millisecond, so shapes stay tiny and the
examples few; on a GPU the same tests run on the device.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpunn import backend
from gpunn.functions.conv import conv_backward, conv_forward
from gpunn.functions.pool import pool_backward, pool_forward
from gpunn.kernels import conv as conv_kernels
from gpunn.kernels import pool as pool_kernels

SETTINGS = settings(derandomize=True, max_examples=8, deadline=None)


def rel_err(a, b):
    return np.abs(backend.to_numpy(a).astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-30)


@st.composite
def conv_cases(draw):
    k = draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    h = draw(st.integers(max(k - 2 * pad, 1), 6))
    w = draw(st.integers(max(k - 2 * pad, 1), 6))
    return (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 2)),
        draw(st.integers(1, 2)),
        h,
        w,
        k,
        stride,
        pad,
    )


@SETTINGS
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv_kernels_agree_on_random_shapes(case, seed):
    n, c, f, h, w, k, stride, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((f, c, k, k)).astype(np.float32)
    send = backend.get_device("gpu").send if backend.gpu_available() else (lambda a: a)
    z_ref = conv_forward(x, wt, stride, pad)
    gz = rng.standard_normal(z_ref.shape).astype(np.float32)
    gx_ref, gw_ref = conv_backward(gz, x, wt, stride, pad)
    z = conv_kernels.conv_forward(send(x), send(wt), stride, pad)
    gx, gw = conv_kernels.conv_backward(send(gz), send(x), send(wt), stride, pad)
    for got, ref in ((z, z_ref), (gx, gx_ref), (gw, gw_ref)):
        assert rel_err(got, ref) < 1e-5


@SETTINGS
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 2),
    h=st.integers(2, 7),
    w=st.integers(2, 7),
    size=st.integers(1, 3),
    kind=st.sampled_from(["max", "mean", "l2"]),
    seed=st.integers(0, 2**16),
)
def test_pool_kernels_agree_on_random_shapes(n, c, h, w, size, kind, seed):
    if h < size or w < size:
        return
    rng = np.random.default_rng(seed)
    a = (
        rng.permutation(n * c * h * w).reshape(n, c, h, w).astype(np.float32)
    )  # distinct: stable max
    send = backend.get_device("gpu").send if backend.gpu_available() else (lambda v: v)
    y_ref, arg_ref = pool_forward(a, size, kind)
    gy = rng.standard_normal(y_ref.shape).astype(np.float32)
    ga_ref = pool_backward(gy, a, y_ref, arg_ref, size, kind)
    y, arg = pool_kernels.pool_forward(send(a), size, kind)
    ga = pool_kernels.pool_backward(send(gy), send(a), y, arg, size, kind)
    assert rel_err(y, y_ref) < 1e-5
    assert rel_err(ga, ga_ref) < 1e-5
