"""Shared fixtures: small seeded synthetic worlds and an isolated MLflow store per test."""
from __future__ import annotations

import os
import sys

# Two test workers share two cores: LightGBM gets one thread each (two threads per worker stall
# badly here). Console commands read RESILIENCE_N_JOBS through configs/model/lightgbm.yaml
# (model.n_jobs); models fitted in the test process without n_jobs use LightGBM's default, which
# counts cores through joblib, capped by LOKY_MAX_CPU_COUNT.
os.environ.setdefault("RESILIENCE_N_JOBS", "1")
os.environ.setdefault("LOKY_MAX_CPU_COUNT", "1")
from pathlib import Path

import pandas as pd
import pytest

from resilience.data.contract import load_data_contract
from resilience.data.synthetic import WorldConfig, generate_world, write_world
from resilience.data.validate import validate_frame

BIN = Path(sys.executable).parent
SMALL_WORLD = WorldConfig(n_lines=6000, seed=3)


@pytest.fixture(scope="session")
def contract():
    return load_data_contract("default")


@pytest.fixture(scope="session")
def small_world():
    """About 5,000 labelled disruptions over three years, plus four unlabelled weeks."""
    return generate_world(SMALL_WORLD)


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory, small_world):
    folder = tmp_path_factory.mktemp("world")
    write_world(small_world, folder)
    return folder


@pytest.fixture(scope="session")
def small_history(small_world, contract):
    return validate_frame(small_world.history, contract, require_label=True,
                          today=pd.Timestamp(SMALL_WORLD.end_date)).frame


@pytest.fixture()
def mlflow_uri(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store for one test; nothing touches the project's mlflow.db."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def run_command(name: str, *args: str, cwd: Path, env: dict | None = None, timeout: int = 600):
    """Run one of the toolkit's console commands; returns the CompletedProcess."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN / name), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
