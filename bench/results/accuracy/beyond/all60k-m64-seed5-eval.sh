#!/bin/bash
# The tenth round's planned evaluations (all60k-m64-seed5-planned.txt), each command echoed before its output.
export GPUNN_DATA=/work/shared/data/mnist
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
M=/work/runs/all60k-m64-seed5/final-fast-m64-cosine-all60k-seed5-cpu.npz
S4=/work/runs/all60k-seed4/final-fast-cosine-all60k-seed4-cpu.npz
S0=/work/runs/beyond80/final-fast-cosine80-all60k-seed0-cpu.npz
S1=/work/runs/beyond80-seed1/final-fast-cosine80-all60k-seed1-cpu.npz
A=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed2-cpu.npz
B=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed3-cpu.npz
g evaluate $M; g evaluate $M --test-shifts
g evaluate $S0 $S1 $M; g evaluate $S0 $S1 $M --test-shifts
g evaluate $S0 $S1 $S4 $M; g evaluate $S0 $S1 $S4 $M --test-shifts
g evaluate $S0 $S1 $S4 $M $A $B; g evaluate $S0 $S1 $S4 $M $A $B --test-shifts
