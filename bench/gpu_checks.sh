#!/usr/bin/env bash
# The checks that need a GPU, in stages, each writing its log (and JSON) to $OUT.
#
#   bash bench/gpu_checks.sh STAGE...     (on the lent machine, in the repository root)
#
# Stages:
#   env        nvidia-smi, library versions, whether gpunn sees the GPU
#   tests      the whole test suite on the real device (GPU halves included)
#   sanitizer  the kernel tests under compute-sanitizer memcheck
#   bench      bench/run.py --device gpu: the kernel micro-benchmarks and peak memory, then
#              fc30, conv2-relu, final at m = 10, 64, 256, 1024 against torch eager (cuDNN)
#   compile    conv2-relu and final training at m = 10, 64, 256 against torch eager and
#              torch.compile (compiling each shape takes a while: a stage of its own)
#   conv2-relu gpunn train --preset conv2-relu --device gpu (60 epochs)
#
# Data: GPUNN_DATA (default .data/mnist, a copy of ../shared/data/mnist named in `carry`).
# No network on that machine: gpunn goes on PYTHONPATH, nothing is installed.
set -uo pipefail
OUT=${OUT:-bench/results/gpu-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
export GPUNN_DATA=${GPUNN_DATA:-.data/mnist} PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
stamp=$(date -u +%Y-%m-%d)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

run() {  # run NAME CMD...: CMD's output to $OUT/NAME.log and the terminal; its status
    local name=$1
    shift
    echo "== $name: $*" | tee "$OUT/$name.log"
    "$@" 2>&1 | tee -a "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc" | tee -a "$OUT/$name.log"
    return "$rc"
}

for stage in "$@"; do
    case $stage in
    env)
        run env python bench/gpu_env.py ;;
    tests)
        run tests python -m pytest -q -p no:cacheprovider -rs ;;
    sanitizer)
        run sanitizer compute-sanitizer --tool memcheck --error-exitcode 1 \
            python -m pytest -q -p no:cacheprovider tests/kernels -m "not slow" ;;
    bench)  # about 24 rows × (3 + 3) half-second rounds: a few minutes in all
        run bench python bench/run.py --device gpu --presets fc30,conv2-relu,final \
            --batch-sizes 10,64,256,1024 --peers torch --repeats 3 --seconds 0.5 --kernels \
            --json "$OUT/bench-gpu-$stamp-$commit.json" ;;
    compile)
        run compile python bench/run.py --device gpu --presets conv2-relu,final \
            --batch-sizes 10,64,256 --modes train --peers torch,torch-compile --repeats 3 \
            --seconds 0.5 --no-kernels --json "$OUT/bench-gpu-compile-$stamp-$commit.json" ;;
    conv2-relu)
        run train-conv2-relu python -m gpunn train --preset conv2-relu --device gpu --no-progress \
            --metrics "$OUT/conv2-relu-gpu.jsonl" ;;
    *)
        echo "unknown stage $stage (env tests sanitizer bench conv2-relu)" >&2
        exit 2 ;;
    esac
done
