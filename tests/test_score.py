"""Weekly scoring end to end: train -> score -> rerun identical; bad input; which model scored a week;
drift; outcomes. The champion is trained once per test run (conftest ``shared_store``); a test that
logs to MLflow or writes a week folder works on its own copy (``own_store``, ``scored_weeks``).
Killed runs and unwritable outputs: test_score_faults.py; only vetted models run: test_score_vetting.py."""

from __future__ import annotations

import errno
import json
import shutil

import pandas as pd
import pytest
from conftest import run_command, run_score, sha


@pytest.mark.slow
def test_score_writes_the_week_and_reruns_identically(own_store, tmp_path):
    week_file = own_store.weeks()[-1]
    out = tmp_path / "weekly"
    first = run_score(own_store, week_file, out, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    folder = out / week_file.stem
    for name in (
        "scores.csv",
        "scores.parquet",
        "explanations.parquet",
        "drift.json",
        "manifest.json",
        "safeguarding.json",
        "contract.json",
    ):
        assert (folder / name).is_file(), name
    scores = pd.read_parquet(folder / "scores.parquet")
    extract = pd.read_parquet(week_file)
    assert len(scores) == len(extract) and set(scores["disruption_id"]) == set(
        extract["disruption_id"]
    )
    assert sorted(scores["rank"]) == list(range(1, len(scores) + 1))
    top = scores.sort_values("rank")["persistence_probability"].to_numpy()
    assert (top[:-1] >= top[1:]).all(), "rank 1 is the most likely to persist"
    assert scores["reason_for_1"].str.len().gt(0).any() and scores["summary"].str.len().gt(0).all()
    explanations = pd.read_parquet(folder / "explanations.parquet")
    assert "baseline_probability" in explanations and "contacts" in explanations
    # the week drawn jointly: each line's share of draws on the shortlist, split by how sure
    manifest_draws = json.loads((folder / "manifest.json").read_text())["draws"]
    capacity = manifest_draws["capacity"]
    assert scores["on_shortlist_share"].between(0, 1).all()
    assert scores["on_shortlist_share"].sum() == pytest.approx(capacity)
    listed = scores[scores["priority_rank"] <= capacity]
    assert listed["shortlist_group"].isin(["in nearly every draw", "at its best estimate"]).all()
    assert (scores.loc[scores["priority_rank"] > capacity, "shortlist_group"] == "").mean() > 0.95
    assert scores["likely_or_more_chance"].between(0, 1).all() and "band_uncertain" in scores
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"]["version"] == "1" and manifest["input"]["sha256"] == sha(week_file)
    assert manifest["counts"]["rows"] == len(extract) and manifest["config_hash"]
    # the week keeps the extract it scored, its bytes as they were, named in the manifest
    assert manifest["input"]["kept"] == "extract.parquet"
    assert sha(folder / "extract.parquet") == sha(week_file)
    before = sha(folder / "scores.csv")
    # a new interpreter (its own string-hash order): the same bytes do not come from a shared start
    again = run_score(own_store, week_file, out, cwd=tmp_path, fresh=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sha(folder / "scores.csv") == before, (
        "the same week twice gives byte-identical scores.csv"
    )
    assert sha(folder / "extract.parquet") == sha(week_file)
    left = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert left == [f".{folder.name}.lock"], "no temporary folders left; the week's lock file stays"
    # retention: only the most recent week keeps its extract; the older week's other files stay
    earlier = own_store.weeks()[-2]
    kept_one = run_score(own_store, earlier, out, "keep_extracts_weeks=1", cwd=tmp_path)
    assert kept_one.returncode == 0, kept_one.stderr[-3000:]
    assert not (out / earlier.stem / "extract.parquet").exists()
    assert (folder / "extract.parquet").is_file() and (out / earlier.stem / "scores.csv").is_file()


@pytest.mark.slow
def test_bad_input_is_one_clear_error_and_writes_nothing(trained, tmp_path):
    good = pd.read_parquet(trained.weeks()[-1])
    bad = good.copy()
    bad.loc[bad.index[2], "contacts"] = -5
    bad_file = tmp_path / "bad.parquet"
    bad.to_parquet(bad_file)
    other_schema = tmp_path / "other.csv"
    good.rename(columns={"contacts": "customer_count"}).to_csv(other_schema, index=False)
    cases = [
        ([f"input={bad_file}"], "contacts"),
        ([f"input={other_schema}"], "missing required column"),
        (
            [f"input={trained.weeks()[-1]}", "model_uri=models:/line-resilience@nonexistent"],
            "nonexistent",
        ),
        (
            [f"input={trained.weeks()[-1]}", "mlflow.tracking_uri=http://127.0.0.1:9"],
            "does not answer",
        ),
    ]
    for args, expected in cases:
        out = tmp_path / "out"
        result = run_command(
            "resilience-score",
            *args,
            f"output_root={out}",
            "report=false",
            cwd=tmp_path,
            env=trained.env,
        )
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert not out.exists(), (
            f"something was written for {args} (not even an empty output_root may be)"
        )


@pytest.mark.slow
def test_a_week_scored_by_another_model_needs_overwrite(trained, scored_weeks, tmp_path):
    """The identity is registry + version + artifact digest: a look-alike is another model."""
    from mlflow.tracking import MlflowClient

    latest = trained.weeks()[-1]
    out = scored_weeks  # the week already scored by the champion (version 1 of this registry)

    def score(*extra):
        return run_score(
            trained, latest, out, f"week={latest.stem}", "log_to_mlflow=false", *extra, cwd=tmp_path
        )

    manifest = out / latest.stem / "manifest.json"
    recorded = json.loads(manifest.read_text())["model"]
    assert recorded["fingerprint"]["sha256"] and recorded["fingerprint"]["version"] == "1"
    same = score("model_uri=models:/line-resilience/1")
    assert same.returncode == 0, "the same model by another URI form is the same model"
    # a directory holding the same files, named like the version: unregistered, so not the same model
    lookalike = tmp_path / "line-resilience" / "1"
    source = MlflowClient(trained.uri).get_model_version_download_uri("line-resilience", "1")
    shutil.copytree(source.removeprefix("file://"), lookalike)
    before = sha(manifest)
    refused = score(f"model_uri={lookalike}", "allow_unregistered=true")
    assert refused.returncode == 2 and "overwrite=true" in refused.stderr, refused.stderr[-2000:]
    assert sha(manifest) == before, "nothing changed"
    # "version 1" of another store (same name and number, other digest)
    data = json.loads(manifest.read_text())
    data["model"]["fingerprint"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    refused = score()
    assert refused.returncode == 2 and "overwrite=true" in refused.stderr
    assert json.loads(manifest.read_text())["model"]["fingerprint"]["sha256"] == "0" * 64, (
        "nothing changed"
    )
    assert score("overwrite=true").returncode == 0
    assert json.loads(manifest.read_text())["model"]["fingerprint"] == recorded["fingerprint"]


@pytest.mark.slow
def test_drift_alerts_on_a_shifted_week_and_not_on_an_ordinary_one(
    trained, shared_scored_weeks, tmp_path
):
    from dataclasses import replace

    from conftest import SMALL_WORLD

    from resilience.data.synthetic import generate_world, write_world

    shifted = generate_world(replace(SMALL_WORLD, covariate_shift=1.0))
    write_world(shifted, tmp_path / "shifted")
    shifted_run = run_score(
        trained,
        sorted((tmp_path / "shifted" / "weekly").glob("*"))[-1],
        tmp_path / "out",
        "log_to_mlflow=false",
        cwd=tmp_path,
    )
    assert shifted_run.returncode == 0, shifted_run.stderr[-2000:]
    week = sorted((tmp_path / "out").iterdir())[-1]
    alerts = json.loads((week / "drift.json").read_text())["alerts"]
    assert {a["name"] for a in alerts if a["kind"] == "feature"} & {
        "contacts",
        "bulk_texts_per_day",
    }
    # the command's line counts each level by its name
    levels = [a["level"] for a in alerts]
    said = " and ".join(
        f"{levels.count(level)} {level}(s)" for level in ("alert", "warning") if level in levels
    )
    assert f"drift: {said}: see " in shifted_run.stdout, shifted_run.stdout
    # the ordinary latest week of the training world, scored by the same command (conftest)
    normal = shared_scored_weeks / trained.weeks()[-1].stem
    alerts = json.loads((normal / "drift.json").read_text())["alerts"]
    assert not [a for a in alerts if a.get("level") == "alert"], alerts


@pytest.mark.slow
def test_outcomes_are_joined_to_the_weeks_that_scored_them(own_store, scored_weeks, tmp_path):
    import numpy as np
    from mlflow.tracking import MlflowClient

    out = scored_weeks  # the last two weeks, scored by the champion
    rng = np.random.default_rng(0)  # outcomes drawn from the world's true probabilities
    truth = pd.read_parquet(own_store.world / "truth.parquet")  # the champion's own world
    labels = pd.DataFrame(
        {
            "disruption_id": truth["disruption_id"],
            "persisted_12w": rng.random(len(truth)) < truth["true_probability"],
        }
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    result = run_command(
        "resilience-outcomes",
        f"input={tmp_path / 'labels.csv'}",
        f"output_root={out}",
        "min_rows=15",
        # the world's last weeks are this year's: their outcomes cannot be known before 2027
        "as_of=unchecked",
        cwd=tmp_path,
        env=own_store.env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(out / "outcomes.csv")
    assert set(table["week"]) == {p.stem for p in own_store.weeks()[-2:]}
    assert {"all", "imported", "home_grown"} <= set(table["cohort"])
    shown = table[~table["suppressed"]]
    assert shown["roc_auc"].between(0.5, 1).all() and shown["brier"].between(0, 0.5).all()
    # the model in use checked for fairness on the outcomes known so far
    fairness = pd.read_csv(out / "outcomes_fairness.csv")
    assert set(fairness["model"]) == {"line-resilience/1"}
    home = fairness[(fairness["slice"] == "line_type") & (fairness["value"] == "home_grown")].iloc[
        0
    ]
    assert home["flag"] in ("ok", "over-predicts", "under-predicts")
    assert home["flag_interval_low"] < home["calibration_gap"] < home["flag_interval_high"]
    assert abs(home["detectable_gap"] - home["detectable_gap_simulated"]) <= 0.01
    local = fairness[(fairness["slice"] == "origin_hub") & (fairness["value"] == "local")]
    assert local["flag"].tolist() == ["same lines"]
    assert "outcomes_fairness.csv" in result.stdout
    client = MlflowClient(own_store.uri)
    experiment = client.get_experiment_by_name("weekly-outcomes")
    runs = client.search_runs([experiment.experiment_id])
    assert any("all_roc_auc" in r.data.metrics for r in runs)


@pytest.mark.slow
def test_a_full_disk_in_process_is_one_message_and_leaves_nothing(
    trained, mlflow_at, tmp_path, monkeypatch
):
    """The same fault without a tmpfs: the disk fills while the manifest is written."""
    from resilience.core.errors import ResilienceError
    from resilience.tracking import vetting
    from resilience.weekly import score as scoring

    mlflow_at(trained)
    model, vetted = vetting.load_persistence_model("models:/line-resilience@champion")

    def full(target, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(scoring, "write_text_atomic", full)
    out = tmp_path / "weekly"
    ref = scoring.ModelRef(
        "models:/line-resilience@champion",
        vetted.name,
        vetted.version,
        vetted.run_id,
        vetted.registry,
        vetted.sha256,
    )
    with pytest.raises(ResilienceError, match="the disk is full") as error:
        scoring.score_week(trained.weeks()[-1], model, ref, out)
    assert "nothing was changed" in str(error.value) and not out.exists()
