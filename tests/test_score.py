"""Weekly scoring end to end: train -> score -> rerun identical -> killed runs leave nothing partial."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import BIN, run_command


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_world_dir):
    """A champion trained on the small world in its own MLflow store."""
    root = tmp_path_factory.mktemp("scoring")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    result = run_command("resilience-train", f"input={small_world_dir / 'disruptions.parquet'}",
                         f"hydra.run.dir={root / 'run'}", "evaluation.n_bootstrap=20", cwd=root, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, env


def weeks(world_dir: Path) -> list[Path]:
    return sorted((world_dir / "weekly").glob("*.parquet"))


def score(trained, world_dir, week_file, *extra, cwd=None):
    root, env = trained
    if not any(e.startswith("output_root=") for e in extra):
        extra = (f"output_root={root / 'weekly'}", *extra)
    return run_command("resilience-score", f"input={week_file}", "report=false", *extra, cwd=cwd or root, env=env)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_score_writes_the_week_and_reruns_identically(trained, small_world_dir):
    root, _ = trained
    week_file = weeks(small_world_dir)[-1]
    first = score(trained, small_world_dir, week_file)
    assert first.returncode == 0, first.stderr[-3000:]
    folder = root / "weekly" / week_file.stem
    for name in ("scores.csv", "scores.parquet", "explanations.parquet", "drift.json", "manifest.json",
                 "safeguarding.json", "contract.json"):
        assert (folder / name).is_file(), name
    scores = pd.read_parquet(folder / "scores.parquet")
    extract = pd.read_parquet(week_file)
    assert len(scores) == len(extract) and set(scores["disruption_id"]) == set(extract["disruption_id"])
    assert sorted(scores["rank"]) == list(range(1, len(scores) + 1))
    top = scores.sort_values("rank")["persistence_probability"].to_numpy()
    assert (top[:-1] >= top[1:]).all(), "rank 1 is the most likely to persist"
    assert scores["reason_for_1"].str.len().gt(0).any() and scores["summary"].str.len().gt(0).all()
    explanations = pd.read_parquet(folder / "explanations.parquet")
    assert "baseline_probability" in explanations and "contacts" in explanations
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"]["version"] == "1" and manifest["input"]["sha256"] == sha(week_file)
    assert manifest["counts"]["rows"] == len(extract) and manifest["config_hash"]
    before = sha(folder / "scores.csv")
    again = score(trained, small_world_dir, week_file)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sha(folder / "scores.csv") == before, "the same week twice gives byte-identical scores.csv"
    assert not [p for p in (root / "weekly").iterdir() if p.name.startswith(".")], "no temporary folders left"


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


STABLE = ("scores.csv", "scores.parquet", "explanations.parquet", "drift.json", "safeguarding.json", "contract.json")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["build", "before_swap", "during_swap", "after_swap", "during_cleanup"])
def test_a_run_killed_at_each_step_of_the_commit_loses_nothing(trained, small_world_dir, point):
    """kill -9 (os._exit at a named fault point) at each step; the rerun succeeds byte-identically."""
    root, env = trained
    out = root / f"killed-{point}"
    earlier, latest = weeks(small_world_dir)[-2], weeks(small_world_dir)[-1]
    for week_file in (earlier, latest):
        assert score(trained, small_world_dir, week_file, f"output_root={out}", "log_to_mlflow=false").returncode == 0
    earlier_dir, latest_dir = out / earlier.stem, out / latest.stem
    before_earlier, before_latest = tree(earlier_dir), {n: sha(latest_dir / n) for n in STABLE}
    killed = run_command("resilience-score", f"input={latest}", f"output_root={out}", "report=false",
                         "log_to_mlflow=false", "overwrite=true", cwd=root, env={**env, "RESILIENCE_FAULT": point})
    assert killed.returncode == 137, (point, killed.stderr[-2000:])
    assert tree(earlier_dir) == before_earlier, "another week is never touched"
    if latest_dir.exists():  # the old complete week or the new complete one, never a partial one
        assert {n: sha(latest_dir / n) for n in STABLE} == before_latest
    else:
        assert point == "during_swap" and list(out.glob(f".{latest.stem}.old-*")), "set aside, restorable"
    assert [p for p in out.iterdir() if p.name.startswith(".")], "the killed run left its folders"
    rerun = score(trained, small_world_dir, latest, f"output_root={out}", "log_to_mlflow=false", "overwrite=true")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "the rerun tidied the dead run's folders"
    assert {n: sha(latest_dir / n) for n in STABLE} == before_latest, "byte-identical after the rerun"


@pytest.mark.slow
def test_sigterm_removes_the_temporary_folder(trained, small_world_dir):
    root, env = trained
    out = root / "terminated"
    latest = weeks(small_world_dir)[-1]
    assert score(trained, small_world_dir, latest, f"output_root={out}", "log_to_mlflow=false").returncode == 0
    before = tree(out / latest.stem)
    for point in ("build", "before_swap"):
        stopped = run_command("resilience-score", f"input={latest}", f"output_root={out}", "report=false",
                              "log_to_mlflow=false", "overwrite=true", cwd=root,
                              env={**env, "RESILIENCE_FAULT": f"{point}:sigterm"})
        assert stopped.returncode == 143 and "terminated" in stopped.stderr, stopped.stderr[-2000:]
        assert "Traceback" not in stopped.stderr
        assert sorted(p.name for p in out.iterdir()) == [latest.stem], "no temporary folder is left"
        # SIGTERM is held back during the renames: at "before_swap" the swap completes first, so the
        # week is whole (old or new); its scored files are byte-identical either way
        after = tree(out / latest.stem)
        assert {k: after[k] for k in STABLE} == {k: before[k] for k in STABLE}
        assert set(after) == set(before)


def test_recovery_touches_only_folders_of_dead_owners(tmp_path):
    from resilience.score import _recover

    sleeper = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        (tmp_path / "2026-W46").mkdir()
        live_old = tmp_path / f".2026-W47.old-{sleeper.pid}"   # a live scorer mid-swap: not ours to touch
        live_tmp = tmp_path / f".2026-W47.tmp-{sleeper.pid}"
        dead_old = tmp_path / f".2026-W45.old-{dead.pid}"      # a dead scorer mid-swap: restore it
        dead_old_done = tmp_path / f".2026-W46.old-{dead.pid}"  # a dead scorer after its swap: remove it
        dead_tmp = tmp_path / f".scoring.tmp-{dead.pid}"
        for folder in (live_old, live_tmp, dead_old, dead_old_done, dead_tmp):
            folder.mkdir()
            (folder / "manifest.json").write_text(folder.name)
        _recover(tmp_path)
        assert live_old.is_dir() and live_tmp.is_dir() and not (tmp_path / "2026-W47").exists()
        assert (tmp_path / "2026-W45" / "manifest.json").read_text() == dead_old.name
        assert not dead_old_done.exists() and not dead_tmp.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_bad_input_is_one_clear_error_and_writes_nothing(trained, small_world_dir, tmp_path):
    root, _ = trained
    good = pd.read_parquet(weeks(small_world_dir)[-1])
    bad = good.copy()
    bad.loc[bad.index[2], "contacts"] = -5
    bad_file = tmp_path / "bad.parquet"
    bad.to_parquet(bad_file)
    other_schema = tmp_path / "other.csv"
    good.rename(columns={"contacts": "customer_count"}).to_csv(other_schema, index=False)
    cases = [
        ([f"input={bad_file}"], "contacts"),
        ([f"input={other_schema}"], "missing required column"),
        ([f"input={weeks(small_world_dir)[-1]}", "model_uri=models:/line-resilience@nonexistent"], "nonexistent"),
        ([f"input={weeks(small_world_dir)[-1]}", "mlflow.tracking_uri=http://127.0.0.1:9"], "does not answer"),
    ]
    for args, expected in cases:
        out = tmp_path / "out"
        result = run_command("resilience-score", *args, f"output_root={out}", "report=false", cwd=root, env=trained[1])
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert not out.exists(), f"something was written for {args} (not even an empty output_root may be)"


@pytest.mark.slow
def test_a_week_scored_by_another_model_needs_overwrite(trained, small_world_dir, tmp_path):
    """The identity is registry + version + artifact digest: a look-alike is another model."""
    root, env = trained
    latest = weeks(small_world_dir)[-1]
    assert score(trained, small_world_dir, latest, f"week={latest.stem}").returncode == 0
    manifest = root / "weekly" / latest.stem / "manifest.json"
    recorded = json.loads(manifest.read_text())["model"]
    assert recorded["fingerprint"]["sha256"] and recorded["fingerprint"]["version"] == "1"
    same = score(trained, small_world_dir, latest, "model_uri=models:/line-resilience/1", f"week={latest.stem}")
    assert same.returncode == 0, "the same model by another URI form is the same model"
    # a directory holding the same files, named like the version: unregistered, so not the same model
    import shutil

    from mlflow.tracking import MlflowClient

    lookalike = tmp_path / "line-resilience" / "1"
    source = MlflowClient(env["MLFLOW_TRACKING_URI"]).get_model_version_download_uri("line-resilience", "1")
    shutil.copytree(source.removeprefix("file://"), lookalike)
    before = sha(manifest)
    refused = score(trained, small_world_dir, latest, f"model_uri={lookalike}", "allow_unregistered=true", f"week={latest.stem}")
    assert refused.returncode == 2 and "overwrite=true" in refused.stderr, refused.stderr[-2000:]
    assert sha(manifest) == before, "nothing changed"
    # "version 1" of another store (same name and number, other digest)
    data = json.loads(manifest.read_text())
    data["model"]["fingerprint"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    refused = score(trained, small_world_dir, latest, f"week={latest.stem}")
    assert refused.returncode == 2 and "overwrite=true" in refused.stderr
    assert json.loads(manifest.read_text())["model"]["fingerprint"]["sha256"] == "0" * 64, "nothing changed"
    assert score(trained, small_world_dir, latest, f"week={latest.stem}", "overwrite=true").returncode == 0


@pytest.mark.slow
def test_drift_alerts_on_a_shifted_week_and_not_on_an_ordinary_one(trained, small_world_dir, tmp_path):
    from resilience.data.synthetic import write_world, generate_world

    from conftest import SMALL_WORLD
    from dataclasses import replace

    root, env = trained
    shifted = generate_world(replace(SMALL_WORLD, covariate_shift=1.0))
    write_world(shifted, tmp_path / "shifted")
    shifted_run = run_command("resilience-score", f"input={sorted((tmp_path / 'shifted' / 'weekly').glob('*'))[-1]}",
                           f"output_root={tmp_path / 'out'}", "report=false", cwd=root, env=env)
    assert shifted_run.returncode == 0, shifted_run.stderr[-2000:]
    week = sorted((tmp_path / "out").iterdir())[-1]
    alerts = json.loads((week / "drift.json").read_text())["alerts"]
    assert {a["name"] for a in alerts if a["kind"] == "feature"} & {"contacts", "bulk_texts_per_day"}
    normal = run_command("resilience-score", f"input={weeks(small_world_dir)[-1]}",
                         f"output_root={tmp_path / 'out2'}", "report=false", cwd=root, env=env)
    assert normal.returncode == 0, normal.stderr[-2000:]
    week = sorted((tmp_path / "out2").iterdir())[-1]
    alerts = json.loads((week / "drift.json").read_text())["alerts"]
    assert not [a for a in alerts if a.get("level") == "alert"], alerts


@pytest.mark.slow
def test_outcomes_are_joined_to_the_weeks_that_scored_them(trained, small_world, small_world_dir, tmp_path):
    import numpy as np
    from mlflow.tracking import MlflowClient

    root, env = trained
    out = tmp_path / "weekly"
    for week_file in weeks(small_world_dir)[-2:]:
        result = run_command("resilience-score", f"input={week_file}", f"output_root={out}", "report=false",
                             cwd=root, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
    rng = np.random.default_rng(0)  # outcomes drawn from the world's true probabilities
    truth = small_world.truth
    labels = pd.DataFrame({"disruption_id": truth["disruption_id"],
                           "persisted_12w": rng.random(len(truth)) < truth["true_probability"]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    result = run_command("resilience-outcomes", f"input={tmp_path / 'labels.csv'}", f"output_root={out}",
                         "min_rows=15", cwd=root, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(out / "outcomes.csv")
    assert set(table["week"]) == {p.stem for p in weeks(small_world_dir)[-2:]}
    assert {"all", "imported", "home_grown"} <= set(table["cohort"])
    shown = table[~table["suppressed"]]
    assert shown["roc_auc"].between(0.5, 1).all() and shown["brier"].between(0, 0.5).all()
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("weekly-outcomes")
    runs = client.search_runs([experiment.experiment_id])
    assert any("all_roc_auc" in r.data.metrics for r in runs)


# -- only vetted models run ---------------------------------------------------------------------------
class _Planted:
    """Unpickling this runs ``touch <marker>``: the model a hostile directory or store would hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def planted(tmp_path, mlflow_uri):
    """A crafted pyfunc, saved as a directory, logged in a run and registered as ``planted`` version 1."""
    import cloudpickle
    import mlflow
    import yaml

    marker = tmp_path / "code-ran"
    folder = tmp_path / "planted_model"
    folder.mkdir()
    (folder / "python_model.pkl").write_bytes(cloudpickle.dumps(_Planted(marker)))
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": {
        "loader_module": "mlflow.pyfunc.model", "python_model": "python_model.pkl", "python_version": "3.11",
        "env": {"virtualenv": "python_env.yaml"}}}}))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "model")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "planted")
    assert not marker.exists()
    return folder, run.info.run_id, marker


def test_unvetted_models_are_refused_before_any_code_runs(planted):
    from mlflow.tracking import MlflowClient

    from resilience import tracking
    from resilience.errors import ResilienceError
    from resilience.pyfunc import load_vetted

    folder, run_id, marker = planted
    cases = [(str(folder), "refusing to load"), (f"runs:/{run_id}/model", "refusing to load"),
             (f"file://{folder}", "refusing to load"), ("models:/planted/1", "no model card"),
             ("models:/planted@champion", "no registered model"), ("models:/m-0123abc", "no registered model")]
    for uri, expected in cases:
        with pytest.raises(ResilienceError, match=expected):
            tracking.load_persistence_model(uri)
        with pytest.raises(ResilienceError, match=expected):
            load_vetted(uri)
    client = MlflowClient()
    client.set_model_version_tag("planted", "1", "model_card", "logged")  # a card, but no digest recorded
    with pytest.raises(ResilienceError, match="no recorded artifact digest"):
        tracking.load_persistence_model("models:/planted/1")
    tracking.record_digest("planted", "1")
    source = Path(client.get_model_version_download_uri("planted", "1").removeprefix("file://"))
    with open(source / "python_model.pkl", "ab") as handle:  # the store's files changed after registration
        handle.write(b"\n")
    with pytest.raises(ResilienceError, match="do not match the digest recorded at registration"):
        tracking.load_persistence_model("models:/planted/1")
    assert not marker.exists(), "nothing was unpickled"
    # the crafted model is real: let it through explicitly and its code runs (then it is refused as foreign)
    with pytest.raises(ResilienceError):
        tracking.load_persistence_model(str(folder), allow_unregistered=True)
    assert marker.exists()


@pytest.mark.slow
def test_score_refuses_a_crafted_model_directory_with_one_message(planted, mlflow_uri, small_world_dir, tmp_path):
    folder, run_id, marker = planted
    for uri in (str(folder), f"runs:/{run_id}/model", "models:/planted/1"):
        result = run_command("resilience-score", f"input={weeks(small_world_dir)[-1]}", f"model_uri={uri}",
                             f"output_root={tmp_path / 'out'}", "report=false", cwd=tmp_path,
                             env={"MLFLOW_TRACKING_URI": mlflow_uri})
        assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not marker.exists() and not (tmp_path / "out").exists()


# -- output paths that cannot take the week ----------------------------------------------------------
@contextlib.contextmanager
def small_filesystem(folder: Path, options: str):
    """A tmpfs mounted at ``folder`` (root only); yields False where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                                   capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.slow
def test_output_paths_that_cannot_take_the_week_are_one_message(trained, small_world_dir, tmp_path):
    root, env = trained
    latest = weeks(small_world_dir)[-1]
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("keep me")
    out = tmp_path / "out"
    (out / latest.stem).parent.mkdir()
    (out / latest.stem).write_text("not a week folder")
    cases = [((f"output_root={in_the_way}",), "is a file"), ((f"output_root={in_the_way / 'below'}",), "is a file"),
             ((f"output_root={out}",), "in the way")]
    with small_filesystem(tmp_path / "full", "size=64k") as full, \
            small_filesystem(tmp_path / "readonly", "ro,size=1m") as readonly:
        if full:
            cases.append(((f"output_root={tmp_path / 'full' / 'weekly'}",), "the disk is full"))
        if readonly:
            cases.append(((f"output_root={tmp_path / 'readonly' / 'weekly'}",), "read-only"))
        for args, expected in cases:
            result = score(trained, small_world_dir, latest, *args, "log_to_mlflow=false")
            text = result.stdout + result.stderr
            assert result.returncode == 2 and expected in result.stderr and "Traceback" not in text, (args, text[-2000:])
        if full:
            assert not list((tmp_path / "full").iterdir()), "nothing half-written on the full disk"
    assert in_the_way.read_text() == "keep me" and (out / latest.stem).read_text() == "not a week folder"


@pytest.mark.slow
def test_a_damaged_week_folder_is_named_and_replaced_only_with_overwrite(trained, small_world_dir, tmp_path):
    root, env = trained
    latest = weeks(small_world_dir)[-1]
    out = tmp_path / "weekly"
    assert score(trained, small_world_dir, latest, f"output_root={out}", "log_to_mlflow=false").returncode == 0
    manifest = out / latest.stem / "manifest.json"
    manifest.write_text('{"week": "truncated')
    refused = score(trained, small_world_dir, latest, f"output_root={out}", "log_to_mlflow=false")
    assert refused.returncode == 2 and "cannot be read" in refused.stderr and "overwrite=true" in refused.stderr
    assert manifest.read_text() == '{"week": "truncated'
    report = run_command("resilience-report", f"week={latest.stem}", f"output_root={out}", cwd=root, env=env)
    assert report.returncode == 2 and str(manifest) in report.stderr and "Traceback" not in report.stderr
    again = score(trained, small_world_dir, latest, f"output_root={out}", "log_to_mlflow=false", "overwrite=true")
    assert again.returncode == 0 and json.loads(manifest.read_text())["week"] == latest.stem


@pytest.mark.slow
def test_a_full_disk_in_process_is_one_message_and_leaves_nothing(trained, small_world_dir, tmp_path, monkeypatch):
    """The same fault without a tmpfs: the disk fills while the manifest is written."""
    import mlflow

    from resilience import score as scoring
    from resilience import tracking
    from resilience.errors import ResilienceError

    root, env = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    model, vetted = tracking.load_persistence_model("models:/line-resilience@champion")

    def full(target, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(scoring, "write_text_atomic", full)
    out = tmp_path / "weekly"
    ref = scoring.ModelRef("models:/line-resilience@champion", vetted.name, vetted.version, vetted.run_id,
                           vetted.registry, vetted.sha256)
    with pytest.raises(ResilienceError, match="the disk is full") as error:
        scoring.score_week(weeks(small_world_dir)[-1], model, ref, out)
    assert "nothing was changed" in str(error.value) and not out.exists()


@pytest.mark.slow
def test_unregistered_and_logged_model_uris(trained, small_world_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    root, env = trained
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version("line-resilience", "1")
    assert version.source.startswith("models:/m-"), version.source
    logged = version.source  # the MLflow 3 logged-model URI, models:/m-<id>
    latest = weeks(small_world_dir)[-1]
    by_id = score(trained, small_world_dir, latest, f"model_uri={logged}", f"output_root={tmp_path / 'a'}",
                  "log_to_mlflow=false")
    assert by_id.returncode == 0, by_id.stderr[-2000:]
    manifest = json.loads((tmp_path / "a" / latest.stem / "manifest.json").read_text())
    assert manifest["model"]["version"] == "1" and manifest["model"]["sha256"] == version.tags["artifact_sha256"]
    run_uri = f"runs:/{version.run_id}/model"
    refused = score(trained, small_world_dir, latest, f"model_uri={run_uri}", f"output_root={tmp_path / 'b'}")
    assert refused.returncode == 2 and "allow_unregistered=true" in refused.stderr and not (tmp_path / "b").exists()
    allowed = score(trained, small_world_dir, latest, f"model_uri={logged}", "allow_unregistered=true",
                    f"output_root={tmp_path / 'c'}", "log_to_mlflow=false")
    assert allowed.returncode == 0
    source = client.get_model_version_download_uri("line-resilience", "1")
    unvetted = score(trained, small_world_dir, latest, f"model_uri={source}", "allow_unregistered=true",
                     f"output_root={tmp_path / 'd'}", "log_to_mlflow=false")
    assert unvetted.returncode == 0, unvetted.stderr[-2000:]
    manifest = json.loads((tmp_path / "d" / latest.stem / "manifest.json").read_text())
    assert any("UNREGISTERED" in w for w in manifest["warnings"]) and manifest["model"]["version"] is None


@pytest.mark.slow
def test_a_model_whose_signature_does_not_match_its_contract_is_refused(trained, tmp_path, monkeypatch):
    import mlflow
    import yaml
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    from resilience import tracking
    from resilience.errors import ResilienceError

    root, env = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    local = Path(download_artifacts(artifact_uri="models:/line-resilience/1", dst_path=str(tmp_path / "copy")))
    spec = yaml.safe_load((local / "MLmodel").read_text())
    inputs = json.loads(spec["signature"]["inputs"])
    spec["signature"]["inputs"] = json.dumps([c for c in inputs if c["name"] != "contacts"])
    (local / "MLmodel").write_text(yaml.safe_dump(spec))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), "model")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "reshaped")
    MlflowClient().set_model_version_tag("reshaped", "1", "model_card", "logged")
    tracking.record_digest("reshaped", "1")
    with pytest.raises(ResilienceError, match="signature does not match its data contract.*contacts"):
        tracking.load_persistence_model("models:/reshaped/1")
