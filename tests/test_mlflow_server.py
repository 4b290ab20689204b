"""Against a real `mlflow server` on 127.0.0.1: a full training run logs and registers over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import run_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start within 60 s")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.slow
def test_training_logs_and_registers_over_http(mlflow_server, small_world_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    result = run_command(
        "resilience-train",
        f"input={small_world_dir / 'disruptions.parquet'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": mlflow_server},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(mlflow_server)
    version = client.get_model_version_by_alias("line-resilience", "champion")
    assert version.version == "1"
    run = client.get_run(version.run_id)
    assert "test_roc_auc" in run.data.metrics
    assert not (tmp_path / "mlruns").exists(), "nothing written to a local file store"


@pytest.mark.slow
def test_a_server_that_does_not_answer_is_one_clear_error(small_world_dir, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = run_command(
        "resilience-train",
        f"input={small_world_dir / 'disruptions.parquet'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": url},
        timeout=120,
    )
    assert result.returncode == 2
    assert "does not answer" in result.stderr and "Traceback" not in result.stderr
