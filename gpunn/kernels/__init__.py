"""Numba kernels, imported lazily by ``gpunn.functions``, never at package import.

``conv.py`` (launchers; kernels in ``conv_cuda.py`` and ``conv_gemm.py``) and ``pool.py``
hold the CUDA kernels and their launchers (``launch.py``),
imported only when a CuPy array arrives (or under Numba's CUDA simulator in tests);
``cpu.py`` holds the Numba CPU loops of the NumPy path, imported on its first use.
"""
