# graphflow: two commands on a fresh machine.
#   make demo   sets everything up and runs the main job offline
#   make test   sets everything up and runs lint, types and the tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest bench render clean

setup: $(STAMP)
	@scripts/ensure-system-deps

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing graphflow[dev]"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --upgrade --progress-bar on pip setuptools
	@$(PY) -m pip install --progress-bar on -e '.[dev]'
	@touch $(STAMP)

demo: setup
	@echo "==> rendering the example graph to docs/img/example.svg"
	@$(VENV)/bin/graphflow render graphs/example.py --format svg -o docs/img/example.svg
	@echo "==> running the example graph"
	@$(PY) -m graphflow.graphs.example

lint: setup
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

typecheck: setup
	@echo "==> mypy"
	@$(VENV)/bin/mypy

pytest: setup
	@echo "==> pytest"
	@$(PY) -m pytest

test: lint typecheck pytest

bench: setup
	@$(PY) benchmarks/engine.py --json docs/results/engine.json
	@$(PY) benchmarks/plot_engine.py docs/results/engine.json docs/img/engine-per-hop.png

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
