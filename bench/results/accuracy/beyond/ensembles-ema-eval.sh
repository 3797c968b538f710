#!/bin/bash
# The planned evaluations (ema-planned.txt, point 3), each command echoed before its output.
cd /work/runs/ema
export GPUNN_DATA=/work/shared/data/mnist OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
g() { echo "\$ gpunn $*"; /work/main/.venv/bin/python -m gpunn "$@" --device cpu 2>&1; echo; }
echo "# commit $(git -C /work/main rev-parse --short HEAD), $(date -u +%FT%TZ)"
A=ema0.9995-final-fast-cosine-all60k-seed2-cpu.npz; B=ema0.9995-final-fast-cosine-all60k-seed3-cpu.npz
# the last checkpoints: with --trained-weights the weights trained, else their average
CA=$(ls ckpt-seed2/ckpt-*.npz | tail -1); CB=$(ls ckpt-seed3/ckpt-*.npz | tail -1)
for net in $A $B; do g evaluate $net; g evaluate $net --test-shifts; done
for ck in $CA $CB; do g evaluate $ck --trained-weights; g evaluate $ck --trained-weights --test-shifts; done
g evaluate $A $B; g evaluate $A $B --test-shifts
g evaluate $CA $CB --trained-weights; g evaluate $CA $CB --trained-weights --test-shifts
