#!/usr/bin/env python
"""How long one epoch of fresh distortions takes on the CPU: the Numba loop against the
vectorised warp it replaced, alternated so that drift hits both.

    python bench/distort_speed.py --images 50000 --strength 0.5 --repeats 3 --json out.json

Times ``distort_epoch`` (random draws, elastic blurs, warp, clip) on MNIST training
images (random ones where MNIST is absent), once with ``gpunn.kernels.warp`` and once
with the vectorised ``_warp`` in its place; prints the medians and the one-minute load
average before and after (another process on the cores inflates both).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from gpunn.backend import get_device
    from gpunn.benchmark.report import environment
    from gpunn.benchmark.subjects import load_images
    from gpunn.data import expand

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--strength", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write the medians and every time here")
    args = p.parse_args(argv)

    images = load_images("auto", n=args.images)
    x = np.ascontiguousarray(images.x, dtype=np.float32)
    numba_warp = expand._warp_cpu

    def vectorised_warp(moved, cos, sin, shift, field, out):
        out[...] = expand._warp(moved, cos, sin, shift, field, np)

    ways = {"numba loop": numba_warp, "vectorised": vectorised_warp}
    times: dict[str, list[float]] = {name: [] for name in ways}
    load_before = os.getloadavg()[0]
    try:
        for epoch in range(args.repeats + 1):  # the first round compiles and is not kept
            for name, warp in ways.items():
                expand._warp_cpu = warp
                start = time.perf_counter()
                expand.distort_epoch(x, 0, epoch, (1, 28, 28), args.strength)
                if epoch:
                    times[name].append(time.perf_counter() - start)
    finally:
        expand._warp_cpu = numba_warp
    load_after = os.getloadavg()[0]

    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"distort_epoch, {len(x):,} {images.source} images, strength {args.strength:g}")
    for name, t in times.items():
        print(f"  {name:<11} median {medians[name]:6.2f} s   ({', '.join(f'{s:.2f}' for s in t)})")
    speedup = medians["vectorised"] / medians["numba loop"]
    load = f"load average {load_before:.2f} before, {load_after:.2f} after"
    print(f"  speed-up {speedup:.2f}×; {load}")
    if args.json:
        record = {
            "environment": environment(get_device("cpu")),
            "images": len(x),
            "source": images.source,
            "strength": args.strength,
            "seconds": times,
            "median_seconds": medians,
            "speedup": speedup,
            "load_average_1min": [load_before, load_after],
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
