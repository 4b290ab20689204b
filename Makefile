# The line-resilience toolkit. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
TACTICS_STAMP := $(VENV)/.installed-tactics
TACTICS_WORLD := outputs/worlds/confounded_passenger
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

.DEFAULT_GOAL := help

## Show this help
help:
	@[ -t 1 ] && b='\033[1m' n='\033[0m'; awk -v b="$$b" -v n="$$n" '/^## /{desc=substr($$0,4); next} /^[a-zA-Z_-]+:/{if(desc){split($$1,t,":"); printf "  %s%-14s%s %s\n", b, t[1], n, desc}; desc=""}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,tactics]"
	touch $(TEST_STAMP)

## Create .venv and install the toolkit: what the main job needs, the PDF report included
install: $(STAMP)

## Add the test tools to .venv (Spark, Playwright, SHAP, pytest, the linters, the tactics review's DoubleML)
install-test: $(TEST_STAMP)

# The tactics extra (DoubleML, for resilience-tactics): left out of the demo's install (1 GB budget).
$(TACTICS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[tactics]"
	touch $(TACTICS_STAMP)

## Review the tactics on a synthetic world with confounded assignment (installs the tactics extra)
tactics: $(TACTICS_STAMP)
	$(BIN)/resilience-generate world=confounded_passenger out_dir=$(TACTICS_WORLD)
	$(BIN)/resilience-tactics input=$(TACTICS_WORLD)/disruptions.parquet

DEMO_WEEKS ?= 4
## Run the main job end to end on the embedded defaults: a local registration key (if none), synthetic world, training on what was known before the scored weeks (records as they stood), scoring the last four weeks, their outcomes, the briefing
demo: install
	$(BIN)/resilience-sign new_key=true
	$(BIN)/resilience-generate
	$(BIN)/python scripts/demo_history.py --world data/synthetic --out outputs/demo --weeks $(DEMO_WEEKS)
	$(BIN)/resilience-validate input=outputs/demo/history.parquet require_label=true as_of=$$(cat outputs/demo/as_of.txt)
	$(BIN)/resilience-train input=outputs/demo/history.parquet as_of=$$(cat outputs/demo/as_of.txt) snapshots=data/synthetic/weekly
	for week in $$(ls data/synthetic/weekly/*.parquet | sort | tail -n $(DEMO_WEEKS)); do $(BIN)/resilience-score input=$$week || exit 1; done
	$(BIN)/resilience-outcomes input=outputs/demo/labels.parquet
	$(BIN)/resilience-report week=$$(basename $$(ls data/synthetic/weekly/*.parquet | sort | tail -n 1) .parquet)
	@echo
	@echo "Done. Training runs and the registered champion: make mlflow-ui (then open http://127.0.0.1:5000/#/experiments?workflowType=machine_learning)."
	@echo "The scored weeks (scores, explanations, drift, briefing and annex): outputs/weekly/"

# MLflow's job runner (a consumer and its workers, for MLflow's GenAI jobs, which the toolkit does
# not use) is left off: 2 processes instead of 10 (measured, 4 CPU-seconds to start instead of 11).
# MLFLOW_JOBS=true turns it on.
MLFLOW_JOBS ?= false
## Open the MLflow UI on the project's tracking store (http://127.0.0.1:5000)
mlflow-ui: install
	@echo "MLflow UI: http://127.0.0.1:5000/#/experiments?workflowType=machine_learning (the machine-learning view; a new browser opens MLflow 3 in its GenAI view)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=$(MLFLOW_JOBS) $(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --host 127.0.0.1 --port 5000

## Install the browser-test tools (Debian chromium, poppler, axe-core from npm); skipped tests say if missing
browser-tools:
	bash scripts/install_browser_tools.sh

## Install the system tools the test suite needs (a Java runtime for the Spark test); fails if it cannot
test-tools:
	bash scripts/install_test_tools.sh

# pytest with Python's bytecode caches (__pycache__, git-ignored) even where the environment turns
# them off (PYTHONDONTWRITEBYTECODE): else each test worker and each command started anew compiles
# the package and rewrites the tests again (a worker's collection: about 8 s instead of 4.5)
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

## Check the import layers, lint and format, then run every test, slow end-to-end ones included (installs first if needed)
test: install-test browser-tools test-tools
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PYTEST) -n 2 --dist loadfile --durations=15

## Run only the fast tests
test-fast: install-test
	$(PYTEST) -n 2 -m "not slow"

## Remove generated data, runs and outputs (keeps .venv)
clean:
	rm -rf outputs multirun mlruns mlflow.db mlartifacts data/synthetic/*.parquet data/synthetic/weekly

.PHONY: help install install-test browser-tools test-tools demo mlflow-ui test test-fast tactics clean
