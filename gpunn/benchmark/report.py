"""The benchmark's record: the machine and library versions, a terminal table, a JSON file."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path

from gpunn.files import atomic_write_text
from gpunn.provenance import git_commit

SCHEMA = "gpunn-bench/1"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpunn_threads() -> int | None:
    """The threads gpunn's own CPU work spreads over (``gpunn.kernels.threads.workers``)."""
    from gpunn.kernels.threads import workers

    try:
        return workers()
    except Exception:  # a bad GPUNN_CPU_THREADS: the CLI refuses it before this
        return None


def gpu_info(device) -> dict | None:
    """Name, memory, driver and CUDA runtime versions of the GPU behind ``device``."""
    if not device.is_gpu:
        return None
    cp = device.xp
    rt = cp.cuda.runtime
    props = rt.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"]
    return {
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "memory_bytes": int(props["totalGlobalMem"]),
        "driver_version": rt.driverGetVersion(),
        "cuda_runtime_version": rt.runtimeGetVersion(),
    }


def environment(device) -> dict:
    """Everything needed to read the numbers later: host, CPU, GPU, versions, commit, date."""
    from gpunn import __version__
    from gpunn.benchmark.peers import torch_info

    cupy = _version("cupy-cuda13x") or _version("cupy-cuda12x") or _version("cupy")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "usable_cores": affinity},
        "device": device.name,
        "gpu": gpu_info(device),
        "versions": {
            "gpunn": __version__,
            "numpy": _version("numpy"),
            "numba": _version("numba"),
            "numba-cuda": _version("numba-cuda"),
            "cupy": cupy,
        },
        "torch": torch_info(),
        "git": git_commit(),
        "gpunn_threads": _gpunn_threads(),
        "threads_env": {
            k: os.environ[k]
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "GPUNN_CPU_THREADS",
            )
            if k in os.environ
        },
    }


def _num(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def _cell(s: dict) -> str:
    """'median [min–max]' images/s, or 'n/a' when the side could not run."""
    if not s.get("available"):
        return "n/a"
    return f"{_num(s['median'])} [{_num(s['min'])}–{_num(s['max'])}]"


TABLE_HEADER = (
    f"{'preset':<11} {'mode':<5} {'m':>5}  {'gpunn img/s [min–max]':<28} "
    f"{'peer':<13} {'peer img/s [min–max]':<28} {'gpunn/peer':>10} {'pairs min–max':>14} "
    f"{'load':>5}"
)


def format_row(row: dict) -> list[str]:
    """Table lines for one row: one per peer (or one with no peer)."""
    head = f"{row['preset']:<11} {row['mode']:<5} {row['batch_size']:>5}  "
    head += f"{_cell(row['gpunn']):<28} "
    peers = row["peers"] or {"—": {"available": False, "ratio": None}}
    sides = [row["gpunn"], *row["peers"].values()]
    load = max((s.get("other_load_cores") or 0.0 for s in sides), default=0.0)
    lines = []
    for name, p in peers.items():
        ratio = f"{p['ratio']:.2f}×" if p.get("ratio") is not None else "—"
        pr = p.get("paired_ratio")
        spread = f"{pr['min']:.2f}–{pr['max']:.2f}" if pr else ""
        lines.append(f"{head}{name:<13} {_cell(p):<28} {ratio:>10} {spread:>14} {load:>5.2f}")
    return lines


def reasons(rows: list[dict]) -> list[str]:
    """One line per distinct reason a side could not run."""
    seen: dict[str, str] = {}
    for row in rows:
        for name, s in [("gpunn", row["gpunn"]), *row["peers"].items()]:
            if not s.get("available") and s.get("reason"):
                seen.setdefault(f"{name}: {s['reason']}", "")
    return [f"  n/a {k}" for k in seen]


def table(rows: list[dict]) -> str:
    lines = [line for r in rows for line in format_row(r)]
    return "\n".join([TABLE_HEADER, *lines, *reasons(rows)])


def _timing(row: dict) -> str:
    """'graph, graph; 61 / 12': how each side was timed, and its eager loop's µs."""
    modes = ", ".join(str(row.get(f"{side}_timing") or "—") for side in ("gpunn", "torch"))
    eager = " / ".join(_num(row.get(f"{side}_eager_us")) for side in ("gpunn", "torch"))
    return f"{modes}; {eager}"


def kernel_table(kernels: dict) -> str:
    """The GPU micro-benchmarks as lines: µs per call and % of the floor, or why skipped."""
    if "skipped" in kernels:
        return f"kernels: skipped ({kernels['skipped']})"
    f = kernels["floor"]
    lines = [
        f"kernels: floor from {f['bandwidth_bytes_per_s'] / 1e9:,.0f} GB/s copy bandwidth and "
        f"{f['peak_flops'] / 1e12:,.1f} TFLOP/s float32 matmul",
        f"{'op':<22} {'layer':<6} {'N':>4} {'floor µs':>9} {'gpunn µs':>9} {'% floor':>8} "
        f"{'torch µs':>9} {'% floor':>8} {'gpunn/torch':>11}  timing (gpunn, torch; eager µs)",
    ]
    for key in ("conv", "pool"):
        part = kernels.get(key, {"skipped": "not run"})
        if isinstance(part, dict):
            lines.append(f"{key}: skipped ({part['skipped']})")
            continue
        for r in part:
            speed = r["gpunn_over_torch_speed"]
            lines.append(
                f"{r['op']:<22} {r['layer']:<6} {r['batch_size']:>4} {_num(r['floor_us']):>9} "
                f"{_num(r['gpunn_us']):>9} {_num(r.get('gpunn_pct_of_floor')):>8} "
                f"{_num(r['torch_us']):>9} {_num(r.get('torch_pct_of_floor')):>8} "
                f"{f'{speed:.2f}×' if speed else '—':>11}  {_timing(r)}"
            )
    mem = kernels.get("memory", {})
    if "gpunn" in mem:
        g, t = mem["gpunn"], mem["torch"]
        lines.append(
            f"peak memory, {mem['preset']} training at m = {mem['batch_size']}: gpunn "
            f"{g.get('total_bytes', g['cupy_pool_total_bytes']) / 2**20:,.1f} MiB (CuPy pools "
            f"and cuBLAS workspace; memGetInfo Δ "
            f"{g['memgetinfo_delta_bytes'] / 2**20:,.1f} MiB), torch max allocated "
            f"{t['max_memory_allocated_bytes'] / 2**20:,.1f} MiB"
        )
    elif mem:
        lines.append(f"memory: skipped ({mem.get('skipped')})")
    return "\n".join(lines)


def finite(value):
    """``value`` with every NaN or infinity (at any depth) replaced by None, for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path, record: dict) -> Path:
    """Write ``record`` as indented JSON, atomically (folders made as needed); the path."""
    path = Path(path)
    atomic_write_text(path, json.dumps(finite(record), indent=1, allow_nan=False) + "\n")
    return path


def default_result_name(env: dict, taken=lambda name: False) -> str:
    """'<date>-<device>-<host>-<commit>[-dirty][-k].json', the file name bench/run.py writes
    under bench/results; ``-k`` (2, 3, …) while ``taken(name)`` says the name is used."""
    date = env["date"][:10]
    dev = env["device"] if env["gpu"] is None else env["gpu"]["name"].replace(" ", "-")
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in env["host"]) or "host"
    git = env.get("git") or {}
    commit = (git.get("commit") or "nogit")[:7] + ("-dirty" if git.get("dirty") else "")
    stem, k = f"{date}-{dev}-{host}-{commit}", 1
    while taken(name := f"{stem}{f'-{k}' if k > 1 else ''}.json"):
        k += 1
    return name
