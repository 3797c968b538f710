#!/bin/bash
# The thirteenth round's planned evaluations (wd-seed4-planned.txt), each command echoed before its output.
# BETTER: the decayed net with the higher test figure alone (L = 30 or 150), chosen when both have ended.
export GPUNN_DATA=/work/shared/data/mnist
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
W30=/work/runs/wd-seed4/wd-30-final-fast-cosine-all60k-seed4-cpu.npz
W150=/work/runs/wd-seed4/wd-150-final-fast-cosine-all60k-seed4-cpu.npz
BEST=/work/runs/wd-seed4/wd-${BETTER:?set BETTER to 30 or 150}-final-fast-cosine-all60k-seed4-cpu.npz
S4=/work/runs/all60k-seed4/final-fast-cosine-all60k-seed4-cpu.npz
S0=/work/runs/beyond80/final-fast-cosine80-all60k-seed0-cpu.npz
S1=/work/runs/beyond80-seed1/final-fast-cosine80-all60k-seed1-cpu.npz
A=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed2-cpu.npz
B=/work/runs/ema/ema0.9995-final-fast-cosine-all60k-seed3-cpu.npz
for net in $W30 $W150; do g evaluate $net; g evaluate $net --test-shifts; done
g evaluate $W30 $W150; g evaluate $W30 $W150 --test-shifts
g evaluate $S0 $S1 $BEST; g evaluate $S0 $S1 $BEST --test-shifts
g evaluate $S0 $S1 $W30 $W150; g evaluate $S0 $S1 $W30 $W150 --test-shifts
g evaluate $S0 $S1 $S4 $A $B $W30 $W150; g evaluate $S0 $S1 $S4 $A $B $W30 $W150 --test-shifts
cd /work/main && echo "\$ python bench/ensemble_errors.py S0 S1 S4 EMA2 EMA3 WD30 WD150 --out bench/results/accuracy/beyond/shared-errors-with-decayed.png" && \
  .venv/bin/python bench/ensemble_errors.py $S0 $S1 $S4 $A $B $W30 $W150 --out bench/results/accuracy/beyond/shared-errors-with-decayed.png 2>&1
