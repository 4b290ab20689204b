"""Weekly scoring end to end: train -> score -> rerun identical -> killed runs leave nothing partial."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
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
    return run_command("resilience-score", f"input={week_file}", f"output_root={root / 'weekly'}", "report=false",
                       *extra, cwd=cwd or root, env=env)


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


@pytest.mark.slow
def test_killed_runs_leave_earlier_output_intact(trained, small_world_dir):
    root, env = trained
    earlier, latest = weeks(small_world_dir)[-2], weeks(small_world_dir)[-1]
    assert score(trained, small_world_dir, earlier).returncode == 0
    assert score(trained, small_world_dir, latest).returncode == 0
    earlier_dir, latest_dir = root / "weekly" / earlier.stem, root / "weekly" / latest.stem
    snapshot = {p.name: sha(p) for p in earlier_dir.iterdir()}
    latest_scores = sha(latest_dir / "scores.csv")
    for delay in (0.5, 1.5, 2.5, 3.5, 5.0):
        process = subprocess.Popen([str(BIN / "resilience-score"), f"input={latest}", f"output_root={root / 'weekly'}",
                                    "report=false", "log_to_mlflow=false"], cwd=root, env={**os.environ, **env},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert {p.name: sha(p) for p in earlier_dir.iterdir()} == snapshot, f"earlier week changed (kill at {delay}s)"
        if latest_dir.exists():  # either the old complete week or a new complete one, never a partial one
            assert (latest_dir / "manifest.json").is_file() and sha(latest_dir / "scores.csv") == latest_scores
    # the next run tidies whatever a killed run left behind
    assert score(trained, small_world_dir, latest).returncode == 0
    assert not [p for p in (root / "weekly").iterdir() if p.name.startswith(".")]
    assert sha(latest_dir / "scores.csv") == latest_scores


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
        assert not out.exists() or not any(out.iterdir()), f"something was written for {args}"


@pytest.mark.slow
def test_a_week_scored_by_another_model_needs_overwrite(trained, small_world_dir):
    root, env = trained
    latest = weeks(small_world_dir)[-1]
    assert score(trained, small_world_dir, latest).returncode == 0
    other = score(trained, small_world_dir, latest, "model_uri=models:/line-resilience/1", f"week={latest.stem}")
    assert other.returncode == 0
    manifest = root / "weekly" / latest.stem / "manifest.json"
    data = json.loads(manifest.read_text())
    data["model"]["identity"] = "line-resilience/999"
    manifest.write_text(json.dumps(data))
    refused = score(trained, small_world_dir, latest, f"week={latest.stem}")
    assert refused.returncode == 2 and "overwrite=true" in refused.stderr
    assert json.loads(manifest.read_text())["model"]["identity"] == "line-resilience/999", "nothing changed"
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
