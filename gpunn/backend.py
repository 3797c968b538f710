"""The one switch between NumPy on the CPU and CuPy on an NVIDIA GPU.

CuPy is imported here (and, apart from this module, only by ``kernels/blas.py``,
for its cuBLAS handle). Everything else asks it for a ``Device`` (which carries
``.xp``, the array module) or calls ``get_array_module(*arrays)``.

The default device is chosen, in order, by ``use(name)``, the environment
variable ``GPUNN_DEVICE`` and finally ``auto``: the GPU when CuPy can use a CUDA
device, else the CPU (announced once on stderr). Asking for ``gpu`` where none
is usable raises ``DeviceError``; it never falls back silently.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gpunn.errors import DeviceError

DEVICE_NAMES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class Device:
    """A place arrays live: ``name`` is 'cpu' or 'gpu', ``xp`` its array module."""

    name: str
    xp: ModuleType

    @property
    def is_gpu(self) -> bool:
        return self.name == "gpu"

    def send(self, array: Any, dtype: Any = None) -> Any:
        """Copy ``array`` (NumPy or CuPy) onto this device, optionally casting."""
        if self.is_gpu:
            return self.xp.asarray(array, dtype=dtype)
        return np.asarray(to_numpy(array), dtype=dtype)

    def send_finite(self, array: Any, dtype: Any, name: str) -> Any:
        """``send(array, dtype)``; ValueError naming ``name`` when a value is not finite in
        ``dtype`` (NaN, infinity, or beyond its range). Reads one flag back: for loading,
        not for a training loop."""
        with np.errstate(over="ignore"):  # beyond the dtype's range: refused below
            out = self.send(array, dtype)
        if not bool(self.xp.isfinite(out).all()):
            raise ValueError(
                f"{name} holds values that are not finite in {np.dtype(dtype).name} "
                f"(NaN, infinity, or beyond its range)"
            )
        return out

    def synchronize(self) -> None:
        """Wait for all queued work on this device (a no-op on the CPU)."""
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()

    def describe(self) -> str:
        if not self.is_gpu:
            return "cpu"
        props = self.xp.cuda.runtime.getDeviceProperties(self.xp.cuda.Device().id)
        name = props["name"]
        return f"gpu ({name.decode() if isinstance(name, bytes) else name})"

    def __repr__(self) -> str:
        return f"Device({self.name!r})"


CPU = Device("cpu", np)
_gpu_device: Device | None = None
_gpu_reason: str | None = None
_default: Device | None = None
_announced_cpu = False


def _probe_gpu() -> Device | None:
    """Import CuPy and check that a CUDA device really answers; cache the result."""
    global _gpu_device, _gpu_reason
    if _gpu_device is not None or _gpu_reason is not None:
        return _gpu_device
    try:
        import cupy
    except ImportError:
        _gpu_reason = "CuPy is not installed (pip install 'gpunn[cuda13]' or 'gpunn[cuda12]')"
        return None
    try:
        if not cupy.cuda.is_available() or cupy.cuda.runtime.getDeviceCount() < 1:
            _gpu_reason = "CuPy found no usable CUDA device"
            return None
        cupy.zeros(1).sum().item()  # a real allocation and kernel, not just an import
    except Exception as exc:  # CUDARuntimeError, driver errors: all mean "no GPU"
        _gpu_reason = f"CUDA is not usable: {exc}"
        return None
    _gpu_device = Device("gpu", cupy)
    return _gpu_device


def gpu_available() -> bool:
    """True when CuPy can allocate and run on a CUDA device."""
    return _probe_gpu() is not None


def gpu_unavailable_reason() -> str:
    """Why the GPU cannot be used ('' when it can)."""
    _probe_gpu()
    return _gpu_reason or ""


def get_device(name: str | Device | None = None) -> Device:
    """The device called ``name`` ('auto', 'cpu' or 'gpu'); None means the default."""
    global _announced_cpu
    if isinstance(name, Device):
        return name
    if name is None:
        return default_device()
    name = str(name).lower()
    if name not in DEVICE_NAMES:
        raise DeviceError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_NAMES)}")
    if name == "cpu":
        return CPU
    gpu = _probe_gpu()
    if name == "gpu":
        if gpu is None:
            raise DeviceError(f"the GPU was asked for (device 'gpu'), but {_gpu_reason}")
        return gpu
    if gpu is None:
        if not _announced_cpu:
            print(f"gpunn: no usable GPU ({_gpu_reason}); running on the CPU", file=sys.stderr)
            _announced_cpu = True
        return CPU
    return gpu


def default_device() -> Device:
    """The device set by ``use``, else by ``GPUNN_DEVICE``, else ``auto``."""
    global _default
    if _default is None:
        _default = get_device(os.environ.get("GPUNN_DEVICE", "auto"))
    return _default


def use(name: str | Device) -> Device:
    """Make ``name`` ('auto', 'cpu' or 'gpu') the default device and return it."""
    global _default
    _default = get_device(name)
    return _default


def get_array_module(*arrays: Any) -> ModuleType:
    """``cupy`` if any of ``arrays`` is a CuPy array, else ``numpy``."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            return sys.modules["cupy"]
    return np


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy copy (or view) of a NumPy or CuPy array."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)


def device_of(array: Any) -> Device:
    """The device an array lives on."""
    return _gpu_device if get_array_module(array) is not np else CPU  # type: ignore[return-value]


@functools.cache
def elementwise_kernel(in_params: str, out_params: str, operation: str, name: str) -> Any:
    """A CuPy ``ElementwiseKernel``, made once per source and kept (CuPy compiles on first use)."""
    import cupy

    return cupy.ElementwiseKernel(in_params, out_params, operation, name)


def cuda_stream_handle() -> int:
    """The raw handle of CuPy's current stream, for launching Numba kernels on it."""
    import cupy

    return cupy.cuda.get_current_stream().ptr
