"""Only vetted models run: a registered version whose files match the digest recorded at registration
and whose signature matches its data contract; anything else is refused before any code is unpickled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Planted, run_command, run_score

from resilience.core.errors import ResilienceError


@pytest.fixture()
def planted(tmp_path, mlflow_uri):
    """A crafted pyfunc, saved as a directory, logged in a run and registered as ``planted`` version 1."""
    import mlflow
    import yaml

    marker = tmp_path / "code-ran"
    folder = tmp_path / "planted_model"
    folder.mkdir()
    (folder / "python_model.pkl").write_bytes(Planted.pickled(marker))
    (folder / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "flavors": {
                    "python_function": {
                        "loader_module": "mlflow.pyfunc.model",
                        "python_model": "python_model.pkl",
                        "python_version": "3.11",
                        "env": {"virtualenv": "python_env.yaml"},
                    }
                }
            }
        )
    )
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "model")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "planted")
    assert not marker.exists()
    return folder, run.info.run_id, marker


def test_unvetted_models_are_refused_before_any_code_runs(planted):
    from mlflow.tracking import MlflowClient

    from resilience.tracking import registration, vetting
    from resilience.tracking.pyfunc import load_vetted

    folder, run_id, marker = planted
    cases = [
        (str(folder), "refusing to load"),
        (f"runs:/{run_id}/model", "refusing to load"),
        (f"file://{folder}", "refusing to load"),
        ("models:/planted/1", "is not signed"),
        ("models:/planted@champion", "no registered model"),
        ("models:/m-0123abc", "no registered model"),
    ]
    for uri, expected in cases:
        with pytest.raises(ResilienceError, match=expected):
            vetting.load_persistence_model(uri)
        with pytest.raises(ResilienceError, match=expected):
            load_vetted(uri)
    client = MlflowClient()
    client.set_model_version_tag("planted", "1", "model_card", "logged")  # a forged card tag
    registration.record_digest("planted", "1")  # and a digest of what is there now
    with pytest.raises(ResilienceError, match="is not signed"):
        vetting.load_persistence_model("models:/planted/1")
    assert not marker.exists(), "nothing was unpickled"
    # the crafted model is real: let it through explicitly and its code runs (then it is refused as foreign)
    with pytest.raises(ResilienceError):
        vetting.load_persistence_model(str(folder), allow_unregistered=True)
    assert marker.exists()


@pytest.mark.slow
def test_score_refuses_a_crafted_model_directory_with_one_message(
    planted, mlflow_uri, small_world_dir, tmp_path
):
    folder, run_id, marker = planted
    week_file = sorted((small_world_dir / "weekly").glob("*.parquet"))[-1]
    for uri in (str(folder), f"runs:/{run_id}/model", "models:/planted/1"):
        result = run_command(
            "resilience-score",
            f"input={week_file}",
            f"model_uri={uri}",
            f"output_root={tmp_path / 'out'}",
            "report=false",
            cwd=tmp_path,
            env={"MLFLOW_TRACKING_URI": mlflow_uri},
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout, (
            result.stderr[-2000:]
        )
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_unregistered_and_logged_model_uris(trained, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(trained.uri)
    version = client.get_model_version("line-resilience", "1")
    assert version.source.startswith("models:/m-"), version.source
    logged = version.source  # the MLflow 3 logged-model URI, models:/m-<id>
    latest = trained.weeks()[-1]
    by_id = run_score(
        trained, latest, tmp_path / "a", f"model_uri={logged}", "log_to_mlflow=false", cwd=tmp_path
    )
    assert by_id.returncode == 0, by_id.stderr[-2000:]
    manifest = json.loads((tmp_path / "a" / latest.stem / "manifest.json").read_text())
    assert (
        manifest["model"]["version"] == "1"
        and manifest["model"]["sha256"] == version.tags["artifact_sha256"]
    )
    run_uri = f"runs:/{version.run_id}/model"
    refused = run_score(trained, latest, tmp_path / "b", f"model_uri={run_uri}", cwd=tmp_path)
    assert (
        refused.returncode == 2
        and "allow_unregistered=true" in refused.stderr
        and not (tmp_path / "b").exists()
    )
    allowed = run_score(
        trained,
        latest,
        tmp_path / "c",
        f"model_uri={logged}",
        "allow_unregistered=true",
        "log_to_mlflow=false",
        cwd=tmp_path,
    )
    assert allowed.returncode == 0
    source = client.get_model_version_download_uri("line-resilience", "1")
    unvetted = run_score(
        trained,
        latest,
        tmp_path / "d",
        f"model_uri={source}",
        "allow_unregistered=true",
        "log_to_mlflow=false",
        cwd=tmp_path,
    )
    assert unvetted.returncode == 0, unvetted.stderr[-2000:]
    manifest = json.loads((tmp_path / "d" / latest.stem / "manifest.json").read_text())
    assert (
        any("UNREGISTERED" in w for w in manifest["warnings"])
        and manifest["model"]["version"] is None
    )


@pytest.mark.slow
def test_a_model_whose_signature_does_not_match_its_contract_is_refused(
    own_store, mlflow_at, tmp_path
):
    import mlflow
    import yaml
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    from resilience.tracking import registration, signing, vetting

    mlflow_at(own_store)  # registers a second model: its own copy of the store
    local = Path(
        download_artifacts(
            artifact_uri="models:/line-resilience/1", dst_path=str(tmp_path / "copy")
        )
    )
    champion_run = MlflowClient().get_model_version("line-resilience", "1").run_id
    card = MlflowClient().download_artifacts(champion_run, "model_card", str(tmp_path / "card"))
    spec = yaml.safe_load((local / "MLmodel").read_text())
    inputs = json.loads(spec["signature"]["inputs"])
    spec["signature"]["inputs"] = json.dumps([c for c in inputs if c["name"] != "contacts"])
    (local / "MLmodel").write_text(yaml.safe_dump(spec))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), "model")
        mlflow.log_artifacts(card, "model_card")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "reshaped")
    key = signing.load_private_key(signing.private_key_path())
    registration.sign_version("reshaped", "1", key, "test", "signed, yet not this contract")
    with pytest.raises(
        ResilienceError, match="signature does not match its data contract.*contacts"
    ):
        vetting.load_persistence_model("models:/reshaped/1")


def test_loading_the_champion_with_plain_mlflow_leaves_it_vetted(own_store, mlflow_at):
    """The README's Python path (and Spark's) loads the champion with MLflow; scoring must still accept it."""
    import mlflow

    from resilience.tracking import vetting

    mlflow_at(own_store)
    mlflow.pyfunc.load_model(
        "models:/line-resilience@champion"
    )  # writes MLflow's registered_model_meta
    vetting.load_persistence_model("models:/line-resilience@champion")  # still vetted: no error
