# graphflow: two commands on a fresh machine.
#   make demo   sets everything up and runs the main job offline
#   make test   sets everything up and runs lint, types and the tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

DEMO_INPUT ?= benchmarks/fixtures/q_ls_251-137823-0002_testing_routine.wav
DEMO_OUT   ?= out/demo

.PHONY: setup models livekit-server llama-server otel-collector web web-for-tests playground demo test lint typecheck pytest bench peers-setup bench-peers bench-voice bench-compare bench-room bench-turns bench-short test-llm render clean

setup: $(STAMP)
	@scripts/ensure-system-deps

models: setup
	@echo "==> local models (downloaded once into the cache)"
	@$(VENV)/bin/graphflow models download all

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing graphflow[dev]"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --upgrade --progress-bar on pip setuptools
	@$(PY) -m pip install --progress-bar on -e '.[dev]'
	@touch $(STAMP)

livekit-server: setup
	@echo "==> livekit-server (built once with go install into the cache)"
	@$(PY) -m graphflow.livekit.server

demo: models
	@echo "==> the voice agent listens to $(DEMO_INPUT) and answers (offline, local models)"
	@$(VENV)/bin/graphflow run graphs/voice_agent.py --input $(DEMO_INPUT) \
		--output $(DEMO_OUT)/conversation.wav --transcript $(DEMO_OUT)/transcript.jsonl
	@$(VENV)/bin/graphflow render graphs/voice_agent.py -o $(DEMO_OUT)/voice_agent.svg
	@echo "==> listen to $(DEMO_OUT)/conversation.wav (you left, agent right); transcript in $(DEMO_OUT)/transcript.jsonl"

WEB_SOURCES := $(wildcard web/src/*.ts) web/index.html web/style.css web/build.mjs web/package-lock.json

web: web/dist/index.html

# the playground page: livekit-client from npm, type-checked and bundled with esbuild (needs node and npm)
web/dist/index.html: $(WEB_SOURCES)
	@command -v npm >/dev/null || { echo "make web needs Node.js and npm (https://nodejs.org)" >&2; exit 1; }
	@echo "==> web: npm ci, type check, bundle (web/dist, not committed)"
	@cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check && npm run --silent build

# make test builds the page when npm is there; without it the browser tests are skipped (under CI: fail)
web-for-tests:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web; \
	elif [ "$${CI:-}" = true ]; then echo "make test needs Node.js and npm under CI (the playground's page)" >&2; exit 1; \
	else echo "==> no npm: the playground's browser tests will be skipped (install Node.js and npm)"; fi

playground: web livekit-server models
	@$(VENV)/bin/graphflow playground graphs/room_agent.py

lint: setup
	@echo "==> ruff"
	@$(VENV)/bin/ruff check --no-cache .
	@$(VENV)/bin/ruff format --no-cache --check .

typecheck: setup
	@echo "==> mypy"
	@$(VENV)/bin/mypy

llama-server: setup
	@echo "==> llama.cpp server and model (built once into the cache; the first build takes about 6 minutes on 2 cores)"
	@PYTHON=$(PYTHON) scripts/setup-llama-server || { [ $$? = 3 ] && [ "$${CI:-}" != true ] && \
		echo "==> the llm_server tests will be skipped (under CI, CI=true, this fails the run)"; }

otel-collector: setup
	@echo "==> OpenTelemetry collector (built once into the cache with Go; about 2 minutes the first time)"
	@$(PY) -m graphflow.telemetry.collector || { [ $$? = 3 ] && [ "$${CI:-}" != true ] && \
		echo "==> the collector test will be skipped (under CI, CI=true, this fails the run)"; }

pytest: models livekit-server llama-server otel-collector web-for-tests
	@echo "==> pytest"
	@$(PY) -m pytest

test: lint typecheck pytest

test-llm: llama-server
	@echo "==> pytest tests/llm_server (a real llama.cpp server on 127.0.0.1)"
	@$(PY) -m pytest tests/llm_server

bench: setup
	@$(PY) benchmarks/engine.py --json docs/results/engine.json
	@$(PY) benchmarks/plot_engine.py docs/results/engine.json docs/img/engine-per-hop.png

bench-peers:
	@bash benchmarks/peers/setup-peers.sh
	@.venv-peers/bin/python benchmarks/peers/pipecat_bench.py --json docs/results/pipecat.json

bench-compare: bench-peers bench-voice

peers-setup:
	@bash benchmarks/peers/setup-peers.sh

bench-turns: peers-setup models
	@.venv-peers/bin/python benchmarks/peers/pipecat_turns.py --json docs/results/turns-pipecat.json
	@$(VENV)/bin/graphflow bench turns --peer docs/results/turns-pipecat.json \
		--json docs/results/turns.json --plot docs/img/turns.png

bench-short: models
	@$(PY) benchmarks/short_answers.py --json docs/results/short_answers.json --plot docs/img/short-answers.png

bench-room: models livekit-server
	@$(PY) benchmarks/room_latency.py --runs 8 --json docs/results/room.json --plot docs/img/room-latency.png

bench-voice: models
	@$(VENV)/bin/graphflow bench --runs 3 --sessions 1,8,16,24,32,48,100 --peers docs/results/pipecat.json \
		--engine docs/results/engine.json --json docs/results/voice-standin.json --plot docs/img/voice-bench.png

clean:
	rm -rf $(VENV) .venv-llama build *.egg-info .mypy_cache .pytest_cache .ruff_cache web/node_modules web/dist
