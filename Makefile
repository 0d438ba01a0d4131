# Two commands are the whole set-up: `make train` and `make test`.
# Needs only python3, make and git. uv comes from PATH, or from `python3 -m uv`, or is
# bootstrapped into .tools/ (a private venv, so PEP 668 system Pythons are fine too).
#
# Pythons: the main .venv uses Python 3.12 where one is found (python3.12 on PATH, or pyenv's),
# else python3: uv.lock forks by Python version and 3.12+ gets the newest JAX (0.11+ needs
# 3.12). The compatibility job (part of `make test`) runs the trainer's core tests on the
# oldest supported JAX (Python 3.11, PY311) and on the GPU machine's stack (jax 0.11.2,
# Python 3.12, the device bundle installed with pip --target: PY312).
find_python = $(shell for p in python$(1) $$(pyenv root 2>/dev/null)/versions/$(1)*/bin/python$(1); do \
	"$$p" -c '' >/dev/null 2>&1 && { command -v "$$p" || echo "$$p"; } && break; done)
PY311 ?= $(call find_python,3.11)
PY312 ?= $(call find_python,3.12)
PYTHON ?= $(or $(PY312),python3)
VENV := .venv
STAMP := $(VENV)/.installed
ARGS ?=
TEST_WORKERS ?= 2
# COMPAT=0 skips the compatibility job (e.g. on a machine without Python 3.11 and 3.12).
COMPAT ?= 1
UV := $(shell command -v uv 2>/dev/null || (python3 -m uv --version >/dev/null 2>&1 && echo "python3 -m uv") || echo .tools/bin/uv)

# JAX's CUDA extra for .venv (`uv sync` is exact: a sync without the extra uninstalls the CUDA
# plugin, so every sync here passes it). Unless given (EXTRAS=cuda13 for driver R580+, EXTRAS=
# for none): the extra .venv already has (jax-cuda12/13-plugin, e.g. from `uv sync --extra
# cuda12`), else cuda12 where an NVIDIA driver answers (nvidia-smi -L, or NVIDIA_DRIVER_FILE),
# else none. tests/test_makefile.py checks the choice with `make -n`.
NVIDIA_DRIVER_FILE ?= /proc/driver/nvidia/version
ifeq ($(origin EXTRAS),undefined)
EXTRAS := $(or $(shell ls -d $(VENV)/lib/python3*/site-packages/jax_cuda1[23]_plugin-*.dist-info \
	2>/dev/null | sed -n 's/.*jax_\(cuda1[23]\)_plugin-.*/\1/p' | tail -n 1),$(shell \
	{ nvidia-smi -L || test -e $(NVIDIA_DRIVER_FILE); } >/dev/null 2>&1 && echo cuda12))
endif
UV_EXTRAS := $(foreach extra,$(EXTRAS),--extra $(extra))
# The stamp records the extras it was synced with: other EXTRAS sync again.
STAMP_TEXT := extras=$(strip $(EXTRAS))
ifneq ($(strip $(shell cat $(STAMP) 2>/dev/null)),$(STAMP_TEXT))
.PHONY: $(STAMP)
endif

PEERS_STAMP := benchmarks/peers/.venv/.installed
COMPAT_DIR := .venv-compat
OLDEST_STAMP := $(COMPAT_DIR)/oldest/.installed
GPU_STAMP := $(COMPAT_DIR)/gpu/.installed
BUNDLE_STAMP := benchmarks/device/wheels/.fetched
# The trainer's core tests: projection, replay, a probe learning test, the chunk traced once,
# a HumanoidWalk smoke chunk, checkpoint save/restore (SIGKILL + exact resume).
COMPAT_TESTS := tests/test_distributional.py tests/test_replay.py tests/test_compat.py \
	tests/test_train.py::test_chunk_is_traced_once_and_same_seed_gives_identical_numbers \
	tests/test_train.py::test_bandit_probe_learns_optimal_action_and_value \
	tests/test_humanoid.py::test_humanoid_walk_two_chunks_have_finite_losses \
	tests/test_checkpoint.py::test_sigkill_then_resume_equals_the_uninterrupted_run

.PHONY: train test test-main compat compat-oldest compat-gpu peers-env peers-fasttd3-env \
	device-bundle \
	device-rehearsal docker-check bench clean

# Bootstrapped only when uv is neither on PATH nor importable (UV is then .tools/bin/uv).
UV_BOOTSTRAP := $(filter .tools/bin/uv,$(UV))
.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/pip install --quiet uv

$(STAMP): pyproject.toml uv.lock | $(UV_BOOTSTRAP)
	$(UV) sync --frozen $(UV_EXTRAS) --python $(PYTHON)
	@echo '$(STAMP_TEXT)' > $(STAMP)

# `make train`: where JAX sees a GPU, HumanoidWalk with the gpu preset; on a CPU, CPU_TRAIN_ENV
# (DM Control's walker: the humanoid does not learn in minutes on a CPU, docs/not-yet.md) for
# CPU_TRAIN_S seconds, compile included (ARGS="--max-wall-s 0" lifts the limit), saying first
# that the humanoid needs a GPU and how to train it there. TRAIN_ENV=NAME trains NAME anywhere.
# Then it plots the run and renders a 500-step video of its policy (skipped with a warning
# where rendering does not work; the walker and the humanoid walk out of the free camera's
# view, so their "side" camera, which follows them, films them). The run goes to TRAIN_RUN,
# default runs/<env>-<time>. Measured on a CPU (2-vCPU AMD EPYC VM, busy): 12 min 28 s in all,
# 116,000 env steps, eval return 945.7 at the end (docs/results.md).
CPU_TRAIN_ENV ?= WalkerWalk
CPU_TRAIN_S ?= 600
TRAIN_ENV ?=
TRAIN_TIME := $(shell date +%Y%m%d-%H%M%S)
train: $(STAMP)  ## train (HumanoidWalk on a GPU, WalkerWalk on a CPU) with the preset for this hardware, plot it, render a video
	@set -e; \
	backend=$$($(VENV)/bin/python -c 'import jax; print(jax.default_backend())' 2>/dev/null); \
	limit=; env=$(or $(TRAIN_ENV),HumanoidWalk); \
	if [ -z "$(TRAIN_ENV)" ] && [ "$$backend" = cpu ]; then \
		env=$(CPU_TRAIN_ENV); limit="--max-wall-s $(CPU_TRAIN_S)"; \
		echo "make train: JAX sees no GPU, so this trains $$env on the CPU for $(CPU_TRAIN_S) s (a walker"; \
		echo "  that learns to walk; README.md says what to expect). The humanoid needs a GPU: there"; \
		echo "  'make train' trains HumanoidWalk, or: $(VENV)/bin/fastbrc train --env HumanoidWalk --profile gpu"; \
	fi; \
	run=$(or $(TRAIN_RUN),runs/$$env-$(TRAIN_TIME)); \
	$(VENV)/bin/fastbrc train --env $$env --run-dir $$run $$limit $(ARGS); \
	$(VENV)/bin/fastbrc plot $$run; \
	case $$env in WalkerWalk|HumanoidWalk) camera="--camera side";; *) camera=;; esac; \
	$(VENV)/bin/fastbrc render --run-dir $$run --max-steps 500 $$camera \
		|| echo "make train: no video (rendering does not work here); the run is complete"; \
	echo "make train: run in $$run: learning_curves.png, videos/, metrics.jsonl."; \
	echo "  continue it:          $(VENV)/bin/fastbrc train --resume $$run --max-wall-s 0"; \
	echo "  the humanoid (GPU):   $(VENV)/bin/fastbrc train --env HumanoidWalk --profile gpu (or make train there)"

test: test-main  ## the whole test suite (CPU), then the compatibility job
	@if [ "$(COMPAT)" = 1 ]; then $(MAKE) --no-print-directory -j2 --output-sync=target compat; \
	else echo "make test: compatibility job skipped (COMPAT=$(COMPAT))"; fi

# The suite is written for a CPU: JAX_PLATFORMS=cpu runs it there on a GPU machine too, whose
# CUDA extra stays installed (unused by the tests).
test-main: $(STAMP) $(PEERS_STAMP)  ## the suite on the locked set, on TEST_WORKERS processes
	PY311=$(PY311) python3 benchmarks/peers/make_fasttd3_env.py --if-checkout
	$(VENV)/bin/ruff check fastbrc benchmarks tests
	JAX_PLATFORMS=cpu $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25 tests $(ARGS)

# ------------------------------------------------------------------ peers' own environment
peers-env: $(PEERS_STAMP)  ## Brax's training agents (jax 0.9.2) for benchmarks/peers.py
$(PEERS_STAMP): benchmarks/peers/pyproject.toml benchmarks/peers/uv.lock | $(UV_BOOTSTRAP)
	$(UV) sync --frozen --project benchmarks/peers --python $(PYTHON)
	@touch $@

# FastTD3's environment (torch 2.13 CPU + tensordict, Python 3.11, made with pip: a local CPU
# wheel of torch where pip has one, else PyTorch's CPU-only index); the script remakes it only
# when its requirements or torch's source change. `make test` makes it only where the FastTD3
# checkout its test needs is present (--if-checkout: else one line saying how to get it).
peers-fasttd3-env:  ## FastTD3 (torch) for benchmarks/peers.py --trainers fasttd3
	PY311=$(PY311) python3 benchmarks/peers/make_fasttd3_env.py

# ------------------------------------------------------------------ compatibility job
compat: compat-oldest compat-gpu  ## core tests on the oldest JAX and on the GPU machine's stack

compat-oldest: $(OLDEST_STAMP)
	$(COMPAT_DIR)/oldest/bin/python -c 'import jax; print("compat: jax", jax.__version__)'
	$(COMPAT_DIR)/oldest/bin/python -m pytest -q -p no:cacheprovider -o addopts= $(COMPAT_TESTS)

$(OLDEST_STAMP): pyproject.toml uv.lock tests/compat/oldest.txt | $(UV_BOOTSTRAP)
	@[ -n "$(PY311)" ] || { echo "make: no Python 3.11 found for the oldest-JAX job; pass PY311=/path/to/python3.11, or COMPAT=0 to skip the compatibility job" >&2; exit 2; }
	rm -rf $(COMPAT_DIR)/oldest && mkdir -p $(COMPAT_DIR)
	$(UV) venv --quiet --python $(PY311) $(COMPAT_DIR)/oldest
	$(UV) export --quiet --frozen --no-hashes --no-emit-project --only-group dev -o $(COMPAT_DIR)/dev.txt
	$(UV) export --quiet --frozen --no-hashes --no-emit-project --no-dev -o $(COMPAT_DIR)/lock.txt
	$(UV) pip install --quiet --python $(COMPAT_DIR)/oldest -r $(COMPAT_DIR)/lock.txt \
		-r $(COMPAT_DIR)/dev.txt --overrides tests/compat/oldest.txt
	$(UV) pip install --quiet --python $(COMPAT_DIR)/oldest --no-deps -e .
	@touch $@

compat-gpu: $(GPU_STAMP)
	$(COMPAT_DIR)/gpu/bin/python -c 'import jax, sys; print("compat: jax", jax.__version__, sys.version.split()[0])'
	PYTHONPATH=$(CURDIR)/$(COMPAT_DIR)/gpu-site:$(CURDIR) $(COMPAT_DIR)/gpu/bin/python -m pytest \
		-q -p no:cacheprovider -o addopts= $(COMPAT_TESTS)

# Built like the GPU machine: Python 3.12, jax 0.11.2 with flax/optax/orbax from the index,
# nothing else but pytest; everything else comes from the device bundle (pip --no-deps
# --target), so an import the bundle lacks fails here, not on the GPU.
$(GPU_STAMP): benchmarks/device/gpu-base.txt $(BUNDLE_STAMP) | $(UV_BOOTSTRAP)
	@[ -n "$(PY312)" ] || { echo "make: no Python 3.12 found for the GPU-stack job; pass PY312=/path/to/python3.12, or COMPAT=0 to skip the compatibility job" >&2; exit 2; }
	rm -rf $(COMPAT_DIR)/gpu $(COMPAT_DIR)/gpu-site && mkdir -p $(COMPAT_DIR)
	$(UV) venv --quiet --python $(PY312) --seed $(COMPAT_DIR)/gpu
	$(UV) pip install --quiet --python $(COMPAT_DIR)/gpu -r benchmarks/device/gpu-base.txt
	$(COMPAT_DIR)/gpu/bin/python -m pip install -q --no-index --no-deps --no-compile \
		--target $(COMPAT_DIR)/gpu-site benchmarks/device/wheels/*.whl
	@touch $@

# ------------------------------------------------------------------ GPU device check
device-bundle: $(BUNDLE_STAMP)  ## wheels the GPU machine lacks (benchmarks/device/wheels/)
$(BUNDLE_STAMP): benchmarks/device/bundle.txt uv.lock benchmarks/device/fetch_bundle.py | $(UV_BOOTSTRAP)
	UV="$(UV)" $(or $(PY312),python3) benchmarks/device/fetch_bundle.py

device-rehearsal: $(GPU_STAMP)  ## the GPU check's commands, shrunk, on this CPU (GPU-like env)
	PYTHON=$(CURDIR)/$(COMPAT_DIR)/gpu/bin/python SITE=$(CURDIR)/$(COMPAT_DIR)/gpu-site \
		bash benchmarks/device/check.sh all --small

# ------------------------------------------------------------------ Docker image, built
# Not part of `make test`: needs root, podman, buildah, mmdebstrap and runc (Debian packages)
# and about 15 GB of disk; downloads Debian packages and PyPI wheels. See docs/docker.md.
docker-check:  ## build the Docker image with podman on a Debian base, train CartpoleBalance in it as uid 1000
	python3 benchmarks/docker_check.py $(ARGS)

bench: $(STAMP)  ## throughput benchmark on this machine (writes benchmarks/results/)
	$(VENV)/bin/python benchmarks/throughput.py $(ARGS)

clean:
	rm -rf $(VENV) .tools .pytest_cache $(COMPAT_DIR) benchmarks/peers/.venv \
		benchmarks/peers/.venv-fasttd3 .docker
