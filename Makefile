# Two commands are the whole set-up: `make train` and `make test`.
# Needs only python3, make and git; uv is bootstrapped into the user site.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(PYTHON) -m uv)
VENV := .venv
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: train test lint bench clean

$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || \
		$(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $(STAMP)

train: $(STAMP)  ## train the default humanoid (HumanoidWalk) with the preset for this hardware
	$(VENV)/bin/fastbrc train --env HumanoidWalk $(ARGS)

test: $(STAMP)  ## the whole test suite (CPU)
	$(VENV)/bin/ruff check fastbrc envs benchmarks tests
	$(VENV)/bin/pytest -q tests $(ARGS)

bench: $(STAMP)  ## throughput benchmark on this machine (writes benchmarks/results/)
	$(VENV)/bin/python benchmarks/throughput.py $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
