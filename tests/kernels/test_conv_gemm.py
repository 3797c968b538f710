"""Convolution by im2col / col2im kernels around matrix products, against the NumPy path."""

import numpy as np
import pytest

from gpunn import backend
from gpunn.functions.conv import conv_backward, conv_forward
from gpunn.kernels import conv_gemm
from gpunn.kernels.pool import pool_backward, pool_forward

# (N, C, F, H, W, KH, KW, stride, pad): odd sizes, strides 1–3, padding beyond the filter
CASES = [(2, 3, 2, 6, 7, 3, 2, 1, 0), (1, 2, 3, 7, 5, 2, 3, 3, 1), (2, 1, 2, 4, 5, 2, 2, 2, 3)]


def rel_err(a, b):
    return np.abs(backend.to_numpy(a) - b).max() / np.abs(b).max()


@pytest.mark.parametrize("chunk_bytes", [conv_gemm.CHUNK_BYTES, 1])  # 1: an example a chunk
@pytest.mark.parametrize("case", CASES)
def test_forward_and_both_gradients(rng, kernel_arrays, monkeypatch, case, chunk_bytes):
    monkeypatch.setattr(conv_gemm, "CHUNK_BYTES", chunk_bytes)
    n, c, f, h, w, kh, kw, stride, pad = case
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((f, c, kh, kw))
    z_ref = conv_forward(x, wt, stride, pad)
    gz = rng.standard_normal(z_ref.shape)
    gx_ref, gw_ref = conv_backward(gz, x, wt, stride, pad)
    z = conv_gemm.conv_forward(kernel_arrays(x), kernel_arrays(wt), stride, pad)
    gx, gw = conv_gemm.conv_backward(
        kernel_arrays(gz), kernel_arrays(x), kernel_arrays(wt), stride, pad
    )
    only_gx = conv_gemm.conv_backward_input(
        kernel_arrays(gz), kernel_arrays(wt), x.shape, stride, pad
    )
    _, gw_alone = conv_gemm.conv_backward(
        kernel_arrays(gz), kernel_arrays(x), kernel_arrays(wt), stride, pad, need_gx=False
    )
    for got, ref in ((z, z_ref), (gx, gx_ref), (gw, gw_ref), (only_gx, gx_ref), (gw_alone, gw_ref)):
        assert got.shape == ref.shape and rel_err(got, ref) < 1e-12


def test_im2col_rows_beyond_one_grid_take_more_launches(rng, kernel_arrays, monkeypatch):
    """C·KH·KW rows over the grid's y limit (65,535; 4 here) are filled by several launches."""
    monkeypatch.setattr(conv_gemm, "GRID_Y", 4)
    x, wt = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 2, 3))  # 12 rows
    z = conv_gemm.conv_forward(kernel_arrays(x), kernel_arrays(wt), 1, 1)
    assert rel_err(z, conv_forward(x, wt, 1, 1)) < 1e-12


def test_chunks_bound_the_columns_and_cover_every_example():
    assert conv_gemm.chunks(256, 500 * 64, 4) == [(0, 65), (65, 130), (130, 195), (195, 256)]
    assert conv_gemm.chunks(10, 500 * 64, 4) == [(0, 10)]
    assert conv_gemm.chunks(3, 10**9, 4) == [(0, 1), (1, 2), (2, 3)]  # one even if too big
    assert conv_gemm.chunks(0, 25, 4) == []


def test_z_is_a_view_of_filter_major_memory_read_back_without_a_copy(rng, kernel_arrays):
    """z is an (N, F, …) view of (F, N, …) memory; an error laid out so (as max-pool
    backward keeps it) reaches the weight gradient as an (F, N·OH·OW) matrix, uncopied."""
    x = kernel_arrays(rng.standard_normal((3, 2, 6, 6)))
    wt = kernel_arrays(rng.standard_normal((4, 2, 3, 3)))
    z = conv_gemm.conv_forward(x, wt)
    assert z.shape == (3, 4, 4, 4) and z.transpose(1, 0, 2, 3).flags.c_contiguous
    gz2 = conv_gemm._gz_matrix(z)
    assert gz2.shape == (4, 48)
    # on the array's own device: to_numpy on a GPU makes two host copies, sharing nothing
    assert backend.get_array_module(z).shares_memory(gz2, z)


@pytest.mark.gpu
def test_max_pool_backward_keeps_the_layout_of_z(rng):
    """On the device: the simulator cannot pass a non-contiguous array to a kernel."""
    import cupy as cp

    x, wt = (
        cp.asarray(rng.standard_normal((3, 2, 6, 6))),
        cp.asarray(rng.standard_normal((4, 2, 3, 3))),
    )
    z = conv_gemm.conv_forward(x, wt)
    y, argmax = pool_forward(z, 2, "max")
    ga = pool_backward(cp.asarray(rng.standard_normal(y.shape)), z, y, argmax, 2, "max")
    assert ga.strides == z.strides
    assert conv_gemm._gz_matrix(ga).data.ptr == ga.data.ptr
    ref = conv_backward(*(cp.asnumpy(a) for a in (ga, x, wt)))
    got = conv_gemm.conv_backward(ga, x, wt)
    assert rel_err(got[0], ref[0]) < 1e-12 and rel_err(got[1], ref[1]) < 1e-12
