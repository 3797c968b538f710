"""First thing on a lent GPU: versions, the CUDA linker Numba will use, one kernel checked.

    python bench/gpu_env.py

numba-cuda links kernels through nvJitLink when it has it; without it the driver must
JIT the PTX, which fails (CUDA_ERROR_UNSUPPORTED_PTX_VERSION) when NVVM is newer than
the driver. This prints which case holds and runs one convolution against NumPy.
"""

import subprocess

import numpy as np


def main() -> None:
    print(subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout)
    import cupy as cp
    import numba
    from numba.cuda.cudadrv import driver

    import gpunn
    from gpunn.functions.conv import conv_forward

    print(f"cupy {cp.__version__}, numba {numba.__version__}, gpunn {gpunn.__version__}")
    have = getattr(driver, "_have_nvjitlink", lambda: "unknown")
    print(f"nvJitLink available to numba-cuda: {have()}")
    print(f"gpunn sees: {gpunn.get_device('gpu').describe()}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    z = cp.asnumpy(conv_forward(cp.asarray(x), cp.asarray(w)))
    err = float(np.abs(z - conv_forward(x, w)).max())
    print(f"conv_forward on the GPU vs NumPy: max abs error {err:.2e}")


if __name__ == "__main__":
    main()
