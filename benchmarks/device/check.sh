#!/usr/bin/env bash
# The GPU device check: fastbrc on the lent GPU machine, in calls of at most 5 minutes.
#
#   bash benchmarks/device/check.sh queue        # the experiment queue (issue 32): the next
#                                                #    experiments not yet committed, as many as
#                                                #    fit BUDGET_S (default 540 s): queue.py
#   bash benchmarks/device/check.sh throughput   # 1. throughput sweep (about 4-5 min)
#   bash benchmarks/device/check.sh learning     # 2. a 210 s HumanoidWalk learning run
#   bash benchmarks/device/check.sh all --small  # the CPU rehearsal: both, sizes shrunk
#   bash benchmarks/device/check.sh fasttd3      # 3. FastTD3 (published config) vs fastbrc's
#                                                #    GPU preset, HumanoidWalk, same wall-clock
#   bash benchmarks/device/check.sh profile      # where an iteration's time goes (1024 envs):
#                                                #    env, collect, learn, fused apart + a trace
#
# Step 3 also needs benchmarks/device/fasttd3 (python3 benchmarks/device/fetch_fasttd3.py here:
# FastTD3's source at 229ed59 and tensordict's wheels; carry it too). torch is the machine's.
# Its CPU rehearsal needs a torch for the trainer, e.g. FastTD3's own environment (Python
# 3.11, so not on the 3.12 SITE's path), and a SITE of its own (it adds tensordict there):
#   PYTHON=.venv-compat/gpu/bin/python SITE=/tmp/fastbrc-site-fasttd3 \
#   FASTTD3_PYTHON=benchmarks/peers/.venv-fasttd3/bin/python FASTTD3_PYTHONPATH=$PWD \
#   bash benchmarks/device/check.sh fasttd3 --small
#
# On the GPU machine (Python 3.12, jax 0.11.2, flax, optax, orbax preinstalled, no network),
# carry benchmarks/device/wheels (make device-bundle) and run from the repository root; the
# wheels are installed with pip --no-deps --target into $SITE (default /tmp/fastbrc-site) and
# put first on PYTHONPATH with the repository (fastbrc runs from the source tree). JSON goes
# to $OUT (the device tool brings that folder back), else to runs/device-check/.
# One line and the next step, never a traceback, for: no GPU (without --small), a missing
# wheel, a row that fails (out of memory at a size: the sweep goes on to the next row).
#
# Knobs: PYTHON (default python3), SITE, BUDGET_S (each step's wall-clock budget, default
# 270 s, under the 5-minute call; 900 s with --small), JAX_COMPILATION_CACHE_DIR (default /tmp/fastbrc-jax-cache,
# so a rerun within the machine's life skips compiles).
set -uo pipefail
cd "$(dirname "$0")/../.."

step=${1:-}
small=0
[[ "${2:-}" == "--small" ]] && small=1
case "$step" in
    queue | throughput | learning | all | fasttd3 | profile) ;;
    *) echo "check.sh: usage: check.sh queue|throughput|learning|all|fasttd3|profile [--small]" >&2; exit 2 ;;
esac

PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/fastbrc-site}
BUDGET_S=${BUDGET_S:-$( ((small)) && echo 900 || { [[ $step == queue ]] && echo 540 || echo 270; })}  # the CPU compiles slower
out=${OUT:-runs/device-check}
mkdir -p "$out"
# everything this step prints also goes to $out, so a call cut off by its time limit still
# brings back what it said (the first GPU call, piped through tail, brought back nothing)
exec > >(tee -a "$out/check-$step.log") 2>&1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/fastbrc-jax-cache}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=1
export PYTHONUNBUFFERED=1
say() { echo "check.sh: $*" >&2; }

# 1. The bundle: installed once per machine (a marker remembers which bundle).
wheels=benchmarks/device/wheels
if [[ ! -f "$wheels/MANIFEST.json" ]]; then
    say "no bundle at $wheels (run 'make device-bundle' here and carry that folder)"
    exit 2
fi
if ! cmp -s "$wheels/MANIFEST.json" "$SITE/.bundle-manifest.json" 2>/dev/null; then
    if ! log=$("$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$SITE" "$wheels"/*.whl 2>&1); then
        say "installing the bundle failed: $(echo "$log" | grep -v '^\s*$' | tail -n 1)"
        exit 2
    fi
    cp "$wheels/MANIFEST.json" "$SITE/.bundle-manifest.json"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"

# 2. What is there: the stack, and whether JAX sees a GPU.
if ! facts=$("$PYTHON" - <<'EOF' 2>&1
import sys, jax
import fastbrc.envs, mujoco, mujoco_playground  # noqa: F401 (the bundle imports)
d = jax.devices()[0]
print(f"python {sys.version.split()[0]} jax {jax.__version__} mujoco {mujoco.__version__} "
      f"backend {jax.default_backend()} device {d.device_kind} x {jax.device_count()}")
EOF
); then
    say "the stack does not import: $(echo "$facts" | tail -n 1)"
    exit 2
fi
facts=$(echo "$facts" | tail -n 1)
say "$facts"
if [[ $small == 0 && "$facts" != *"backend gpu"* ]]; then
    say "JAX sees no GPU; pass --small for the CPU rehearsal"
    exit 2
fi

status=0
run_throughput() {
    if [[ $small == 1 ]]; then
        sizes=(--num-envs 8 --iterations 2 --repeats 1 --replay-capacity-per-env 256)
    else
        sizes=(--num-envs 1024,4096,8192 --iterations 50 --repeats 2)
    fi
    say "throughput: HumanoidWalk ${sizes[*]} (no row starts after $((BUDGET_S - 90)) s)"
    local started=$SECONDS
    "$PYTHON" benchmarks/throughput.py --envs HumanoidWalk --profile gpu "${sizes[@]}" \
        --deadline-s "$((BUDGET_S - 90))" --out "$out/device-throughput.json" || status=1
    # One G1JoystickFlatTerrain row (placeholder visual meshes when Menagerie is absent:
    # physics identical, tests/test_placeholder_meshes.py), if the time left allows it.
    local g1=(--num-envs 4096 --iterations 50 --repeats 2)
    [[ $small == 1 ]] && g1=(--num-envs 8 --iterations 2 --repeats 1 --replay-capacity-per-env 256)
    if (( SECONDS - started > BUDGET_S - 90 )); then
        say "throughput: G1JoystickFlatTerrain skipped: $((SECONDS - started)) s already spent"
        return
    fi
    "$PYTHON" benchmarks/device/placeholder_meshes.py >&2 || { status=1; return; }
    say "throughput: G1JoystickFlatTerrain ${g1[*]}"
    "$PYTHON" benchmarks/throughput.py --envs G1JoystickFlatTerrain --profile gpu "${g1[@]}" \
        --out "$out/device-throughput-G1.json" || status=1
}
run_learning() {
    if [[ $small == 1 ]]; then
        sizes=(--num-envs 16 --batch-size 512 --replay-capacity-per-env 512
            --iterations-per-chunk 20 --eval-every-env-steps 640 --num-eval-envs 4
            --max-wall-s 60)
    else
        # 3.5 minutes of training wall-clock, compile and evaluations included; an eval every ~1M env steps
        sizes=(--eval-every-env-steps 1000000 --max-wall-s 210)
    fi
    for env in HumanoidWalk; do
        say "learning: $env, GPU preset ${sizes[*]}"
        local run_dir="/tmp/fastbrc-device-$env-$(date +%Y%m%d-%H%M%S)"
        # the run's own stop is checked between chunks; a slow chunk can overrun the call, so
        # a hard stop, and the metrics so far come back either way
        timeout "$((BUDGET_S + 15))" "$PYTHON" benchmarks/learning.py --env "$env" --profile gpu \
            --total-env-steps 1000000000 --run-dir "$run_dir" \
            --out "$out/device-learning-$env.json" \
            --checkpoint-every 1000000000000 --no-save-buffer "${sizes[@]}" || status=1
        cp "$run_dir/metrics.jsonl" "$out/device-learning-$env-metrics.jsonl" 2>/dev/null \
            || say "learning: no metrics were written"
    done
}

run_fasttd3() {
    # FastTD3 at its published Playground config (1024 envs, batch 32768, bf16 autocast,
    # torch.compile reduce-overhead = CUDA graphs) and fastbrc's GPU preset, one after the
    # other on the same GPU, each for the same wall-clock (compile and evaluations included).
    local ft=benchmarks/device/fasttd3
    if [[ ! -f "$ft/MANIFEST.json" ]]; then
        say "fasttd3: no FastTD3 bundle at $ft (run 'python3 benchmarks/device/fetch_fasttd3.py' here and carry that folder)"
        status=1; return
    fi
    if ! cmp -s "$ft/MANIFEST.json" "$SITE/.fasttd3-manifest.json" 2>/dev/null; then
        if ! log=$("$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target "$SITE" "$ft"/wheels/*.whl 2>&1); then
            say "fasttd3: installing tensordict failed: $(echo "$log" | grep -v '^\s*$' | tail -n 1)"
            status=1; return
        fi
        cp "$ft/MANIFEST.json" "$SITE/.fasttd3-manifest.json"
    fi
    local budget sizes=()
    if [[ $small == 1 ]]; then
        budget=20; sizes=(--tiny --num-eval-envs 4)
    else
        budget=$(( (BUDGET_S - 70) / 2 ))  # two trainers, process starts and the last evals
    fi
    say "fasttd3: HumanoidWalk, FastTD3 vs fastbrc (GPU preset), ${budget}s each ${sizes[*]}"
    FASTTD3_PYTHON=${FASTTD3_PYTHON:-$PYTHON} "$PYTHON" benchmarks/peers.py --env HumanoidWalk \
        --trainers fasttd3,fastbrc --profile gpu --budget-s "$budget" --evals 6 \
        --fasttd3-src "$ft/FastTD3-229ed59" --out "$out/device-peers-fasttd3-HumanoidWalk.json" \
        "${sizes[@]}" || status=1
}

run_profile() {
    # benchmarks/profile_iteration.py: env only, collect only, learn only and fused, in ms per
    # iteration at the GPU preset's sizes, and a profiler trace of one collect and one fused call
    local sizes=(--num-envs 1024 --iterations 10 --repeats 2 --env-blocks 5)
    [[ $small == 1 ]] && sizes=(--num-envs 16 --iterations 2 --repeats 1 --env-blocks 2
        --replay-capacity-per-env 64 --override batch_size=512 --override critic_width=64)
    say "profile: HumanoidWalk, GPU preset ${sizes[*]}"
    timeout "$BUDGET_S" "$PYTHON" benchmarks/profile_iteration.py --env HumanoidWalk \
        --profile gpu "${sizes[@]}" --out "$out" || status=1
}

run_queue() {
    # the FastTD3 bundle, for the queue's FastTD3 experiment (installed once, like step 3)
    local ft=benchmarks/device/fasttd3
    if [[ -f "$ft/MANIFEST.json" ]] && ! cmp -s "$ft/MANIFEST.json" "$SITE/.fasttd3-manifest.json" 2>/dev/null; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" "$ft"/wheels/*.whl >/dev/null 2>&1 \
            && cp "$ft/MANIFEST.json" "$SITE/.fasttd3-manifest.json"
    fi
    "$PYTHON" benchmarks/device/placeholder_meshes.py >&2 || status=1
    say "queue: ${BUDGET_S} s"
    # the rehearsal runs every experiment: no committed result counts there
    local rehearsal=()
    ((small)) && mkdir -p "$out/none" && rehearsal=(--small --results-dir "$out/none")
    FASTTD3_PYTHON=${FASTTD3_PYTHON:-$PYTHON} "$PYTHON" benchmarks/device/gpu_queue.py \
        --budget-s "$BUDGET_S" --out "$out" "${rehearsal[@]}" || status=1
}

case "$step" in
    queue) run_queue ;;
    profile) run_profile ;;
    throughput) run_throughput ;;
    learning) run_learning ;;
    all) run_throughput; run_learning ;;
    fasttd3) run_fasttd3 ;;
esac
say "done (status $status); JSON in $out"
exit $status
