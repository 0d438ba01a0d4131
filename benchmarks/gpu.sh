#!/usr/bin/env bash
# One command for a GPU owner to reproduce fastbrc's published GPU numbers.
#
#   bash benchmarks/gpu.sh                 # from a checkout after `uv sync --extra cuda12`
#   docker run --gpus all --entrypoint bash -v "$PWD/results:/opt/fastbrc/benchmarks/results" \
#       fastbrc /opt/fastbrc/benchmarks/gpu.sh     # in the Docker image (runs in /work)
#
# Writes JSON (and the runs' metrics) with the GPU's name in the file names:
#   1. benchmarks/results/throughput-gpu-<device>.json   fused trainer vs its parts vs a
#      Python loop, HumanoidWalk at 1024 / 4096 / 8192 envs (docs/results.md's throughput)
#   2. benchmarks/results/learning-HumanoidWalk-gpu-<device>.json   a timed learning run of
#      the GPU preset: eval return against wall-clock and env steps
#   3. the same for G1JoystickFlatTerrain when MuJoCo Menagerie is present (always in the
#      Docker image; in a checkout, Playground fetches it with git on first use)
#   4. benchmarks/results/scaling-gpu-<device>.json when the machine has several GPUs
#
# Knobs (environment variables): STEPS (env steps of each learning run, default 20000000),
# G1_STEPS (default 50000000), NUM_ENVS (throughput sweep, default "1024,4096,8192"),
# PYTHON (default: .venv/bin/python if present, else python).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
STEPS=${STEPS:-20000000}
G1_STEPS=${G1_STEPS:-50000000}
NUM_ENVS=${NUM_ENVS:-1024,4096,8192}
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}

backend=$("$PYTHON" -c 'import jax; print(jax.default_backend())')
if [[ "$backend" != "gpu" ]]; then
    echo "gpu.sh: JAX sees no GPU (backend: $backend); install the CUDA extra (uv sync --extra cuda12, or cuda13 for driver R580+) or use the Docker image" >&2
    exit 2
fi
gpus=$("$PYTHON" -c 'import jax; print(jax.device_count())')
echo "gpu.sh: $("$PYTHON" -c 'import jax; print(jax.devices()[0].device_kind)') x $gpus" >&2

echo "gpu.sh: 1/4 throughput sweep (HumanoidWalk at $NUM_ENVS envs)" >&2
"$PYTHON" benchmarks/throughput.py --envs HumanoidWalk --num-envs "$NUM_ENVS" --profile gpu

echo "gpu.sh: 2/4 learning run, HumanoidWalk, $STEPS env steps" >&2
"$PYTHON" benchmarks/learning.py --env HumanoidWalk --profile gpu --total-env-steps "$STEPS" \
    --num-devices 1

if "$PYTHON" -c 'from mujoco_playground._src import mjx_env; import sys; sys.exit(0 if mjx_env.MENAGERIE_PATH.exists() else 1)'; then
    echo "gpu.sh: 3/4 learning run, G1JoystickFlatTerrain, $G1_STEPS env steps" >&2
    "$PYTHON" benchmarks/learning.py --env G1JoystickFlatTerrain --profile gpu \
        --total-env-steps "$G1_STEPS" --num-devices 1
else
    echo "gpu.sh: 3/4 skipped: MuJoCo Menagerie is not present (G1 assets); the Docker image has it" >&2
fi

if (( gpus > 1 )); then
    counts=$("$PYTHON" -c "n=$gpus; print(','.join(str(2**i) for i in range(n.bit_length()) if 2**i <= n))")
    echo "gpu.sh: 4/4 scaling over $counts GPUs" >&2
    "$PYTHON" benchmarks/scaling.py --env HumanoidWalk --profile gpu --devices "$counts"
else
    echo "gpu.sh: 4/4 skipped: one GPU (scaling needs several)" >&2
fi
echo "gpu.sh: done; results in benchmarks/results/" >&2
