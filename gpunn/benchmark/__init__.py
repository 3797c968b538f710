"""Benchmarks of gpunn against PyTorch: throughput of the book's networks, GPU kernels.

    gpunn bench --device cpu --presets fc30 --batch-sizes 10,64 --json out.json

``harness.run_throughput`` measures the rows, ``kernels.run_kernels`` the GPU
micro-benchmarks, ``report`` writes the table and JSON; ``cli`` is the sub-command.
"""

from gpunn.benchmark.cli import add_parser, run

__all__ = ["add_parser", "run"]
