"""Throughput rows: every (preset, mini-batch size, mode) measured for gpunn and its peers.

One row holds gpunn's images/s statistics, each peer's, and the ratio gpunn/peer —
both of the medians and of each alternating pair (g₁/p₁, g₂/p₂, …), whose spread shows
how much the machine drifted while measuring.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace

import numpy as np

from gpunn.benchmark.peers import PEERS, torch_runner, torch_threads
from gpunn.benchmark.subjects import (
    EAGER_PEER,
    Images,
    build_network,
    gpunn_runner,
    load_images,
    make_pool,
)
from gpunn.benchmark.timing import alternate, reason

MODES = ("train", "infer")


@dataclass
class BenchConfig:
    """What to measure: see ``gpunn bench --help``."""

    presets: tuple[str, ...] = ("fc30", "conv2-relu", "final")
    batch_sizes: tuple[int, ...] = (10, 64, 256, 1024)
    modes: tuple[str, ...] = MODES
    device: str = "cpu"
    peers: tuple[str, ...] = ("torch",)
    repeats: int = 5
    seconds: float = 1.0
    warmup_steps: int = 3
    data: str = "auto"
    data_dir: str | None = None
    max_load: float | None = 0.25  # CPU cores other processes may use during a round
    quiet_timeout: float = 10.0  # seconds to wait for such a quiet machine per round
    # idle seconds before each measurement (None: 0.5 on the CPU, 0 on a GPU)
    gap: float | None = None
    torch_threads: int | None = None  # of the 'torch' peers (None: torch's count at the start)

    def gap_seconds(self) -> float:
        """The idle before each measurement: on the CPU long enough for the other side's
        spinning worker threads to sleep (OpenMP's KMP_BLOCKTIME is 200 ms)."""
        if self.gap is not None:
            return self.gap
        return 0.5 if self.device == "cpu" else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def ratio_stats(ours: dict, peer: dict) -> dict:
    """gpunn/peer: of the medians, and median/min/max over alternating pairs."""
    if not (ours.get("available") and peer.get("available")):
        return {"ratio": None}
    pairs = [g / p for g, p in zip(ours["samples"], peer["samples"], strict=False)]
    return {
        "ratio": ours["median"] / peer["median"],
        "paired_ratio": {
            "median": float(np.median(pairs)),
            "min": float(min(pairs)),
            "max": float(max(pairs)),
        },
    }


def measure_row(preset, mode: str, pool, state: dict, config: BenchConfig) -> dict:
    """Build gpunn's runner and each peer's, measure them alternately, return the row."""
    results: dict[str, dict] = {}
    runners = []
    try:
        runners.append(gpunn_runner(preset, mode, pool, config.device))
    except Exception as exc:  # an op another engineer has not finished yet
        results["gpunn"] = {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    for peer in config.peers:
        try:
            if peer == EAGER_PEER:
                runners.append(
                    gpunn_runner(preset, mode, pool, config.device, graphs=False, name=peer)
                )
                continue
            threads = config.torch_threads
            runners.append(torch_runner(preset, mode, pool, state, config.device, peer, threads))
        except Exception as exc:  # no torch, torch.compile refused, out of memory: that peer
            results[peer] = {"available": False, "reason": reason(exc)}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        results.update(
            alternate(
                runners,
                config.repeats,
                config.seconds,
                config.warmup_steps,
                config.max_load,
                config.quiet_timeout,
                config.gap_seconds(),
            )
        )
    del runners
    gc.collect()
    if config.device == "gpu":
        release_gpu_memory()
    ours = results.pop("gpunn")
    return {
        "preset": preset.name,
        "mode": mode,
        "batch_size": int(pool.x.shape[1]),
        "device": config.device,
        "gpunn": ours,
        "peers": {name: {**results[name], **ratio_stats(ours, results[name])} for name in results},
    }


def release_gpu_memory() -> None:
    """Give the memory one row's runners kept in CuPy's pool and torch's cache back to the
    GPU, so that neither library runs out at the next row for what the other holds."""
    from gpunn.backend import get_device

    get_device("gpu").xp.get_default_memory_pool().free_all_blocks()
    torch = sys.modules.get("torch")  # only if a peer imported it
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_throughput(
    config: BenchConfig, log: Callable[[dict], None] | None = None, images: Images | None = None
) -> tuple[list[dict], str]:
    """All rows of ``config`` (each passed to ``log`` as it is done) and the data source;
    ``images``: those to cut the batches from (default: ``load_images`` of the config's)."""
    from gpunn.presets import get_preset

    for mode in config.modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: choose train or infer")
    presets = [get_preset(name) for name in config.presets]
    images = images or load_images(config.data, config.data_dir)
    uses_torch = any(peer in PEERS for peer in config.peers)
    rows = []
    with torch_threads(config.torch_threads) if uses_torch else nullcontext() as threads:
        config = replace(config, torch_threads=threads)
        for preset in presets:
            state = build_network(preset, "cpu")[0].state()  # gpunn's starting weights, seed 0
            for m in config.batch_sizes:
                pool = make_pool(images, m, preset.input_shape)
                for mode in config.modes:
                    row = measure_row(preset, mode, pool, state, config)
                    rows.append(row)
                    if log is not None:
                        log(row)
    return rows, images.source
