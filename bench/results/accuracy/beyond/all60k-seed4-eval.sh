#!/bin/bash
# The ninth round's planned evaluations (all60k-seed4-planned.txt), each command echoed before its output.
export GPUNN_DATA=/work/shared/data/mnist
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
S4=/work/runs/all60k-seed4/final-fast-cosine-all60k-seed4-cpu.npz
S0=/work/runs/beyond80/final-fast-cosine80-all60k-seed0-cpu.npz
S1=/work/runs/beyond80-seed1/final-fast-cosine80-all60k-seed1-cpu.npz
A=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed2-cpu.npz
B=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed3-cpu.npz
g evaluate $S4; g evaluate $S4 --test-shifts
g evaluate $S0 $S1 $S4; g evaluate $S0 $S1 $S4 --test-shifts
g evaluate $S0 $S1 $S4 $A $B; g evaluate $S0 $S1 $S4 $A $B --test-shifts
