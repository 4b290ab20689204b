"""resilience-backtest (issue 20, item 4): the model trained as of a cutoff, the weeks after it
replayed as they stood, judged on the outcomes known now; one page and one MLflow run."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import TINY_WORLD, run_command
from mlflow.tracking import MlflowClient

from resilience.core.errors import ResilienceError
from resilience.core.progress import Stages
from resilience.data.snapshots import find_snapshots
from resilience.data.validate import validate_frame
from resilience.explain.screen import ScreenConfig
from resilience.learn.evaluation import EvaluationConfig
from resilience.learn.models import PersistenceModel
from resilience.learn.ranges import IntervalConfig
from resilience.learn.split import SplitConfig
from resilience.pipelines.backtest import (
    BacktestConfig,
    cutoff_as_of,
    run_backtest,
    train_as_of,
)
from resilience.pipelines.train import TrainingData, TrainSettings
from resilience.pipelines.train_inputs import load_truth
from resilience.report.backtest import render_backtest

CUTOFF = "2026-W30"  # replayed weeks W31.. hold records of every age whose outcome is known now
FAST = TrainSettings(
    split=SplitConfig(test_weeks=13, min_train_to_test=1.0),
    evaluation=EvaluationConfig(n_bootstrap=20),
    # one process: the screen's process pool has its own test (tests/test_explain.py)
    screen=ScreenConfig(permutations=2, resamples=2, max_rows=2000, n_jobs=1),
    intervals=IntervalConfig(n_models=2),
    progress=False,
)


@pytest.fixture(scope="module")
def data(tiny_world_dir, contract):
    path = tiny_world_dir / "disruptions.parquet"
    raw = pd.read_parquet(path)
    history = validate_frame(
        raw, contract, require_label=True, today=pd.Timestamp(TINY_WORLD.end_date)
    )
    return TrainingData(
        history.frame,
        contract,
        path,
        "test",
        truth=load_truth("auto", path, contract),
        snapshots=find_snapshots(tiny_world_dir / "weekly"),
    )


def test_training_as_of_the_cutoff_sees_only_what_was_known_then(data, contract):
    trained = train_as_of(
        data, PersistenceModel(contract, n_jobs=1), FAST, CUTOFF, Stages("t", enabled=False)
    )
    as_of = cutoff_as_of(CUTOFF)
    assert as_of == pd.Timestamp("2026-07-26")  # the cutoff week's Sunday
    rows = trained.rows.all_rows
    latest = pd.to_datetime(rows[contract.date_column]).max()
    assert latest <= as_of - pd.Timedelta(weeks=contract.horizon_weeks)  # outcomes known by then
    kept = [f for f in data.snapshots.files if f.week <= CUTOFF]
    assert trained.rows.summary["snapshot_files"] == len(kept) < len(data.snapshots.files)


@pytest.mark.slow
def test_the_weeks_after_the_cutoff_are_replayed_and_judged(data, contract):
    config = BacktestConfig(cutoff=CUTOFF, weeks=4, capacity_k=10, compare=True)
    backtest, models = run_backtest(data, PersistenceModel(contract, n_jobs=1), FAST, config)
    assert set(models) == {"model", "final_records"}
    assert list(backtest.by_week["week"]) == ["2026-W31", "2026-W32", "2026-W33", "2026-W34"]
    week = backtest.by_week.iloc[0]
    assert 0 < week["judged"] <= week["lines"] and week["shortlist_judged"] <= 10
    assert 0 <= week["shortlist_persisted"] <= 1 and 0 < week["shortlist_expected"] < 1
    assert week["bias_points"] == pytest.approx(
        100 * (week["mean_estimate"] - week["observed_rate"])
    )
    ages = backtest.by_age.set_index("record_age")
    assert {"0", "1", "11"} <= set(ages.index) and ages["disruptions"].gt(0).all()
    # the champion rule's paired line bootstrap compares the two trainings on the same rows
    auc = backtest.comparison["roc_auc"]
    assert auc["rows"] == backtest.summary["rows_judged"] and auc["lower"] <= auc["upper"]
    page = render_backtest(backtest)
    assert "<svg" in page and "<script" not in page and "2026-W34" in page
    assert "trained as of the end of <strong>2026-W30</strong>" in page


def test_a_cutoff_must_be_a_week_with_something_to_replay(data, contract):
    with pytest.raises(ResilienceError, match="does not exist|YYYY-Www|ISO week"):
        BacktestConfig(cutoff="2026-W60")
    late = BacktestConfig(cutoff="2026-W47", compare=False)
    with pytest.raises(ResilienceError, match="no weekly extract after 2026-W47"):
        run_backtest(data, PersistenceModel(contract, n_jobs=1), FAST, late)


@pytest.mark.parametrize("setting", [{"weeks": 0}, {"capacity_k": 0}, {"capacity_k": -3}])
def test_a_replay_of_nothing_is_refused_before_any_work(setting):
    with pytest.raises(ResilienceError, match="must be at least 1"):
        BacktestConfig(cutoff=CUTOFF, **setting)


@pytest.mark.slow
def test_the_command_writes_one_page_and_one_mlflow_run(tiny_world_dir, tmp_path, new_store_uri):
    uri = new_store_uri
    result = run_command(
        "resilience-backtest",
        f"input={tiny_world_dir / 'disruptions.parquet'}",
        f"snapshots={tiny_world_dir / 'weekly'}",
        f"backtest.cutoff={CUTOFF}",
        "backtest.weeks=2",
        "backtest.compare=false",
        "split.test_weeks=13",
        "split.min_train_to_test=1.0",
        "evaluation.n_bootstrap=20",
        "intervals.n_models=2",
        "explain.screen.permutations=2",
        f"output={tmp_path / 'backtest.html'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri, "RESILIENCE_N_JOBS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "backtest.html").read_text()
    # each table column in words first, the CSV column's name after it (it showed 'bias_se_points')
    assert "Estimate minus what happened (points) (bias_vs_observed_points)" in page
    assert '<th scope="col">bias_se_points</th>' not in page
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("backtests")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["backtest.cutoff"] == CUTOFF
    assert "by_record_age.0.bias_vs_observed_points" in run.data.metrics
    names = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert names == {"tables/by_week.csv", "tables/by_record_age.csv"}


def test_a_cutoff_too_recent_to_judge_every_age_says_so():
    """A cutoff a few weeks before the newest outcome judges only the oldest records: the page
    said 'at every record age the estimates were within 2 points' on age 11 alone; it now names
    the ages it could not judge and how to pick a cutoff that judges them."""
    from resilience.pipelines.backtest import Backtest
    from resilience.report.backtest import _findings

    ages = pd.DataFrame(
        {
            "record_age": ["5", "11", "complete"],
            "disruptions": [12, 30, 30],
            "bias_vs_observed_points": [0.5, 1.0, 1.0],
            "bias_se_points": [4.0, 8.0, 8.0],
        }
    )
    summary = {"horizon_weeks": 12}
    late = Backtest("2026-W45", pd.Timestamp("2026-11-08"), pd.DataFrame(), ages, {}, summary)
    assert _findings(late) == [
        "At every record age judged the estimates were within 2 points of what happened, or "
        "within chance.",
        "No replayed line of record age 0-4, 6-10 weeks has a known outcome yet, so those ages "
        "are not judged: the replayed weeks are too recent. For a judgement at every age, pick a "
        "cutoff at least 12 weeks (the horizon) before the newest known outcome.",
    ]
    full = pd.concat([ages.iloc[[0]].assign(record_age=str(a)) for a in range(12)])
    assert _findings(Backtest("2026-W30", late.as_of, pd.DataFrame(), full, {}, summary)) == [
        "At every record age the estimates were within 2 points of what happened, or within chance."
    ]
