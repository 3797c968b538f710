"""The exceptions gpunn raises for bad input, so callers can catch them by kind.

Every one derives from ``GpunnError``; the CLI turns any of them into one line
and a non-zero exit, never a traceback.
"""


class GpunnError(Exception):
    """Base class of every error gpunn raises on purpose."""


class ConfigError(GpunnError, ValueError):
    """A hyper-parameter or option is out of range or unknown."""


class ShapeError(GpunnError, ValueError):
    """Layers, arrays or a model file disagree about a shape."""


class DeviceError(GpunnError, RuntimeError):
    """The requested device cannot be used (for example ``gpu`` with no CUDA device)."""


class DataError(GpunnError, OSError):
    """A data file is missing, truncated, corrupt or not what it claims to be."""


class ModelFileError(GpunnError, OSError):
    """A saved model or checkpoint cannot be read as one of gpunn's."""


class NumericalError(GpunnError, FloatingPointError):
    """Training produced a NaN or infinite cost or gradient."""
