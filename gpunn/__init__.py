"""gpunn: the networks of Nielsen's "Neural Networks and Deep Learning", fast, on CPU or GPU."""

__version__ = "0.1.0"
