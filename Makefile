# Two commands are the whole set-up: `make train` and `make test`.
# Needs only python3, make and git. uv comes from PATH, or from `python3 -m uv`, or is
# bootstrapped into .tools/ (a private venv, so PEP 668 system Pythons are fine too).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
ARGS ?=
TEST_WORKERS ?= 2
UV := $(shell command -v uv 2>/dev/null || ($(PYTHON) -m uv --version >/dev/null 2>&1 && echo "$(PYTHON) -m uv") || echo .tools/bin/uv)

.PHONY: train test bench clean

$(STAMP): pyproject.toml uv.lock
	@if [ "$(UV)" = ".tools/bin/uv" ] && [ ! -x .tools/bin/uv ]; then \
		$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv; fi
	$(UV) sync --frozen
	@touch $(STAMP)

train: $(STAMP)  ## train the default humanoid (HumanoidWalk) with the preset for this hardware
	$(VENV)/bin/fastbrc train --env HumanoidWalk $(ARGS)

test: $(STAMP)  ## the whole test suite (CPU), on TEST_WORKERS processes
	$(VENV)/bin/ruff check fastbrc envs benchmarks tests
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile tests $(ARGS)

bench: $(STAMP)  ## throughput benchmark on this machine (writes benchmarks/results/)
	$(VENV)/bin/python benchmarks/throughput.py $(ARGS)

clean:
	rm -rf $(VENV) .tools .pytest_cache
