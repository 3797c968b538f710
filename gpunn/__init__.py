"""gpunn: the networks of Nielsen's "Neural Networks and Deep Learning", fast, on CPU or GPU.

import gpunn
data = gpunn.data.load("mnist")
net = gpunn.Network([gpunn.FullyConnected(30), gpunn.FullyConnected(10)], "quadratic",
                    device="auto")
gpunn.Trainer(net, data, gpunn.TrainConfig(epochs=30, mini_batch_size=10, eta=3.0)).run()
"""

__version__ = "0.1.0"

from gpunn import data  # noqa: E402
from gpunn.backend import get_device, gpu_available, use  # noqa: E402
from gpunn.config import TrainConfig  # noqa: E402
from gpunn.ensemble import Ensemble  # noqa: E402
from gpunn.errors import (  # noqa: E402
    ConfigError,
    DataError,
    DeviceError,
    GpunnError,
    ModelFileError,
    NumericalError,
    ShapeError,
)
from gpunn.layers import ConvPool, FullyConnected, Softmax  # noqa: E402
from gpunn.network import Network  # noqa: E402
from gpunn.presets import PRESETS, get_preset  # noqa: E402
from gpunn.train import Trainer, TrainingInterrupted  # noqa: E402

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
