"""A fix, for the tests, of a race in Numba's CUDA simulator (numba-cuda 0.30).

The simulator runs each thread of a block as a Python thread, and
``FakeCUDAShared.array`` finds a block's shared array by its source line with an unlocked
look-up then insert: two threads that both miss create two arrays, so some threads of the
block fill and read memory the others never see, and a correct kernel gives wrong numbers
now and then (seen once in a full run of the suite on a loaded machine:
tests/kernels/test_conv.py, a tiled convolution off by 0.45). ``lock_shared_arrays``
makes the look-up and insert one step; kernels are untouched.

Measured 2026-12-02 on the 2-core VM: 32 threads asking ``FakeCUDAShared(0).array`` at once
through a ``threading.Barrier``, ``sys.setswitchinterval(1e-6)``, 200 times: the threads
got two or more arrays in 6 of 200 without the lock, 0 of 200 with it. (Rare enough that no
test here could show it reliably.)
"""

import sys
import threading


def lock_shared_arrays() -> None:
    """Patch the simulator's ``FakeCUDAShared.array`` to allocate under a lock (once)."""
    import numpy as np
    from numba.cuda.simulator import kernelapi

    shared = kernelapi.FakeCUDAShared
    if getattr(shared.array, "locked", False):
        return
    unlocked, lock = shared.array, threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory; refusals
            return unlocked(self, shape, dtype, alignment)
        if isinstance(dtype, kernelapi.types.Type):
            dtype = kernelapi.numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)  # the kernel's line, as the simulator keys it
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            found = self._allocations.get(key)
            if found is None:
                found = self._allocations[key] = np.empty(shape, dtype)
        return found

    array.locked = True
    shared.array = array
