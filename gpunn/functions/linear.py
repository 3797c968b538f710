"""The matrix product of the fully-connected layers, on either device.

``matmul(a, b, trans_a, trans_b)`` = op(a)·op(b), op transposing when asked, so that the
layers never build a transposed view: z = x wᵀ, ∂C/∂w = δᵀ x and ∂C/∂x = δ w are one call
each. NumPy arrays go to ``numpy.matmul``; CuPy arrays to cuBLAS directly
(``gpunn.kernels.blas``, imported only then), which a CUDA graph can capture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpunn.backend import get_array_module


def matmul(
    a: Any, b: Any, trans_a: bool = False, trans_b: bool = False, out: Any = None,
    accumulate: bool = False,
) -> Any:  # fmt: skip
    """op(a) (M, K) · op(b) (K, N) → (M, N), for 2-D a and b on one device; into ``out``
    when given (a view whose rows are contiguous, e.g. a column slice), or added to it
    (``accumulate``)."""
    if accumulate and out is None:
        raise ValueError("matmul: accumulate needs out, the array to add to")
    if get_array_module(a, b) is np:
        return array_product(a, b, trans_a, trans_b, out, accumulate)
    from gpunn.kernels import blas

    return blas.gemm(a, b, trans_a, trans_b, out, accumulate)


def array_product(
    a: Any, b: Any, trans_a: bool, trans_b: bool, out: Any = None, accumulate: bool = False
) -> Any:
    """``matmul`` by the arrays' own ``@`` (NumPy's; CuPy's when cuBLAS cannot be called
    directly, which a CUDA graph cannot capture)."""
    c = (a.T if trans_a else a) @ (b.T if trans_b else b)
    if out is None:
        return c
    if accumulate:
        out += c
    else:
        out[...] = c
    return out
