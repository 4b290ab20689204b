# The line-resilience toolkit. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

.DEFAULT_GOAL := help

## Show this help
help:
	@awk '/^## /{desc=substr($$0,4); next} /^[a-zA-Z_-]+:/{if(desc){split($$1,t,":"); printf "  \033[1m%-12s\033[0m %s\n", t[1], desc}; desc=""}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## Create .venv and install the toolkit with its test tools
install: $(STAMP)

## Run the main job end to end on the embedded defaults (synthetic world, validation)
demo: install
	$(BIN)/resilience-generate
	$(BIN)/resilience-validate input=data/synthetic/disruptions.parquet
	@echo "Synthetic world written to data/synthetic/ and validated."

## Run every test, slow end-to-end ones included (installs first if needed)
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

## Run only the fast tests
test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slow"

## Remove generated data, runs and outputs (keeps .venv)
clean:
	rm -rf outputs multirun mlruns mlflow.db mlartifacts data/synthetic/*.parquet data/synthetic/weekly

.PHONY: help install demo test test-fast clean
