# gigaam-api — every target installs what it needs first. uv comes from PATH, else `make uv` installs a
# private copy into .tools/uv with PYTHON's venv or pip (scripts/bootstrap-uv.sh), never into that Python.
PYTHON ?= python3
UV_TOOL := $(CURDIR)/.tools/uv
ifndef UV
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_TOOL)/bin/uv)
endif
RUN := $(UV) run --frozen --no-sync
# ONNX Runtime build (`cpu` or `cuda`) and `convert` (NNCF, builds the int8 OpenVINO IR on first start).
EXTRAS ?= cpu convert
EXTRA_FLAGS := $(foreach e,$(EXTRAS),--extra $(e))
# Tests also run the Qwen3-ASR engine: the `qwen` extra plus torch, which is kept out of the lock and
# installed beside it. TORCH_SOURCE: pip's local wheel directory where one is configured (PIP_FIND_LINKS
# or pip's own config, read by PYTHON's pip or, where it has none, by the pip of .tools/uv's venv), else
# PyTorch's CPU index; for CUDA, e.g. TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cu128".
TORCH_VERSION ?= 2.13.0
# Expanded when dev-deps runs, after `make uv` may have made .tools/uv.
TORCH_LINKS = $(or $(PIP_FIND_LINKS),$(shell for py in $(PYTHON) $(UV_TOOL)/bin/python; do \
	$$py -m pip config get global.find-links 2>/dev/null && break; done))
TORCH_SOURCE ?= $(if $(TORCH_LINKS),--find-links $(TORCH_LINKS),--index-url https://download.pytorch.org/whl/cpu)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-stress test-gpu check lint format typecheck unit docs fuzz download-weights bench bench-ovep screenshot deps dev-deps system-deps uv clean

run: deps ## serve the API on HOST:PORT (127.0.0.1:8000 by default)
	$(RUN) gigaam-api serve

# The whole suite runs its test files side by side in TEST_WORKERS processes (pytest-xdist; a file's tests
# stay together, in order, in one process): one more than the CPUs this process may use, since tests
# spend much of their time waiting on servers, sockets and subprocesses; at most 4 (each holds about
# 1.9 GB: the engines, torch for Qwen3-ASR, a browser at times). TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= $(shell n=$$(( $$(nproc 2>/dev/null || echo 1) + 1 )); [ "$$n" -gt 4 ] && n=4; echo $$n)
TEST_ARGS := -n $(TEST_WORKERS) --dist loadfile

test: dev-deps system-deps ## the whole suite: unit + integration (real server, client, ONNX Runtime, Silero)
	$(RUN) pytest $(TEST_ARGS)

test-gpu: dev-deps system-deps ## the engine contract on a GPU; fails without one (CUDA: EXTRAS="cuda convert" TORCH_SOURCE=...)
	GIGAAM_TEST_GPU=1 $(RUN) pytest tests/gpu

check: lint typecheck unit ## lint, format check, import contracts, mypy --strict and the unit tests

lint: dev-deps
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

format: dev-deps
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: dev-deps
	$(RUN) mypy

unit: dev-deps
	$(RUN) pytest tests/unit

docs: dev-deps ## regenerate .env.example and docs/configuration.md (+ docs/ru/) from gigaam_api/config.py
	$(RUN) python -m scripts.settings_docs

STRESS_RUNS ?= 10
STRESS_BURNERS ?= 2
test-stress: dev-deps system-deps ## the whole suite STRESS_RUNS times in a row beside STRESS_BURNERS CPU-burning processes
	scripts/stress.sh $(STRESS_RUNS) $(STRESS_BURNERS) $(RUN) pytest $(TEST_ARGS) -q -p no:cacheprovider

FUZZ_EXAMPLES ?= 20000
fuzz: dev-deps ## the HTTP fuzz test (tests/integration/test_fuzz.py) with FUZZ_EXAMPLES requests (make test: 400)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(RUN) pytest tests/integration/test_fuzz.py -s --timeout=0

download-weights: deps ## fetch MODEL's weights into MODELS_DIR (needs the Hugging Face hub)
	$(RUN) gigaam-api download

bench: dev-deps system-deps bench-ovep ## benchmarks (not part of `make test`); results in docs/benchmarks.md
	$(UV) sync --frozen --inexact --group bench --compile-bytecode $(EXTRA_FLAGS) --extra numbers
	$(RUN) python -m bench.run
	$(RUN) python -m bench.rnnt
	$(RUN) python -m bench.keywords
	$(RUN) python -m bench.numbers
	$(RUN) python -m bench.translation --batch 1 --batch 20
	$(RUN) python -m bench.realtime
	$(RUN) python -m bench.streams --json docs/streams-bench.json
	$(RUN) python -m scripts.bench_speakers --json docs/speakers-bench.json
	$(RUN) python -m bench.speaker_engine --json docs/speaker-engine-bench.json
	$(RUN) python -m bench.diarization --json docs/speakers-service-bench.json

# OpenVINO's ONNX Runtime execution provider, measured by the bench's limit only (bench/ovep.py). Its
# wheel installs the same `onnxruntime` module as the `cpu` extra, so it gets its own venv from the
# same Python: the lock's versions of onnx-asr, numpy and psutil (and of the wheel's own dependencies),
# this exact build, no `onnxruntime`. Linux x86-64 only: there are no wheels elsewhere.
OVEP_VERSION ?= 1.24.1
OVEP_VENV := .venv-ovep
bench-ovep: dev-deps ## the bench's .venv-ovep (onnxruntime-openvino); ~1 s when already there
	@if [ "$$(uname -m)" != x86_64 ]; then \
		echo "bench-ovep: skipped, onnxruntime-openvino has no wheels for $$(uname -m)"; exit 0; fi; \
	[ -x $(OVEP_VENV)/bin/python ] || $(UV) venv --quiet --python .venv/bin/python $(OVEP_VENV) && \
	$(UV) export --frozen --quiet --no-hashes --no-header --no-annotate --no-emit-project $(EXTRA_FLAGS) \
		--group bench > $(OVEP_VENV)/lock-constraints.txt && \
	$(UV) pip install --quiet --no-config --python $(OVEP_VENV)/bin/python \
		--constraint $(OVEP_VENV)/lock-constraints.txt onnxruntime-openvino==$(OVEP_VERSION) onnx-asr numpy psutil

screenshot: dev-deps system-deps ## docs/web.png: the web page in use (generated model, Debian's Chromium)
	$(RUN) python -m scripts.screenshot

uv: ## uv from PATH, else a private copy in .tools/uv; prints its version
	@[ "$(UV)" != "$(UV_TOOL)/bin/uv" ] || [ -x "$(UV)" ] || scripts/bootstrap-uv.sh "$(PYTHON)" "$(UV_TOOL)"
	@$(UV) --version

deps: uv
	$(UV) sync --frozen --no-dev --inexact --compile-bytecode $(EXTRA_FLAGS)

dev-deps: uv ## an exact sync (removes torch, which is not in the lock), then torch again: from uv's cache, ~1 s; tests also need the `numbers` extra (damga)
	$(UV) sync --frozen $(EXTRA_FLAGS) --extra qwen --extra numbers
	$(UV) pip install --quiet --no-config --python .venv/bin/python $(TORCH_SOURCE) torch==$(TORCH_VERSION)

system-deps: ## espeak-ng makes the synthetic Russian speech the tests and benchmarks use; chromium runs the web page's tests; redis-server backs the job-queue tests; nginx fronts two replicas in the rolling-restart test
	@command -v espeak-ng >/dev/null 2>&1 || { \
		echo "installing espeak-ng (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng >/dev/null; }
	@[ -x /usr/bin/chromium ] || { \
		echo "installing chromium (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null; }
	@[ -x /usr/sbin/nginx ] || { \
		echo "installing nginx (apt-get)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx >/dev/null; }

clean:
	rm -rf .venv .venv-ovep .tools .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
