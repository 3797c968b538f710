"""Make sure the kernels run under Numba's CUDA simulator where there is no GPU.

tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1, but importing gpunn can import numba
before that (numba reads its configuration once, at import), so numba is told to
read it again here, before numba.cuda is first imported by these tests.
"""

import os
import sys

from gpunn import backend

if not backend.gpu_available():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    if "numba" in sys.modules and "numba.cuda" not in sys.modules:
        from numba.core import config

        config.reload_config()
