#!/bin/bash
# The twelfth round's planned evaluations (deskew-seed7-planned.txt), each command echoed before its output.
export GPUNN_DATA=/work/shared/data/mnist
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
D6=/work/runs/deskew-seed6/deskew-final-fast-cosine-all60k-seed6-cpu.npz
D7=/work/runs/deskew-seed7/deskew-final-fast-cosine-all60k-seed7-cpu.npz
M=/work/runs/all60k-m64-seed5/final-fast-m64-cosine-all60k-seed5-cpu.npz
S4=/work/runs/all60k-seed4/final-fast-cosine-all60k-seed4-cpu.npz
S0=/work/runs/beyond80/final-fast-cosine80-all60k-seed0-cpu.npz
S1=/work/runs/beyond80-seed1/final-fast-cosine80-all60k-seed1-cpu.npz
A=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed2-cpu.npz
B=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed3-cpu.npz
g evaluate $D7; g evaluate $D7 --test-shifts
g evaluate $D6 $D7; g evaluate $D6 $D7 --test-shifts
g evaluate $S0 $S1 $D7; g evaluate $S0 $S1 $D7 --test-shifts
g evaluate $S0 $S1 $D6 $D7; g evaluate $S0 $S1 $D6 $D7 --test-shifts
g evaluate $S0 $S1 $S4 $A $B $D6 $D7; g evaluate $S0 $S1 $S4 $A $B $D6 $D7 --test-shifts
g evaluate $S0 $S1 $S4 $A $B $M $D6 $D7; g evaluate $S0 $S1 $S4 $A $B $M $D6 $D7 --test-shifts
cd /work/main && echo "\$ python bench/ensemble_errors.py S0 S1 S4 EMA2 EMA3 DESKEW6 DESKEW7 --out bench/results/accuracy/beyond/shared-errors-with-two-deskewed.png" && \
  .venv/bin/python bench/ensemble_errors.py $S0 $S1 $S4 $A $B $D6 $D7 --out bench/results/accuracy/beyond/shared-errors-with-two-deskewed.png 2>&1
