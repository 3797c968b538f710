#!/bin/bash
# The planned evaluations (all60k-80epochs-seed1-planned.txt), each command echoed before its output.
export GPUNN_DATA=/work/shared/data/mnist
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
S1=/work/runs/beyond80-seed1/final-fast-cosine80-all60k-seed1-cpu.npz
S0=/work/runs/beyond80/final-fast-cosine80-all60k-seed0-cpu.npz
A=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed2-cpu.npz
B=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed3-cpu.npz
g evaluate $S1; g evaluate $S1 --test-shifts
g evaluate $S0 $S1; g evaluate $S0 $S1 --test-shifts
g evaluate $S0 $S1 $A $B; g evaluate $S0 $S1 $A $B --test-shifts
