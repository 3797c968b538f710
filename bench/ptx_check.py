#!/usr/bin/env python
"""Compile the CUDA kernels to PTX for a GPU architecture and count what should not be there.

    python bench/ptx_check.py [--cc 9.0] [--json FILE]

For each kernel at the book's shapes, float32: PTX lines, float64 instructions (a float32
kernel should have none: a stray Python float promotes), local memory (register spills or
arrays the compiler could not keep in registers) and integer divisions or remainders
(the kernels built per shape should have none). Needs NVVM (``numba-cuda[cu13]`` or
``[cu12]``), not a GPU: without one, the current device's compute capability, which
numba-cuda asks for when a kernel calls a device function, is taken from ``--cc``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def kernels() -> dict:
    """{name: (python function, signature)} of the kernels checked."""
    from numba import types

    from gpunn.kernels import conv_gemm, dropout, pool

    f32, i8 = types.float32, types.int8
    c4, a4, c2 = types.Array(f32, 4, "C"), types.Array(f32, 4, "A"), types.Array(f32, 2, "C")
    out = {
        "dropout_mask": (
            dropout.dropout_mask_kernel,
            (types.Array(types.int64, 1, "C"), types.int64, types.int64, types.int64, f32[::1]),
        )
    }
    dt = np.dtype("float32")
    for layer, (c, h, w) in (("conv1", (1, 28, 28)), ("conv2", (20, 12, 12))):
        out[f"im2col {layer}"] = (
            conv_gemm.im2col_kernel(dt, c, h, w, 5, 5, 1, 0),
            (c4, types.int64, c2),
        )
        out[f"col2im {layer}"] = (conv_gemm.col2im_kernel(dt, c, h, w, 5, 5, 1, 0), (c2, c4))
    for layer, (c, h, w) in (("pool1", (20, 24, 24)), ("pool2", (40, 8, 8))):
        for kind, name in enumerate(("max", "mean", "l2")):
            forward, backward = pool.pool_kernels(dt, c, h, w, 2, kind)
            out[f"pool {name} forward {layer}"] = (forward, (a4, c4, types.Array(i8, 4, "C")))
            out[f"pool {name} backward {layer}"] = (
                backward,
                (c4, a4, c4, types.Array(i8, 4, "C"), a4),
            )
    return {name: (k.py_func, sig) for name, (k, sig) in out.items()}


def count(ptx: str) -> dict:
    lines = ptx.splitlines()
    code = [line for line in lines if line.strip() and not line.lstrip().startswith("//")]
    return {
        "lines": len(code),
        "f64": sum(".f64" in line for line in code),
        "local": sum(".local" in line for line in code),
        "int_div_rem": sum(
            any(op in line for op in ("div.s", "div.u", "rem.s", "rem.u")) for line in code
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0 (H100, H200)")
    p.add_argument("--json", help="write the counts here as well")
    args = p.parse_args(argv)
    cc = tuple(int(v) for v in args.cc.split("."))

    from numba import cuda
    from numba.cuda import dispatcher

    if not cuda.is_available():  # device functions ask the current device for its cc
        dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=cc)
    rows = {}
    for name, (fn, sig) in kernels().items():
        try:
            ptx, _ = cuda.compile_ptx(fn, sig, cc=cc)
            rows[name] = count(ptx)
        except Exception as exc:  # no NVVM, or a kernel that does not compile: say which
            rows[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    width = max(map(len, rows))
    print(f"{'kernel':<{width}}  lines  f64  local  int div/rem   (sm_{cc[0]}{cc[1]}, float32)")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:<{width}}  {r['error']}")
        else:
            print(
                f"{name:<{width}}  {r['lines']:>5}  {r['f64']:>3}  {r['local']:>5}  "
                f"{r['int_div_rem']:>11}"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cc": list(cc), "kernels": rows}, f, indent=1)
    return 1 if any("error" in r for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
