"""Wall-clock timing of step loops, done so that two libraries can be compared fairly.

A ``Runner`` is one side of a comparison: ``step(i)`` runs training (or inference)
step i on batch i mod K of a pool already on the device, and ``sync()`` waits for
the device. A measurement is

    sync(); t₀ = clock(); step(i) … step(i + n − 1); sync(); t = clock() − t₀

and reports n·m / t images per second (m the mini-batch size). Warm-up steps (JIT
compilation, cuDNN autotuning, allocator growth) run before any measurement, and n
is calibrated once per runner so that one measurement takes about ``seconds``.
``alternate`` then measures the runners in turn, each round starting one later than the
last (g p, p g, g p, …), so that a drift in the machine's speed (other processes, clock
boost) hits every side alike and no side always comes first after an idle wait; on a
shared machine it can also wait for, and throw away rounds disturbed by, other
processes' CPU load.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def _busy_seconds() -> float | None:
    """CPU seconds all processes on the machine have used (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@dataclass
class Runner:
    """A named step function over a batch pool on one device; ``i`` counts steps run."""

    name: str
    step: Callable[[int], object]
    sync: Callable[[], None]
    batch_size: int
    info: dict = field(default_factory=dict)
    prepare: Callable[[], object] | None = None  # run before each measurement, untimed
    i: int = 0
    other_load: float | None = None  # CPU cores other processes used during the last run

    def run(self, n: int) -> float:
        """Seconds for n steps, the device synchronised before and after the clock."""
        if self.prepare is not None:
            self.prepare()
        self.sync()
        busy, own = _busy_seconds(), time.process_time()
        start = time.perf_counter()
        for k in range(self.i, self.i + n):
            self.step(k)
        self.sync()
        t = time.perf_counter() - start
        own, after = time.process_time() - own, _busy_seconds()
        self.i += n
        if busy is not None and after is not None:
            self.other_load = max(0.0, (after - busy - own) / t)
        return t


def stats(samples: list[float]) -> dict:
    """Median, min, max and quartiles of per-measurement images/s, with the samples."""
    s = np.asarray(samples, dtype=np.float64)
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return {
        "median": float(med),
        "min": float(s.min()),
        "max": float(s.max()),
        "q1": float(q1),
        "q3": float(q3),
        "samples": [float(v) for v in s],
    }


def warm_up(runner: Runner, steps: int = 3, seconds: float = 0.0) -> None:
    """Run at least ``steps`` steps and at least ``seconds`` of them, untimed."""
    runner.run(steps)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        runner.run(steps)


def calibrate(runner: Runner, seconds: float, max_steps: int = 1 << 20) -> int:
    """How many steps make one measurement last about ``seconds`` (at least 1).

    Doubles a trial count until a trial takes a tenth of the budget, then scales.
    """
    n = 1
    while True:
        t = runner.run(n)
        if t >= 0.1 * seconds or n >= max_steps:
            break
        n *= 2
    return int(min(max_steps, max(1, math.ceil(n * seconds / max(t, 1e-9)))))


class Unavailable(Exception):
    """A runner that could not be built or run (no torch, a torch.compile failure, …)."""


def reason(exc: BaseException) -> str:
    """'Type: the first line of the message', at most 300 characters."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


QUIET_TIMEOUT = 10.0  # seconds to wait for a quiet machine before each round


def wait_quiet(max_load: float, timeout: float | None = None, window: float = 0.2):
    """Wait (up to ``timeout`` s) for a ``window`` in which the machine's other processes
    use at most ``max_load`` cores; returns the last load seen (None off Linux)."""
    deadline = time.perf_counter() + (QUIET_TIMEOUT if timeout is None else timeout)
    while True:
        busy, own, start = _busy_seconds(), time.process_time(), time.perf_counter()
        time.sleep(window)
        after = _busy_seconds()
        if busy is None or after is None:
            return None
        load = (after - busy - (time.process_time() - own)) / (time.perf_counter() - start)
        if load <= max_load or time.perf_counter() > deadline:
            return load


def alternate(
    runners: list[Runner],
    repeats: int,
    seconds: float,
    warmup_steps: int = 3,
    max_load: float | None = None,
    quiet_timeout: float | None = None,
    gap: float = 0.0,
) -> dict[str, dict]:
    """Measure the runners in rounds (each once, in turn, round k starting at runner k mod
    their number); per name, stats or why it failed.

    ``gap``: seconds of idle before each measurement, so that the worker threads the last
    runner left spinning (OpenMP's, OpenBLAS's wait for more work for a while) have gone to
    sleep and take no core from the next one: each side starts alike.

    With ``max_load``, each round starts once the machine is quiet (``wait_quiet``, at
    most ``quiet_timeout`` s, default ``QUIET_TIMEOUT``) and
    a round in which other processes used more than ``max_load`` cores during any
    measurement is thrown away and run again (at most 2·repeats times; after that
    loaded rounds are kept, and ``other_load_cores`` shows it). A runner that raises
    (an unfinished gpunn op, a torch.compile failure) is reported as
    ``{"available": False, "reason": …}`` and dropped; the others go on.
    """
    results: dict[str, dict] = {}
    steps: dict[str, int] = {}
    live: list[Runner] = []

    def fail(r: Runner, exc: Exception) -> None:
        if r in live:
            live.remove(r)
        results[r.name] = {"available": False, "reason": reason(exc)}

    for r in runners:
        try:
            warm_up(r, warmup_steps, seconds=min(0.5, seconds))
            steps[r.name] = calibrate(r, seconds)
            live.append(r)
        except Exception as exc:
            fail(r, exc)
    samples: dict[str, list[float]] = {r.name: [] for r in live}
    loads: dict[str, list[float]] = {r.name: [] for r in live}
    rounds = discarded = 0
    while rounds < repeats and live:
        if max_load is not None:
            wait_quiet(max_load, quiet_timeout)
        got = {}
        first = (rounds + discarded) % len(live)
        for r in live[first:] + live[:first]:
            time.sleep(gap)
            try:
                t = r.run(steps[r.name])
            except Exception as exc:
                fail(r, exc)
                continue
            got[r.name] = (steps[r.name] * r.batch_size / t, r.other_load)
        loaded = max_load is not None and any((v or 0.0) > max_load for _, v in got.values())
        if loaded and discarded < 2 * repeats:
            discarded += 1
            continue
        rounds += 1
        for name, (v, load) in got.items():
            samples[name].append(v)
            if load is not None:
                loads[name].append(load)
    for r in live:
        results[r.name] = {
            "available": True,
            **stats(samples[r.name]),
            "steps": steps[r.name],
            "other_load_cores": max(loads[r.name]) if loads[r.name] else None,
            "rounds_discarded": discarded,
            **r.info,
        }
    return results
