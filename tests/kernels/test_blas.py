"""The cuBLAS call plan against a plain column-major GEMM in NumPy; the real call on a GPU."""

import numpy as np
import pytest

from gpunn.kernels.blas import OP_N, OP_T, gemm_plan


def column_major(flat, rows, cols, ld):
    """The column-major (rows, cols) matrix with leading dimension ld over a flat buffer."""
    return np.lib.stride_tricks.as_strided(
        flat, (rows, cols), (flat.itemsize, ld * flat.itemsize), writeable=False
    )


def reference_gemm(plan, b_flat, a_flat):
    """What cuBLAS computes for ``plan`` on P = b's buffer and Q = a's: C' = op(P)·op(Q),
    written column-major into a new flat buffer (the row-major C)."""
    p_rows, p_cols = (plan.m, plan.k) if plan.op_p == OP_N else (plan.k, plan.m)
    q_rows, q_cols = (plan.k, plan.n) if plan.op_q == OP_N else (plan.n, plan.k)
    p = column_major(b_flat, p_rows, p_cols, plan.ldp)
    q = column_major(a_flat, q_rows, q_cols, plan.ldq)
    c = (p if plan.op_p == OP_N else p.T) @ (q if plan.op_q == OP_N else q.T)
    out = np.zeros(plan.ldc * plan.n)
    np.lib.stride_tricks.as_strided(out, (plan.m, plan.n), (out.itemsize, plan.ldc * out.itemsize))[
        :
    ] = c
    return out


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("M, K, N", [(10, 640, 100), (3, 1, 7), (1, 5, 1), (6, 4, 6)])
def test_plan_computes_the_row_major_product(rng, M, K, N, trans_a, trans_b):
    a = rng.standard_normal((K, M) if trans_a else (M, K))
    b = rng.standard_normal((N, K) if trans_b else (K, N))
    plan = gemm_plan(a.shape, b.shape, trans_a, trans_b)
    assert (plan.n, plan.m, plan.k) == (M, N, K)
    c = reference_gemm(plan, b.ravel(), a.ravel()).reshape(M, N)
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_plan_with_row_strides_reads_and_writes_column_slices(rng, trans_a, trans_b):
    """a, b and C as column slices of wider arrays (rows contiguous, row stride larger)."""
    M, K, N, pad = 5, 3, 4, 6
    a_full = rng.standard_normal((K, M + pad) if trans_a else (M, K + pad))
    b_full = rng.standard_normal((N, K + pad) if trans_b else (K, N + pad))
    a = a_full[:, :M] if trans_a else a_full[:, :K]
    b = b_full[:, :K] if trans_b else b_full[:, :N]
    lds = (a_full.shape[1], b_full.shape[1], N + pad)
    plan = gemm_plan(a.shape, b.shape, trans_a, trans_b, lds)
    c = reference_gemm(plan, b_full.ravel(), a_full.ravel()).reshape(M, N + pad)[:, :N]
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-12)


def test_plan_of_the_layers_products():
    """z = x wᵀ, gw = δᵀ x, gx = δ w at the book's FC 1000 layer, m = 10."""
    assert gemm_plan((10, 640), (1000, 640), False, True) == (
        OP_T,
        OP_N,
        1000,
        10,
        640,
        640,
        640,
        1000,
    )
    assert gemm_plan((10, 1000), (10, 640), True, False) == (
        OP_N,
        OP_T,
        640,
        1000,
        10,
        640,
        1000,
        640,
    )
    assert gemm_plan((10, 1000), (1000, 640), False, False) == (
        OP_N,
        OP_N,
        640,
        10,
        1000,
        640,
        1000,
        640,
    )


def test_empty_arrays_have_their_width_as_row_stride():
    """Empty arrays have zero strides in CuPy and NumPy: they must not be refused."""
    from gpunn.kernels.blas import _row_stride

    for shape, stride in (((0, 5), 5), ((3, 0), 1), ((0, 0), 1)):
        assert _row_stride(np.empty(shape, np.float32)) == stride
    assert _row_stride(np.broadcast_to(np.ones(3, np.float32), (4, 3))) is None
    assert _row_stride(np.ones((4, 6), np.float32)[:, ::2]) is None
    assert _row_stride(np.ones((4, 6), np.float32)[:, 1:4]) == 6


def test_gemm_refuses_accumulate_without_an_output():
    """Checked before cuBLAS is asked for (NumPy arrays stand in here)."""
    from gpunn.kernels.blas import gemm

    with pytest.raises(ValueError, match="accumulate needs out"):
        gemm(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), accumulate=True)


def test_plan_refuses_mismatched_inner_dimensions():
    with pytest.raises(ValueError, match="3×4 but op\\(b\\) is 5×2"):
        gemm_plan((3, 4), (5, 2), False, False)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("M, K, N", [(10, 640, 1000), (256, 1000, 10), (3, 0, 4), (0, 5, 2)])
def test_gemm_on_the_gpu_matches_numpy(rng, M, K, N, trans_a, trans_b, dtype):
    import cupy as cp

    from gpunn.kernels.blas import gemm

    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    c = gemm(cp.asarray(a), cp.asarray(b), trans_a, trans_b)
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert c.shape == (M, N) and c.dtype == dtype and c.flags.c_contiguous
    np.testing.assert_allclose(cp.asnumpy(c), expected, rtol=tol, atol=tol * max(K, 1))
    # into a column slice of a wider array, then added to it; operands as column slices
    wide = cp.zeros((M, N + 3), dtype)
    a_wide = cp.zeros((a.shape[0], a.shape[1] + 2), dtype)
    a_wide[:, : a.shape[1]] = cp.asarray(a)
    gemm(a_wide[:, : a.shape[1]], cp.asarray(b), trans_a, trans_b, out=wide[:, :N])
    gemm(cp.asarray(a), cp.asarray(b), trans_a, trans_b, out=wide[:, :N], accumulate=True)
    np.testing.assert_allclose(
        cp.asnumpy(wide[:, :N]), 2 * expected, rtol=tol, atol=tol * max(K, 1)
    )
    assert not cp.asnumpy(wide[:, N:]).any()


@pytest.mark.gpu
def test_gemm_is_captured_by_a_cuda_graph(rng):
    """cupy.matmul refuses stream capture; gemm is captured, and the replay reads the
    operands' memory as it is at replay time."""
    import cupy as cp

    from gpunn.kernels.blas import gemm

    a = cp.asarray(rng.standard_normal((10, 64)).astype(np.float32))
    b = cp.asarray(rng.standard_normal((32, 64)).astype(np.float32))
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        gemm(a, b, trans_b=True)  # binds the handle before capture
        stream.begin_capture()
        try:
            c = gemm(a, b, trans_b=True)
        finally:
            graph = stream.end_capture()
        a *= 2
        graph.launch(stream)
        stream.synchronize()
    np.testing.assert_allclose(cp.asnumpy(c), cp.asnumpy(a @ b.T), rtol=1e-5, atol=1e-4)


@pytest.mark.gpu
def test_gemm_falls_back_to_cupy_matmul_when_cublas_cannot_be_loaded(rng, monkeypatch):
    import cupy as cp

    from gpunn.kernels import blas

    monkeypatch.setattr(blas, "_cublas", None)
    monkeypatch.setattr(blas, "_unusable", "not loadable (test)")
    a, b = rng.standard_normal((10, 64)).astype(np.float32), rng.standard_normal((32, 64))
    c = blas.gemm(cp.asarray(a), cp.asarray(b.astype(np.float32)), trans_b=True)
    np.testing.assert_allclose(cp.asnumpy(c), a @ b.T, rtol=1e-4, atol=1e-4)
