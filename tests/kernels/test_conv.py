"""The CUDA convolution kernels, launched directly, against the NumPy path.

In the simulator (no GPU) the launchers take NumPy arrays; each simulated thread
costs about a millisecond, so the shapes are small but odd.
"""

import numpy as np
import pytest

from gpunn import backend
from gpunn.errors import ConfigError
from gpunn.functions.conv import conv_backward, conv_forward
from gpunn.kernels import conv as kernels

# (N, C, F, H, W, KH, KW, stride, pad)
CASES = [
    (1, 1, 2, 7, 9, 3, 2, 1, 0),
    (2, 2, 1, 7, 9, 3, 3, 1, 0),
    (1, 3, 2, 7, 9, 2, 3, 2, 1),
]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(autouse=True)
def tiled_method(monkeypatch):
    """The kernels most tests here are about ('tiled', and 'direct' where it cannot tile);
    a test that means another method says so."""
    monkeypatch.setenv(kernels.METHOD_ENV, "tiled")


def rel_err(a, b):
    return np.abs(backend.to_numpy(a).astype(np.float64) - b).max() / np.abs(b).max()


def arrays(rng, case, dtype):
    n, c, f, h, w, kh, kw = case[:7]
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    return x, rng.standard_normal((f, c, kh, kw)).astype(dtype)


@pytest.mark.parametrize("method", kernels.METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_kernels_match_the_numpy_path(rng, kernel_arrays, monkeypatch, case, dtype, method):
    monkeypatch.setenv(kernels.METHOD_ENV, method)
    x, w = arrays(rng, case, dtype)
    stride, pad = case[7:]
    z_ref = conv_forward(x, w, stride, pad)
    gz = rng.standard_normal(z_ref.shape).astype(dtype)
    gx_ref, gw_ref = conv_backward(gz, x, w, stride, pad)

    z = kernels.conv_forward(kernel_arrays(x), kernel_arrays(w), stride, pad)
    gx, gw = kernels.conv_backward(
        kernel_arrays(gz), kernel_arrays(x), kernel_arrays(w), stride, pad
    )
    assert z.shape == z_ref.shape and z.dtype == dtype and gx.dtype == gw.dtype == dtype
    for got, ref in ((z, z_ref), (gx, gx_ref), (gw, gw_ref)):
        assert rel_err(got, ref) < TOLERANCE[dtype]


@pytest.mark.parametrize("threads", [1, 4, kernels.WEIGHT_THREADS])
def test_weight_reduction_at_any_block_size(rng, kernel_arrays, threads):
    """Fewer threads than terms (each sums several), or more (most add zeros)."""
    x, w = arrays(rng, (2, 1, 1, 5, 4, 2, 2), np.float32)
    gz = rng.standard_normal((2, 1, 4, 3)).astype(np.float32)
    gx, gw = kernels.conv_backward(
        kernel_arrays(gz), kernel_arrays(x), kernel_arrays(w), need_gx=False, weight_threads=threads
    )
    assert gx is None
    assert rel_err(gw, conv_backward(gz, x, w)[1]) < 1e-5


@pytest.mark.parametrize("small_filter", [0, kernels.SMALL_FILTER])  # 0: the per-weight kernel
@pytest.mark.parametrize("target_blocks", [1, 18])  # 18 / (F·C = 6): chunks of 2, 2, 1 examples
@pytest.mark.parametrize("filters", [1, 2, kernels.WEIGHT_FILTERS])  # 2: blocks of 2 and 1 of F = 3
def test_weight_gradient_kernels_with_any_chunking(
    rng, kernel_arrays, monkeypatch, small_filter, target_blocks, filters
):
    monkeypatch.setattr(kernels, "SMALL_FILTER", small_filter)
    monkeypatch.setattr(kernels, "TARGET_BLOCKS", target_blocks)
    monkeypatch.setattr(kernels, "WEIGHT_FILTERS", filters)
    x, w = arrays(rng, (5, 2, 3, 6, 7, 3, 2), np.float64)
    gz = rng.standard_normal((5, 3, 4, 6))
    _, gw = kernels.conv_backward(
        kernel_arrays(gz), kernel_arrays(x), kernel_arrays(w), need_gx=False, weight_threads=4
    )
    assert gw.shape == w.shape
    assert rel_err(gw, conv_backward(gz, x, w)[1]) < 1e-12


@pytest.mark.parametrize("channels", [(1,), (2,), (4,), (8,), (16,), kernels.TILE_CHANNELS])
@pytest.mark.parametrize(
    "case", [(2, 3, 5, 6, 5, 3, 2, 0), (1, 2, 3, 5, 5, 2, 3, 1), (1, 2, 3, 3, 4, 2, 3, 2)]
)
def test_tiled_kernels_at_any_channels_per_thread(rng, kernel_arrays, monkeypatch, channels, case):
    """Stride 1: forward and backward to the input through ``tiled_kernel``, with F = 5 or 3
    not a multiple of the channels a thread takes (the last block's spare slots unused); the
    last case pads by more than the filter (backward: padding −1 and 0)."""
    monkeypatch.setattr(kernels, "TILE_CHANNELS", channels)
    launched = []
    monkeypatch.setattr(kernels, "tiled_kernel", _spy(kernels.tiled_kernel, launched))
    x, w = arrays(rng, case, np.float64)
    pad = case[7]
    z_ref = conv_forward(x, w, 1, pad)
    gz = rng.standard_normal(z_ref.shape)
    z = kernels.conv_forward(kernel_arrays(x), kernel_arrays(w), 1, pad)
    gx, _ = kernels.conv_backward(kernel_arrays(gz), kernel_arrays(x), kernel_arrays(w), 1, pad)
    assert [transposed for *_, transposed in launched] == [False, True]
    assert rel_err(z, z_ref) < 1e-12
    assert rel_err(gx, conv_backward(gz, x, w, 1, pad)[0]) < 1e-12


def test_filters_too_large_for_shared_memory_take_the_direct_kernels(
    rng, kernel_arrays, monkeypatch
):
    monkeypatch.setattr(kernels, "SHARED_BYTES", 8)  # not even one float64 filter
    launched = []
    monkeypatch.setattr(kernels, "tiled_kernel", _spy(kernels.tiled_kernel, launched))
    x, w = arrays(rng, (1, 2, 2, 5, 4, 2, 2), np.float64)
    z_ref = conv_forward(x, w)
    gz = rng.standard_normal(z_ref.shape)
    z = kernels.conv_forward(kernel_arrays(x), kernel_arrays(w))
    gx, _ = kernels.conv_backward(kernel_arrays(gz), kernel_arrays(x), kernel_arrays(w))
    assert launched == []
    assert rel_err(z, z_ref) < 1e-12 and rel_err(gx, conv_backward(gz, x, w)[0]) < 1e-12


def test_tile_channels_fill_the_gpu_and_waste_little(monkeypatch):
    monkeypatch.setattr(kernels, "TILE_THREADS", 128)
    # conv2 forward at m = 256: 128 blocks of positions; 8 channels a thread → 640 blocks
    assert kernels.tile_channels(40, 256 * 64, 20, 25, 4) == 8
    # conv1 forward at m = 256: 16 would leave 12 of 32 slots empty, 8 wastes 4 of 24
    assert kernels.tile_channels(20, 256 * 576, 1, 25, 4) == 8
    # conv2 at m = 10: too few positions for any choice to fill the GPU: the most blocks
    assert kernels.tile_channels(40, 10 * 64, 20, 25, 4) == 1
    # float64 backward to conv2's input: 8 channels · 40 · 25 · 8 bytes is over 48 KiB
    assert kernels.tile_channels(20, 256 * 144, 40, 25, 8) == 4
    assert kernels.tile_channels(20, 256 * 144, 40, 25 * 500, 4) == 0  # nothing fits


def _spy(factory, calls):
    def spy(*args):
        calls.append(args)
        return factory(*args)

    return spy


@pytest.mark.parametrize("method", kernels.METHODS)
def test_an_empty_batch_gives_empty_outputs_and_a_zero_weight_gradient(
    kernel_arrays, monkeypatch, method
):
    monkeypatch.setenv(kernels.METHOD_ENV, method)
    x, w = np.zeros((0, 1, 6, 6)), np.ones((2, 1, 3, 3))
    z = kernels.conv_forward(kernel_arrays(x), kernel_arrays(w))
    gx, gw = kernels.conv_backward(
        kernel_arrays(np.zeros((0, 2, 4, 4))), kernel_arrays(x), kernel_arrays(w)
    )
    assert z.shape == (0, 2, 4, 4) and gx.shape == x.shape
    np.testing.assert_array_equal(backend.to_numpy(gw), np.zeros((2, 1, 3, 3)))


def test_weight_filters_read_less_only_while_the_gpu_stays_full():
    assert kernels.weight_filters(256, 40, 20, 25, 64, 128) == 4  # conv2, m = 256: 1,200 blocks
    assert kernels.weight_filters(10, 40, 20, 25, 64, 128) == 3  # conv2, m = 10: 280 blocks
    assert kernels.weight_filters(256, 20, 1, 25, 576, 128) == 4  # conv1, m = 256: 515 blocks
    assert kernels.weight_filters(10, 20, 1, 25, 576, 128) == 1  # conv1, m = 10: 200 blocks
    assert kernels.weight_filters(256, 40, 20, 49, 64, 128) == 2  # 7×7: 2·49 sums a thread


def test_weight_chunks_fill_the_gpu_but_keep_blocks_busy():
    assert kernels.weight_chunks(256, 20, 576, 128) == 26  # conv1 at m = 256: 520 blocks
    assert kernels.weight_chunks(10, 20, 576, 128) == 10  # m = 10: one example a chunk
    assert kernels.weight_chunks(256, 800, 64, 128) == 1  # conv2: 800 blocks already
    assert kernels.weight_chunks(2, 20, 16, 128) == 1  # too little work to split


def test_bad_block_size_and_dtype_are_refused(kernel_arrays):
    x = kernel_arrays(np.zeros((1, 1, 4, 4), np.float32))
    w = kernel_arrays(np.zeros((1, 1, 2, 2), np.float32))
    gz = kernel_arrays(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="power of 2"):
        kernels.conv_backward(gz, x, w, weight_threads=6)
    with pytest.raises(TypeError, match="float32 or float64"):
        kernels.kernels(np.int32)


def test_an_unknown_method_is_refused(monkeypatch):
    monkeypatch.setenv(kernels.METHOD_ENV, "fft")
    with pytest.raises(ConfigError, match="GPUNN_CONV_METHOD='fft': choose one of gemm, tiled"):
        kernels.conv_method()


@pytest.mark.gpu
@pytest.mark.parametrize("method", kernels.METHODS)
def test_runs_on_cupys_current_stream(rng, monkeypatch, method):
    import cupy

    monkeypatch.setenv(kernels.METHOD_ENV, method)
    x, w = arrays(rng, (4, 20, 40, 12, 12, 5, 5), np.float32)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        x_gpu, w_gpu = cupy.asarray(x), cupy.asarray(w)
        z = kernels.conv_forward(x_gpu, w_gpu)
        gx, gw = kernels.conv_backward(z, x_gpu, w_gpu)
        z_host = cupy.asnumpy(z, stream=stream)
    stream.synchronize()
    z_ref = conv_forward(x, w)
    assert rel_err(z_host, z_ref) < 1e-5
    gx_ref, gw_ref = conv_backward(z_ref, x, w)
    assert rel_err(gx, gx_ref) < 1e-5 and rel_err(gw, gw_ref) < 1e-5
