#!/usr/bin/env python
"""A training step's time window by window, and where this process's busy threads ran.

    python bench/trace_step.py --preset conv2-relu --batch-size 64 --seconds 20

Runs the step ``gpunn bench`` times, back to back, for ``--seconds`` and prints for every
``--window`` seconds the median step time and, for each thread that used more than a tenth
of a core in the window, ``tid:cpu:share`` (the CPU it last ran on and its share of one
core, from /proc). Slow phases of seconds (not single slow steps) and whether the threads
shared a core show here; a profile of a few seconds cannot tell them apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def thread_ticks() -> dict[int, tuple[int, int]]:
    """{tid: (CPU last run on, user + system clock ticks)} of this process's threads."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[int(tid)] = (int(fields[36]), int(fields[11]) + int(fields[12]))
    return out


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from gpunn.benchmark.subjects import gpunn_runner, load_images, make_pool
    from gpunn.benchmark.timing import warm_up
    from gpunn.presets import get_preset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="conv2-relu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--window", type=float, default=0.5)
    p.add_argument("--data", choices=["auto", "mnist", "random"], default="auto")
    args = p.parse_args(argv)

    preset = get_preset(args.preset)
    pool = make_pool(load_images(args.data), args.batch_size, preset.input_shape)
    runner = gpunn_runner(preset, "train", pool, "cpu")
    hz = os.sysconf("SC_CLK_TCK")
    all_steps: list[float] = []
    with np.errstate(all="ignore"):
        warm_up(runner, 5, 0.5)
        start = last = time.perf_counter()
        before, steps = thread_ticks(), []
        while last - start < args.seconds:
            t = time.perf_counter()
            runner.run(1)
            steps.append(time.perf_counter() - t)
            if time.perf_counter() - last >= args.window:
                now, elapsed = thread_ticks(), time.perf_counter() - last
                last = time.perf_counter()
                busy = []
                for tid, (cpu, ticks) in sorted(now.items()):
                    share = (ticks - before.get(tid, (cpu, 0))[1]) / hz / elapsed
                    if share > 0.1:
                        busy.append(f"{tid}:{cpu}:{share:.2f}")
                median = float(np.median(steps)) * 1e3
                print(f"{last - start:6.1f} s  step {median:6.2f} ms  threads {' '.join(busy)}")
                all_steps += steps
                before, steps = now, []
    ms = np.array(all_steps) * 1e3
    p10, p50, p90 = np.percentile(ms, [10, 50, 90])
    print(
        f"{args.preset} m={args.batch_size}: {len(ms)} steps, median {p50:.2f} ms "
        f"({args.batch_size / p50 * 1e3:,.0f} img/s), p10 {p10:.2f}, p90 {p90:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
