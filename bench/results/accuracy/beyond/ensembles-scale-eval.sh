#!/bin/bash
# The planned evaluations (ensembles-planned.txt), each command echoed before its output.
cd /work/runs/scale
export GPUNN_DATA=/work/shared/data/mnist OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
A=distort0.5-scale0.1-cosine200-all60k-seed0-cpu.npz; B=distort0.5-scale0.1-cosine200-all60k-seed1-cpu.npz
C=../all60k/final-fast-cosine-all60k-seed0-cpu.npz; D=../all60k/final-fast-cosine-all60k-seed1-cpu.npz
for net in $A $B; do g evaluate $net; g evaluate $net --test-shifts; done
g evaluate $A $B; g evaluate $A $B --test-shifts
g evaluate $A $B $C $D; g evaluate $A $B $C $D --test-shifts
