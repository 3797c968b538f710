"""Evaluation of the 10,000 test images (batch 1000, as training's per-epoch evaluation):
split whole network (5adb6f3) vs the per-layer split before it; alternated."""
import time, statistics as st
from gpunn import replicas
from gpunn.presets import get_preset
from gpunn.data.datasets import load
d = load("mnist")
_pf = replicas.parts_for
for name in ("conv2-relu", "final"):
    net = get_preset(name).network("cpu")
    x, y = d.test.x.reshape(-1, 1, 28, 28), d.test.y
    res = {"old": [], "new": []}
    for r in range(6):
        for mode in ("old", "new"):
            replicas.parts_for = (lambda n, m, train=True: 1 if not train else _pf(n, m, train)) if mode == "old" else _pf
            time.sleep(0.5)
            t = time.perf_counter(); c, _ = net.evaluate(x, y, cost=True); res[mode].append(time.perf_counter() - t)
    print(name, {k: f"{st.median(v):.3f} s [{min(v):.3f}-{max(v):.3f}]" for k, v in res.items()}, int(c), flush=True)
