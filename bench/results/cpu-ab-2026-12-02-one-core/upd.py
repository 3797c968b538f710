import time, numpy as np
from gpunn.optim import _cpu_update
from gpunn.kernels import threads
f=np.float32
w=np.random.rand(1000*1000).astype(f); g=np.random.rand(w.size).astype(f)
def one(): _cpu_update(g, f(0.1), f(0.03), f(1e-6), f(0), f(0), f(0), f(1), w, w, w)
def two():
    threads.split(w.size, 2, lambda lo, hi: _cpu_update(g[lo:hi], f(0.1), f(0.03), f(1e-6), f(0), f(0), f(0), f(1), w[lo:hi], w[lo:hi], w[lo:hi]), blas=False)
for fn in (one, two, one, two):
    fn(); t=time.perf_counter()
    for _ in range(200): fn()
    print(fn.__name__, (time.perf_counter()-t)/200*1e6, "us")
