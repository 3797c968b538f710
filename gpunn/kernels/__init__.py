"""Numba CUDA kernels, imported lazily by ``gpunn.functions`` only when running on a GPU."""
