"""Against a real `mlflow server` on 127.0.0.1: a full training run logs and registers over HTTP."""

from __future__ import annotations

import pytest
from conftest import copy_blank_store, free_port, run_command, serving_mlflow


@pytest.fixture()
def mlflow_server(tmp_path, blank_store):
    """A local ``mlflow server`` on a new store (a copy of the run's blank one: no migrations to wait for)."""
    backend = copy_blank_store(blank_store, tmp_path, "server.db")
    with serving_mlflow(
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        str(tmp_path / "server-artifacts"),
        "--workers",
        "1",
        cwd=tmp_path,
    ) as url:
        yield url


@pytest.mark.slow
def test_training_logs_and_registers_over_http(mlflow_server, tiny_world_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    result = run_command(
        "resilience-train",
        f"input={tiny_world_dir / 'disruptions.parquet'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        # a smaller reason screen than the shipped one: over HTTP, what matters is what is logged
        "explain.screen.permutations=2",
        "explain.screen.resamples=2",
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
    # signed at training: its files, card and evidence were read through private downloads
    assert any(key.startswith("signature.") for key in version.tags), version.tags


@pytest.mark.slow
def test_a_server_that_does_not_answer_is_one_clear_error(tiny_world_dir, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = run_command(
        "resilience-train",
        f"input={tiny_world_dir / 'disruptions.parquet'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": url},
        timeout=120,
    )
    assert result.returncode == 2
    assert "does not answer" in result.stderr and "Traceback" not in result.stderr
