"""The registered model carries the toolkit: it loads and predicts in a Python where the
``resilience`` package is not installed (only MLflow and its pinned requirements are)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest


def python_without_the_toolkit(folder: Path) -> tuple[str, dict]:
    """An interpreter command and environment that see the installed libraries but not this
    checkout: ``python -S`` skips site processing, so the editable install's ``.pth`` hook is never
    read, and only site-packages itself is on the path. Returns (path of a wrapper script, env)."""
    site_packages = sysconfig.get_paths()["purelib"]
    wrapper = folder / "python-without-resilience"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "RESILIENCE_HOME")
    }
    env["PYTHONPATH"] = site_packages
    return str(wrapper), env


LOAD_AND_PREDICT = """
import importlib.util, sys
import pandas as pd
assert importlib.util.find_spec("resilience") is None, "the toolkit must not be importable here"
import mlflow
week = pd.read_parquet(sys.argv[1])
out = mlflow.pyfunc.load_model(sys.argv[2]).predict(week)
out.to_parquet(sys.argv[3])
"""


@pytest.mark.slow
def test_registered_model_loads_where_the_toolkit_is_not_installed(own_store, mlflow_at, tmp_path):
    """The champion ``resilience-train`` registered (conftest, trained once per test run), in a copy of
    its store: MLflow's load_model writes ``registered_model_meta`` beside a local store's artifacts."""
    import mlflow

    mlflow_at(own_store)
    uri = "models:/line-resilience@champion"
    week_file = own_store.weeks()[-1]
    week = pd.read_parquet(week_file)
    expected = mlflow.pyfunc.load_model(uri).predict(week)

    python, env = python_without_the_toolkit(tmp_path)
    env["MLFLOW_TRACKING_URI"] = own_store.uri
    script = tmp_path / "load.py"
    script.write_text(LOAD_AND_PREDICT)
    done = subprocess.run(
        [python, str(script), str(week_file), uri, str(tmp_path / "out.parquet")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


def test_the_clean_python_really_lacks_the_toolkit(tmp_path):
    python, env = python_without_the_toolkit(tmp_path)
    done = subprocess.run(
        [python, "-c", "import resilience"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "No module named 'resilience'" in done.stderr
    done = subprocess.run(
        [python, "-c", "import mlflow, lightgbm, pandera"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
