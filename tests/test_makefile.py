"""The Makefile: `make demo` installs only what the main job needs, `make test` adds the test tools,
and `make help` is plain text when piped (no terminal codes in a log or a file)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_is_plain_text_when_piped_and_lists_every_described_target():
    text = _make("help")
    assert "\x1b" not in text, "terminal codes in piped output"
    makefile = (ROOT / "Makefile").read_text()
    described = re.findall(r"^## .*\n([a-zA-Z_-]+):", makefile, flags=re.MULTILINE)
    listed = [line.split()[0] for line in text.splitlines()]
    assert listed == described and {"demo", "install", "install-test", "test"} <= set(listed)


def _installs(target: str) -> list[str]:
    """The pip installs `make <target>` would run in a fresh checkout (a dry run, every step)."""
    plan = _make("--dry-run", "--always-make", target)
    return [
        line for line in plan.splitlines() if "pip install" in line and "--upgrade pip" not in line
    ]


def test_demo_installs_the_runtime_and_test_adds_the_test_extra():
    assert _installs("demo") == [".venv/bin/pip install --quiet -e ."]
    assert _installs("test") == [
        ".venv/bin/pip install --quiet -e .",
        '.venv/bin/pip install --quiet -e ".[test,tactics]"',
    ]


def test_the_mlflow_ui_runs_without_mlflows_job_runner_unless_asked():
    """`make mlflow-ui` starts MLflow's UI without the job runner's extra processes (MLflow's GenAI
    jobs, unused here); the tests' servers run the same way (conftest reads the same setting)."""
    from conftest import MLFLOW_JOBS

    plan = _make("--dry-run", "--always-make", "mlflow-ui")
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false " in plan and MLFLOW_JOBS == "false"
    asked = _make("--dry-run", "--always-make", "mlflow-ui", "MLFLOW_JOBS=true")
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true " in asked
