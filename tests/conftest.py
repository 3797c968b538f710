"""Shared test set-up: the ``gpu`` marker, backend parametrisation and seeding.

Without a usable GPU the Numba CUDA kernels run under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, set here before numba is imported) on NumPy arrays;
with one they run on the device with CuPy arrays.
"""

import os
import signal
import sys

# A shell without job control starts background jobs ignoring Ctrl-C, and gpunn leaves a
# signal ignored that it finds ignored (gpunn.signals.taken): the tests that send SIGINT
# or SIGTERM need them taken, in this process and in the gpunn processes they start.
for _sig, _handler in (
    (signal.SIGINT, signal.default_int_handler),
    (signal.SIGTERM, signal.SIG_DFL),
):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _handler)

from gpunn import backend  # noqa: E402

if not backend.gpu_available():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    # Importing gpunn already imported numba, which reads its configuration once: have it
    # read the variable again, before numba.cuda is first imported.
    if "numba" in sys.modules and "numba.cuda" not in sys.modules:
        from numba.core import config

        config.reload_config()
    from tests.cudasim import lock_shared_arrays

    lock_shared_arrays()

import numpy as np  # noqa: E402
import pytest  # noqa: E402

GPU_SKIP_REASON = f"no usable GPU: {backend.gpu_unavailable_reason()}"
# the GPU half marked like every other GPU test, so that -m gpu / -m "not gpu" select it too
DEVICES = ["cpu"] + (
    [pytest.param("gpu", marks=pytest.mark.gpu)] if backend.gpu_available() else []
)


def pytest_collection_modifyitems(config, items):
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason=GPU_SKIP_REASON)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=DEVICES)
def device(request):
    """Each usable device in turn ('cpu', and 'gpu' where one is usable)."""
    return backend.get_device(request.param)


@pytest.fixture
def rng():
    """A seeded NumPy generator, the same in every test."""
    return np.random.default_rng(1234)


@pytest.fixture
def kernel_arrays():
    """Send a NumPy array to where the CUDA kernels run: CuPy on a GPU, NumPy in the simulator."""
    if backend.gpu_available():
        gpu = backend.get_device("gpu")
        return lambda a: gpu.send(a)
    return lambda a: a


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """A fresh empty working directory (the test's tmp_path)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
