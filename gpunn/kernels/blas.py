"""Matrix products on CuPy arrays by calling cuBLAS directly (GPU only, imported lazily).

Why not ``cupy.matmul``: it cannot be captured into a CUDA graph (CuPy 14's cuBLAS
binding raises NotImplementedError whenever the stream is capturing, cupy/cupy#6290),
and it costs ≈ 57 µs of host time a call on the lent H100 (bench/NOTES.md). cuBLAS
itself supports capture once it has a workspace it does not have to allocate (NVIDIA's
documentation; not yet checked here on a GPU: tests/kernels/test_blas.py will), so this
module keeps one handle of its own, bound to CuPy's current stream, with a workspace
set after every stream change (``cublasSetStream`` resets it).

cuBLAS is column-major; a row-major (r, c) array is the column-major (c, r) matrix
with leading dimension c. So the row-major C = op(A)·op(B) is computed as the
column-major Cᵀ = op(B)ᵀ·op(A)ᵀ (``gemm_plan``), with no copy of either operand. If the
library cannot be loaded this way, products fall back to ``cupy.matmul`` (said once):
training works, CUDA graphs of the step are then refused and steps run eagerly.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, NamedTuple

import numpy as np

from gpunn.errors import DeviceError
from gpunn.functions.linear import array_product

OP_N, OP_T = 0, 1  # cublasOperation_t
WORKSPACE_BYTES = 32 << 20  # NVIDIA's recommendation for Hopper
STATUS_NAMES = {
    1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
    7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH",
    11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
    14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
}  # fmt: skip


class GemmPlan(NamedTuple):
    """The arguments of one column-major ``cublas<t>gemm`` call: C' = op(P)·op(Q)."""

    op_p: int  # applied to P, the row-major B read as column-major
    op_q: int  # applied to Q, the row-major A read as column-major
    m: int  # rows of C' = columns of the row-major C
    n: int  # columns of C' = rows of C
    k: int
    ldp: int
    ldq: int
    ldc: int


def gemm_plan(
    a_shape: tuple[int, int],
    b_shape: tuple[int, int],
    trans_a: bool,
    trans_b: bool,
    lds: tuple[int, int, int] | None = None,
) -> GemmPlan:
    """The cuBLAS call for the row-major (M, N) C = op(a)·op(b).

    ``lds``: the row strides, in elements, of a, b and C (each ≥ its number of columns;
    None: all three C-contiguous). Raises ValueError when the inner dimensions differ.
    """
    (ra, ca), (rb, cb) = a_shape, b_shape
    M, K = (ca, ra) if trans_a else (ra, ca)
    Kb, N = (cb, rb) if trans_b else (rb, cb)
    if K != Kb:
        raise ValueError(f"matmul: op(a) is {M}×{K} but op(b) is {Kb}×{N}")
    lda, ldb, ldc = lds if lds is not None else (ca, cb, N)
    return GemmPlan(
        op_p=OP_T if trans_b else OP_N,
        op_q=OP_T if trans_a else OP_N,
        m=N,
        n=M,
        k=K,
        ldp=max(1, ldb),
        ldq=max(1, lda),
        ldc=max(1, ldc),
    )


class _Cublas:
    """One cuBLAS handle of gpunn's own, on the library CuPy has loaded."""

    def __init__(self, cp: Any) -> None:
        self.cp = cp
        self.lib = _load_library(cp)
        self.handle = ctypes.c_void_p()
        self._check(self.lib.cublasCreate_v2(ctypes.byref(self.handle)), "cublasCreate")
        # plain cudaMalloc, outside any pool (a graph's own pool included), for the handle's life
        self.workspace = cp.cuda.memory.Memory(WORKSPACE_BYTES)
        self.stream = None
        self.gemm = {}
        for dtype, name, ctype in ((np.float32, "Sgemm", ctypes.c_float),
                                   (np.float64, "Dgemm", ctypes.c_double)):  # fmt: skip
            fn = getattr(self.lib, f"cublas{name}_v2")
            ptr = ctypes.POINTER(ctype)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.c_int, ctypes.c_int, ptr, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_int, ptr, ctypes.c_void_p,
                           ctypes.c_int]  # fmt: skip
            fn.restype = ctypes.c_int
            one, zero = ctype(1.0), ctype(0.0)
            self.gemm[np.dtype(dtype)] = (fn, ctypes.byref(one), ctypes.byref(zero), one, zero)

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            name = STATUS_NAMES.get(status, "an unknown status")
            raise DeviceError(
                f"{what} failed with cuBLAS status {status} ({name}); with GPUNN_CUDA_GRAPHS=0 "
                "and the products still failing, the GPU or its driver is the place to look"
            )

    def bind_stream(self) -> None:
        """Point the handle at CuPy's current stream (and give it back its workspace)."""
        ptr = self.cp.cuda.get_current_stream().ptr
        if ptr != self.stream:
            self._check(self.lib.cublasSetStream_v2(self.handle, ctypes.c_void_p(ptr)), "setStream")
            ws = ctypes.c_void_p(self.workspace.ptr)
            self._check(
                self.lib.cublasSetWorkspace_v2(self.handle, ws, ctypes.c_size_t(WORKSPACE_BYTES)),
                "cublasSetWorkspace",
            )
            self.stream = ptr


def _load_library(cp: Any) -> ctypes.CDLL:
    """The libcublas CuPy uses: of the copies this process has mapped once CuPy has loaded
    its own (torch may have mapped another), one of CuPy's major version, else the first
    the loader finds by that version's name."""
    from cupy_backends.cuda.libs import cublas as cupy_cublas

    version = cupy_cublas.getVersion(cp.cuda.device.get_cublas_handle())  # CuPy loads it
    major = version // 10000  # cuBLAS versions are major·10000 + minor·100 + patch
    mapped = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "/libcublas.so" in path and path not in mapped:
                    mapped.append(path)
    except OSError:
        pass
    ours = [path for path in mapped if f"libcublas.so.{major}" in path]
    loaded = []
    for name in (*ours, f"libcublas.so.{major}"):
        try:
            loaded.append(ctypes.CDLL(name))
        except OSError:
            continue
        if _library_version(loaded[-1]) == version:
            return loaded[-1]
    if loaded:  # CuPy's major version, though its version did not read back as CuPy's
        return loaded[0]
    raise DeviceError(
        f"cannot load the cuBLAS library CuPy uses (libcublas.so.{major}, version {version}); "
        f"mapped here: {', '.join(mapped) or 'none'}"
    )


def _library_version(lib: ctypes.CDLL) -> int | None:
    """cublasGetProperty's version of ``lib`` (major·10000 + minor·100 + patch), or None."""
    parts = []
    for kind in (0, 1, 2):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
        value = ctypes.c_int()
        if lib.cublasGetProperty(kind, ctypes.byref(value)) != 0:
            return None
        parts.append(value.value)
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


_cublas: _Cublas | None = None
_unusable: str | None = None  # why gpunn's own handle could not be made (then cupy.matmul)


def _library() -> _Cublas | None:
    """gpunn's cuBLAS, made on first use; None (said once on stderr) when it cannot be."""
    global _cublas, _unusable
    if _cublas is None and _unusable is None:
        import cupy

        try:
            _cublas = _Cublas(cupy)
        except Exception as exc:  # a library or symbol not found: CuPy's matmul still works
            _unusable = f"{type(exc).__name__}: {str(exc)[:200]}"
            print(
                f"gpunn: cannot call cuBLAS directly ({_unusable}); using cupy.matmul, "
                "which a CUDA graph cannot capture",
                file=sys.stderr,
            )
    return _cublas


def _row_stride(x: Any) -> int | None:
    """The row stride of 2-D x in elements when its rows are contiguous, else None."""
    item = x.dtype.itemsize
    if x.size == 0:  # CuPy and NumPy give empty arrays zero strides
        return max(1, x.shape[1])
    if x.shape[1] > 1 and x.strides[1] != item:
        return None
    if x.shape[0] > 1 and (x.strides[0] % item or x.strides[0] < x.shape[1] * item):
        return None
    return x.strides[0] // item if x.shape[0] > 1 else x.shape[1]


def gemm(
    a: Any, b: Any, trans_a: bool = False, trans_b: bool = False, out: Any = None,
    accumulate: bool = False,
) -> Any:  # fmt: skip
    """op(a)·op(b) into ``out`` (else a new C-contiguous CuPy array), or added to ``out``
    (``accumulate``); op transposes when asked.

    a, b and out: 2-D CuPy arrays of one dtype, float32 or float64, whose rows are each
    contiguous (a column slice of a C-contiguous array is; others are copied first, out
    must be). One cuBLAS call on CuPy's current stream; capturable in a CUDA graph.
    """
    if a.dtype != b.dtype or np.dtype(a.dtype) not in (np.float32, np.float64):
        raise TypeError(f"gemm needs two float32 or two float64 arrays, got {a.dtype}, {b.dtype}")
    if accumulate and out is None:
        raise ValueError("gemm: accumulate needs out, the array to add to")
    lib = _library()
    if lib is None:
        return array_product(a, b, trans_a, trans_b, out, accumulate)
    cp = lib.cp
    if _row_stride(a) is None:
        a = cp.ascontiguousarray(a)
    if _row_stride(b) is None:
        b = cp.ascontiguousarray(b)
    rows, cols = a.shape[1 if trans_a else 0], b.shape[0 if trans_b else 1]
    if out is None:
        out = cp.empty((rows, cols), dtype=a.dtype)
    if out.shape != (rows, cols) or out.dtype != a.dtype or _row_stride(out) is None:
        raise ValueError(
            f"gemm: out must be a ({rows}, {cols}) {a.dtype} array with contiguous rows, "
            f"got {out.shape} {out.dtype} with strides {out.strides}"
        )
    lds = (_row_stride(a), _row_stride(b), _row_stride(out))
    plan = gemm_plan(a.shape, b.shape, trans_a, trans_b, lds)  # ValueError: inner sizes differ
    if out.size == 0:
        return out
    if plan.k == 0:
        if not accumulate:
            out.fill(0)
        return out
    lib.bind_stream()
    fn, one, zero, _, _ = lib.gemm[np.dtype(a.dtype)]
    status = fn(
        lib.handle, plan.op_p, plan.op_q, plan.m, plan.n, plan.k, one,
        b.data.ptr, plan.ldp, a.data.ptr, plan.ldq, one if accumulate else zero,
        out.data.ptr, plan.ldc,
    )  # fmt: skip
    lib._check(status, "cublasGemm")
    return out
