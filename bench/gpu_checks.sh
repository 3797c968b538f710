#!/usr/bin/env bash
# The checks that need a GPU, in stages, each writing its log (and JSON) to $OUT.
#
#   bash bench/gpu_checks.sh STAGE...     (on the lent machine, in the repository root)
#
# Stages:
#   env        nvidia-smi, library versions, whether gpunn sees the GPU
#   tests      the whole test suite on the real device (GPU halves included)
#   focus      the tests of what changed since the last GPU run: the kernels, cuBLAS, the
#              training step as a CUDA graph against eager steps (a minute or so)
#   sanitizer  the kernel tests under compute-sanitizer memcheck (CUDA API errors not
#              reported: numba-cuda's start-up probes driver symbols the driver lacks)
#   racecheck  the tests of the kernels with shared memory under compute-sanitizer racecheck
#   bench      bench/run.py --device gpu: the kernel micro-benchmarks and peak memory, then
#              fc30, conv2-relu, final at m = 10, 64, 256, 1024 against torch eager (cuDNN)
#   quick-bench  conv2-relu and final training at m = 10, 64, 256, 1024 against torch eager
#              and gpunn-eager (gpunn without CUDA graphs: their A/B), no kernel rows
#   compile    conv2-relu and final training at m = 10, 64, 256 against torch eager and
#              torch.compile (compiling each shape takes a while: a stage of its own)
#   probe      bench/launch_probe.py: host µs per launch, the two weight-gradient kernels,
#              host- or device-bound steps at m = 10, whether a step can be a CUDA graph
#              (PROBE_ONLY="methods step ..." for some of them: launch methods
#              weight_gradient step graph; PROBE_STEPS steps per network)
#   conv2-relu gpunn train --preset conv2-relu --device gpu (60 epochs), with $CONV2's flags
#              (e.g. CONV2="--ema 0.9999", the weights' moving average; default: none) and
#              seed $SEED (default 0)
#   final-fast the final-fast preset (final at mini-batch 256, η 0.8 = η·m/10, warm-up 1
#              epoch): the recipe for the 2-minute goal (bench/results/accuracy/README.md)
#   ensemble-fast  the ensemble5-fast preset: five of those (seeds 0–4), voting and averaging
#   beyond     final-fast with $BEYOND's flags (default: all 60,000 images with the book's
#              shifts, 40 epochs, η cosine-annealed: on the CPU its six seeds averaged
#              99.653 %, the 80-epoch run's two 99.655 % at twice the cost, and two nets of
#              it make 99.70-99.72 %, bench/results/accuracy/beyond/; the other candidate is
#              BEYOND="--validation-size 0 --expand distort --distort-strength 0.5
#              --distort-scale 0.1 --elastic-alpha 0 --epochs 400 --warmup 2 --anneal
#              cosine") and seed $SEED (default 0), saved to $OUT for `gpunn evaluate` of
#              several seeds as an ensemble
# Training stages stop cleanly (SIGTERM: a checkpoint) after TRAIN_LIMIT seconds (default
# 560, inside a 600 s device call); resume with `python -m gpunn train --resume FOLDER
# --metrics NEW --save NEW` after carrying the checkpoint folder back (a resumed run would
# otherwise write to the old call's $OUT paths).
#
# BUDGET=S (seconds, for a whole device call): each stage gets what is left of S, less 20 s
# (a stage with under 20 s left is skipped and says so; one that outstays its time gets
# SIGTERM, then SIGKILL 15 s later; training stages stop 30 s earlier, with a checkpoint,
# and are skipped with under MIN_TRAIN s to train, default 60), and after each stage its
# logs and JSON under $OUT are moved into one .tar there (a call
# brings back at most 8 files). For the 15-minute sessions: BUDGET=570 with timeout_s 600.
# With or without BUDGET, focus, quick-bench and probe stop after FOCUS_CAP, QUICK_CAP and
# PROBE_CAP seconds (defaults 180, 180, 90): one that hangs leaves the later stages their
# time (the benchmarks' JSON is rewritten after every row, so a stage cut short keeps them).
#
# Data: GPUNN_DATA (default .data/mnist, a copy of ../shared/data/mnist named in `carry`).
# No network on that machine: gpunn goes on PYTHONPATH, nothing is installed.
set -uo pipefail
for var in BUDGET TRAIN_LIMIT MIN_TRAIN FOCUS_CAP QUICK_CAP PROBE_CAP; do  # seconds, if set
    if [ -n "${!var:-}" ] && ! [[ ${!var} =~ ^[1-9][0-9]*$ ]]; then
        echo "$var=${!var}: give a whole number of seconds above 0" >&2
        exit 2
    fi
done
OUT=${OUT:-bench/results/gpu-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$OUT"
export GPUNN_DATA=${GPUNN_DATA:-.data/mnist} PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
TRAIN_LIMIT=${TRAIN_LIMIT:-560}
stamp=$(date -u +%Y-%m-%d)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

left() {  # seconds this call may still spend on stages (a large number without BUDGET)
    if [ -n "${BUDGET:-}" ]; then echo $((BUDGET - SECONDS - 20)); else echo 1000000; fi
}

train_limit() {  # TRAIN_LIMIT, or less when the budget has less left (30 s to checkpoint)
    local l
    l=$(($(left) - 30))
    echo $((l < TRAIN_LIMIT ? l : TRAIN_LIMIT))
}

pack() {  # with BUDGET: move the logs and JSON so far into one tar under $OUT, appending
    [ -n "${BUDGET:-}" ] || return 0
    (cd "$OUT" && find . -maxdepth 1 -type f \( -name '*.log' -o -name '*.json' -o -name '*.jsonl*' \) \
        -printf '%P\n' | sort | tar rf "results-$stamp-$commit.tar" -T - --remove-files) 2>/dev/null
    return 0
}

run() {  # [CAP=S] run NAME CMD...: CMD's output to $OUT/NAME.log and the terminal; its
    local name=$1 l  # status. It gets what is left of BUDGET, at most CAP seconds
    shift
    l=$(left)
    if [ "$l" -lt 20 ]; then
        echo "== $name: skipped, ${l}s of BUDGET=$BUDGET left" | tee "$OUT/$name.log"
        return 0
    fi
    if [ -n "${CAP:-}" ] && [ "$CAP" -lt "$l" ]; then l=$CAP; fi
    echo "== $name: $*  # commit $commit, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname)" | tee "$OUT/$name.log"
    timeout -k 15 "$l" "$@" 2>&1 | tee -a "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $SECONDS s of the call" | tee -a "$OUT/$name.log"
    return "$rc"
}

run_train() {  # run_train NAME CMD...: run NAME, CMD under timeout $(train_limit) (SIGTERM:
    local name=$1 l  # a checkpoint); skipped when that leaves under MIN_TRAIN s
    shift
    l=$(train_limit)
    if [ "$l" -lt "${MIN_TRAIN:-60}" ]; then
        echo "== $name: skipped, ${l}s left to train (MIN_TRAIN=${MIN_TRAIN:-60})" | tee "$OUT/$name.log"
        return 0
    fi
    run "$name" timeout "$l" "$@"
}

STAGES="env tests focus sanitizer racecheck bench quick-bench compile probe conv2-relu final-fast ensemble-fast beyond"
for stage in "$@"; do  # every name checked before any stage runs
    case " $STAGES " in
    *" $stage "*) ;;
    *)
        echo "unknown stage $stage ($STAGES)" >&2
        exit 2 ;;
    esac
done

for stage in "$@"; do
    case $stage in
    env)
        run env python bench/gpu_env.py ;;
    tests)
        # PYTEST_WORKERS=8: pytest-xdist's workers (pytest-benchmark, also in the image,
        # warns that xdist disables it, an error under filterwarnings: so -p no:benchmark)
        run tests python -m pytest -q -p no:cacheprovider -rs \
            ${PYTEST_WORKERS:+-n "$PYTEST_WORKERS" -p no:benchmark} ;;
    focus)
        CAP=${FOCUS_CAP:-180} run focus python -m pytest -q -p no:cacheprovider -rs \
            ${PYTEST_WORKERS:+-n "$PYTEST_WORKERS" -p no:benchmark} \
            tests/kernels tests/functions tests/test_step.py tests/test_optim.py tests/test_network.py ;;
    sanitizer)
        run sanitizer compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 1 \
            python -m pytest -q -p no:cacheprovider tests/kernels -m "not slow" ;;
    racecheck)  # shared-memory races in the kernels that use it (tiled, weight gradient)
        run racecheck compute-sanitizer --tool racecheck --report-api-errors no \
            --error-exitcode 1 python -m pytest -q -p no:cacheprovider tests/kernels \
            -m "not slow" -k "tiled or weight" ;;
    bench)  # about 24 rows × (3 + 3) half-second rounds: a few minutes in all
        run bench python bench/run.py --device gpu --presets fc30,conv2-relu,final \
            --batch-sizes 10,64,256,1024 --peers torch --repeats 3 --seconds 0.5 --kernels \
            --json "$OUT/bench-gpu-$stamp-$commit.json" ;;
    quick-bench)
        CAP=${QUICK_CAP:-180} run quick-bench python bench/run.py --device gpu --presets conv2-relu,final \
            --batch-sizes 10,64,256,1024 --modes train --peers torch,gpunn-eager --repeats 3 \
            --seconds 0.3 --no-kernels --json "$OUT/bench-gpu-quick-$stamp-$commit.json" ;;
    compile)
        run compile python bench/run.py --device gpu --presets conv2-relu,final \
            --batch-sizes 10,64,256 --modes train --peers torch,torch-compile --repeats 3 \
            --seconds 0.5 --no-kernels --json "$OUT/bench-gpu-compile-$stamp-$commit.json" ;;
    probe)
        # shellcheck disable=SC2086  # PROBE_ONLY: a list of probe names (default: all)
        CAP=${PROBE_CAP:-90} run probe python bench/launch_probe.py --steps "${PROBE_STEPS:-2000}" \
            ${PROBE_ONLY:+--only $PROBE_ONLY} --json "$OUT/launch-probe-$stamp-$commit.json" ;;
    conv2-relu)
        # shellcheck disable=SC2086  # $CONV2 is a list of flags
        run_train train-conv2-relu python -m gpunn train --preset conv2-relu ${CONV2:-} \
            --seed "${SEED:-0}" --device gpu --no-progress --metrics "$OUT/conv2-relu-gpu.jsonl" \
            --checkpoint-dir "$OUT/conv2-relu-ckpt" --keep-checkpoints 1 ;;
    final-fast)
        run_train train-final-fast python -m gpunn train \
            --preset final-fast --device gpu --no-progress \
            --metrics "$OUT/final-fast-gpu.jsonl" --save "$OUT/final-fast-gpu.npz" \
            --checkpoint-dir "$OUT/final-fast-ckpt" --keep-checkpoints 1 ;;
    ensemble-fast)
        # $OUT brings back 8 files of ≤ 16 MiB: the log and metrics (the members' and the
        # ensemble's accuracies), not the 33 MB ensemble or the members' checkpoints
        run_train train-ensemble-fast python -m gpunn train \
            --preset ensemble5-fast --device gpu --no-progress \
            --metrics "$OUT/ensemble-fast-gpu.jsonl" \
            --checkpoint-dir /tmp/ensemble-fast-ckpt --keep-checkpoints 1 ;;
    beyond)
        name=beyond-seed${SEED:-0}
        # shellcheck disable=SC2086  # $BEYOND is a list of flags
        run_train "train-$name" python -m gpunn train --preset final-fast \
            ${BEYOND:---validation-size 0 --anneal cosine} \
            --seed "${SEED:-0}" --device gpu --no-progress \
            --metrics "$OUT/$name-gpu.jsonl" --save "$OUT/$name-gpu.npz" \
            --checkpoint-dir "$OUT/$name-ckpt" --keep-checkpoints 1 ;;
    esac
    pack  # after every stage: what is done comes back even if the call is cut short
done
[ -z "${BUDGET:-}" ] || echo "== logs and JSON in $OUT/results-$stamp-$commit.tar"
