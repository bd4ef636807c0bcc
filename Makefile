# Self-documenting: `make` or `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The whole resolved tree with every wheel's sha256 (docs/dependencies.md); `make lock` re-makes it.
LOCK ?= requirements.lock
# uv builds .venv. The one on PATH if there is one, else uv pinned by hash in requirements-uv.txt,
# installed with pip into a small tool environment (all a fresh machine needs is Python 3.11).
UV_TOOL := .uv
UV ?= $(or $(shell command -v uv 2>/dev/null),$(UV_TOOL)/bin/uv)
# The plots page's template (.dvc/config names it); made by its rule below.
PLOTS_TEMPLATE := .dvc/plots_page.html
# Stage commands call plain `python` and `dvc`: put the project's environment first on PATH.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"

.PHONY: help setup lock repro deps lint test bench serve report clean-venv

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(UV_TOOL)/bin/uv: requirements-uv.txt
	@test -x $(UV_TOOL)/bin/python || $(PYTHON) -m venv $(UV_TOOL)
	$(UV_TOOL)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-uv.txt
	@touch $@

# Re-installs only when the lock or pyproject.toml changed since the last install (the stamp is newer).
# `uv pip sync` makes .venv exactly the lock (removing anything else), refuses a wheel whose sha256 is
# not the lock's, and byte-compiles at install (this VM sets PYTHONDONTWRITEBYTECODE, so nothing would
# compile later and every process would compile TensorFlow again).
$(STAMP): $(LOCK) pyproject.toml | $(UV)
	@test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	@$(UV) pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode $(LOCK) \
		|| { echo "error: set-up failed: .venv could not be made exactly $(LOCK) (uv says why above; a hash mismatch means a wheel is not the one locked)" >&2; exit 1; }
	@$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation --compile-bytecode -e .
	@touch $@

setup: $(STAMP) $(PLOTS_TEMPLATE) ## Create or refresh .venv from the lock (a no-op when nothing changed).

# The plots page's HTML template (.dvc/config: plots.html_template), with Vega, Vega-Lite and Vega-Embed
# inlined from the locked vl-convert-python, so `dvc plots show/diff` pages render with no network
# (docs/evaluation.md). Git-ignored; re-made when .venv or its generator changes.
$(PLOTS_TEMPLATE): $(STAMP) src/mnistflow/evaluation/plots_page.py
	$(RUN) python -m mnistflow.evaluation.plots_page --out $@

# After editing a pin in requirements.txt or requirements-test.txt: re-resolve the tree with hashes
# (pins already in the lock are kept where they still fit), then `make setup` and `make test`.
lock: | $(UV) ## Re-make requirements.lock from requirements*.txt (after a pin change).
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes --no-header \
		requirements.txt requirements-test.txt -o $(LOCK)

repro: setup ## Set up, then run the whole pipeline (dvc repro).
	$(RUN) dvc repro

# Each stage's code deps are its script's import closure (tests/stage_deps.py); after changing a stage's
# imports, this rewrites them in dvc.yaml (data deps, comments and order kept). tests/test_stage_deps.py checks them.
deps: setup ## Rewrite each stage's code deps in dvc.yaml from its script's imports.
	$(RUN) python tests/stage_deps.py --write

lint: setup ## Check the code with ruff (config: pyproject.toml, [tool.ruff]).
	$(RUN) ruff check .

# Two pytest workers (pytest-xdist): most of a test's time is one-threaded (imports, DVC, git), so two
# cores finish the suite in about half the time. loadgroup: tests go to whichever worker is free,
# except those marked with one xdist_group, which share a worker (tests/test_scale_e2e.py: its module
# fixture, a whole pipeline, is then built once, not once per worker; 6 min 2 s against worksteal's
# 6 min 33 s, the 2-core VM, 2026-12-01). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: lint ## Set up, lint, then run the whole test suite (two workers).
	$(RUN) python -m pytest -n $(TEST_WORKERS) --dist loadgroup

# bench/train.py goes first: it saves the reference model that bench/robustness.py scores.
# bench/recipe.py (a recipe to train) and bench/adabn.py (a BatchNorm model) need arguments: run them by hand.
bench: setup ## Run every benchmark in bench/ (slow: tens of minutes, full data).
	@echo "== bench/train.py"; $(RUN) python bench/train.py --save-models bench/models || exit 1
	@for script in $(filter-out bench/timing.py bench/train.py bench/recipe.py bench/adabn.py,$(wildcard bench/*.py)); do echo "== $$script"; $(RUN) python $$script || exit 1; done

# The server (docs/serving.md): SERVE_ARGS passes flags, e.g. make serve SERVE_ARGS="--port 8080 --latency-budget-ms 200".
SERVE_ARGS ?=
serve: setup ## Serve models/model.onnx on http://127.0.0.1:8000/ (API and draw-a-digit page; docs/serving.md).
	$(RUN) python -m mnistflow serve $(SERVE_ARGS)

# The review loop (README, "Review a change"): compare the workspace with BASE using DVC alone.
BASE ?= main
REPORT ?= report.md
PLOTS_DIR ?= dvc_plots
# Every metrics file, declared (the headline) or not (the detail); JSON only: a folder target would make
# DVC read its text files (the classification report) as metrics too.
METRICS_FILES = $(wildcard metrics/*.json metrics/*/*.json)
report: setup ## Markdown report of the workspace vs BASE (default main): headline first, detail, params, plots page.
	$(RUN) python -m mnistflow.evaluation.report --base $(BASE) --out $(REPORT) --plots-dir $(PLOTS_DIR) \
		--headline metrics/headline.json --robustness metrics/robustness.json --metrics metrics/evaluate.json \
		--comparison metrics/comparison.md \
		--targets $(METRICS_FILES) \
		--image plots/evaluate/confusion_matrix.png --image plots/evaluate/mistakes.png
	@echo "report: $(REPORT); plots page: $(PLOTS_DIR)/index.html"

clean-venv: ## Remove .venv and the uv tool environment (the next target re-creates them).
	rm -rf $(VENV) $(UV_TOOL)
