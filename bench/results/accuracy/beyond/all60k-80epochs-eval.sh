#!/bin/bash
# The planned evaluations (all60k-80epochs-planned.txt), each command echoed before its output.
export GPUNN_DATA=/work/shared/data/mnist
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
N=/work/runs/beyond80/final-fast-cosine80-all60k-seed0-cpu.npz
A=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed2-cpu.npz
B=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed3-cpu.npz
g evaluate $N; g evaluate $N --test-shifts
g evaluate $N $A $B; g evaluate $N $A $B --test-shifts
