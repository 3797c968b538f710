#!/usr/bin/env python
"""Where one gpunn training (or inference) step spends its time, by cProfile.

    python bench/profile_step.py --preset conv2-relu --batch-size 10 --seconds 5

Runs the very step ``gpunn bench`` times (after a warm-up that compiles every JIT
function) under cProfile for about ``--seconds``, then prints the functions with the
most time of their own, per step in µs, and the whole step's time with and without
the profiler. ``--sort cumulative`` shows callers' totals instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from gpunn.benchmark.subjects import gpunn_runner, load_images, make_pool
    from gpunn.benchmark.timing import calibrate, warm_up
    from gpunn.presets import get_preset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="fc30")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--data", choices=["auto", "mnist", "random"], default="auto")
    p.add_argument("--sort", choices=["tottime", "cumulative"], default="tottime")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)

    preset = get_preset(args.preset)
    pool = make_pool(load_images(args.data), args.batch_size, preset.input_shape)
    runner = gpunn_runner(preset, args.mode, pool, args.device)
    with np.errstate(all="ignore"):
        warm_up(runner, 5, 0.5)
        n = calibrate(runner, args.seconds)
        plain = runner.run(n) / n
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        runner.run(n)
        prof.disable()
        profiled = (time.perf_counter() - start) / n
    print(
        f"{args.preset} {args.mode} m={args.batch_size} on {args.device}: "
        f"{plain * 1e6:,.1f} µs/step ({args.batch_size / plain:,.0f} img/s), "
        f"{profiled * 1e6:,.1f} µs/step under cProfile; {n} steps; times below are per step"
    )
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2 if args.sort == "tottime" else 3])
    print(f"{'own µs':>9} {'cum µs':>9} {'calls':>7}  function")
    for (path, line, name), (_, calls, own, cum, _) in rows[: args.top]:
        where = f"{path.split('site-packages/')[-1].split('/main/')[-1]}:{line}"
        label = f"{name} ({where})" if path != "~" else name
        print(f"{own / n * 1e6:>9.1f} {cum / n * 1e6:>9.1f} {calls / n:>7.1f}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
