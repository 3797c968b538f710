"""gpunn: the networks of Nielsen's "Neural Networks and Deep Learning", fast, on CPU or GPU.

import gpunn
data = gpunn.data.load("mnist")
net = gpunn.Network([gpunn.FullyConnected(30), gpunn.FullyConnected(10)], "quadratic",
                    device="auto")
gpunn.Trainer(net, data, gpunn.TrainConfig(epochs=30, mini_batch_size=10, eta=3.0)).run()
"""

__version__ = "0.1.0"

# The public names, imported when first used (PEP 562): ``import gpunn`` itself loads no
# NumPy, Numba or CuPy, so the command line can catch a Ctrl-C during those imports.
_WHERE = {
    "data": "gpunn",
    "get_device": "gpunn.backend",
    "gpu_available": "gpunn.backend",
    "use": "gpunn.backend",
    "TrainConfig": "gpunn.config",
    "Ensemble": "gpunn.ensemble",
    **dict.fromkeys(
        (
            "ConfigError",
            "DataError",
            "DeviceError",
            "GpunnError",
            "ModelFileError",
            "NumericalError",
            "ShapeError",
        ),
        "gpunn.errors",
    ),
    **dict.fromkeys(("ConvPool", "FullyConnected", "Softmax"), "gpunn.layers"),
    "Network": "gpunn.network",
    "PRESETS": "gpunn.presets",
    "get_preset": "gpunn.presets",
    "Trainer": "gpunn.train",
    "TrainingInterrupted": "gpunn.interrupts",
}


def __getattr__(name: str):
    import importlib

    if name not in _WHERE:
        raise AttributeError(f"module 'gpunn' has no attribute {name!r}")
    if name == "data":
        value = importlib.import_module("gpunn.data")
    else:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


__all__ = [
    "ConfigError",
    "ConvPool",
    "DataError",
    "DeviceError",
    "Ensemble",
    "FullyConnected",
    "GpunnError",
    "ModelFileError",
    "Network",
    "NumericalError",
    "PRESETS",
    "ShapeError",
    "Softmax",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "data",
    "get_device",
    "get_preset",
    "gpu_available",
    "use",
]
