"""The train command's Optuna study: the search space read from an experiment, trials nested under
one MLflow parent run, a study that resumes where it stopped, and one that refuses other settings.

These run a study of stand-in trials (an MLflow run each, a value from the sampled settings), so
they take seconds; tests/test_configs.py runs a real study of training runs end to end."""

from __future__ import annotations

import math
import time

import pytest
from conftest import run_command
from mlflow.tracking import MlflowClient
from omegaconf import open_dict
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from test_configs import composed

from resilience.cli._sweep import search_space, study_settings, with_settings
from resilience.core.errors import ConfigError, ResilienceError
from resilience.pipelines.sweep import PARENT_ATTR, SweepConfig, open_study, sweep
from resilience.tracking.runs import ParentRun, start_run
from resilience.tracking.store import TrackingConfig, ensure_experiment

SPACE = {
    "model.params.num_leaves": "choice(7, 15, 31)",
    "model.params.learning_rate": "tag(log, interval(0.02, 0.1))",
    "model.params.min_child_samples": "int(interval(20, 200))",
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("choice(7, 15, 31)", CategoricalDistribution([7, 15, 31])),
        ("choice(gbdt, dart)", CategoricalDistribution(["gbdt", "dart"])),
        ("interval(0.5, 1.0)", FloatDistribution(0.5, 1.0)),
        ("tag(log, interval(0.02, 0.1))", FloatDistribution(0.02, 0.1, log=True)),
        ("int(interval(20, 200))", IntDistribution(20, 200)),
        ("tag(log, int(interval(8, 256)))", IntDistribution(8, 256, log=True)),
        ("range(1, 10, 2)", IntDistribution(1, 9, step=2)),  # Hydra's range stops before 10
    ],
)
def test_the_search_space_reads_hydra_sweep_syntax(text, expected):
    assert search_space({"model.params.x": text}) == {"model.params.x": expected}


def test_nested_space_keys_are_joined_with_dots():
    nested = {"model": {"params": {"num_leaves": "choice(7, 15)"}}}
    assert list(search_space(nested)) == ["model.params.num_leaves"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.5", "a fixed value, not a search dimension"),
        ("interval(1.0, 0.5)", "interval(1.0, 0.5)"),
        ("choice(7, 15", "expected choice(a, b), interval(a, b)"),
    ],
)
def test_a_bad_dimension_is_one_error_naming_the_key(text, expected):
    with pytest.raises(ConfigError) as error:
        search_space({"model.params.num_leaves": text})
    message = str(error.value)
    assert message.startswith("sweep.space: model.params.num_leaves: ") and expected in message
    assert "\n" not in message


def test_a_space_key_the_command_lacks_names_the_nearest():
    cfg = composed("train")
    with pytest.raises(ConfigError, match="did you mean 'model.params.num_leaves'"):
        with_settings(cfg, {"model.params.num_leavs": 7})
    with pytest.raises(ConfigError, match="split.test_weeks"):
        with_settings(cfg, {"split.test_weeks": "abc"})
    trial = with_settings(cfg, {"model.params.num_leaves": 7})
    assert trial.model.params.num_leaves == 7 and cfg.model.params.num_leaves is None


def _task_config(*overrides: str):
    """The train command's config as its task sees it (without Hydra's own node)."""
    cfg = composed("train", ["experiment=sweep_lightgbm", *overrides])
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@pytest.mark.parametrize(
    "overrides",
    [["sweep.n_trials=5"], ["experiment=sweep_lightgbm", "sweep.n_trials=-1"]],
)
def test_a_study_needs_trials_and_a_space(overrides, tmp_path):
    """`sweep.n_trials=5` on a config that declares no search space is one line, exit 2, before
    any data are read (the input does not exist)."""
    result = run_command(
        "resilience-train", *overrides, f"input={tmp_path / 'absent.parquet'}", cwd=tmp_path
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "expected 0 (one run) or a number of trials over a search space" in result.stderr


def test_a_study_keeps_what_changes_its_measurements_only():
    """Resuming is refused for another split or other data, not for more trials or threads."""
    base = study_settings(_task_config(), "abc")
    assert base == study_settings(_task_config("sweep.n_trials=40", "model.n_jobs=2"), "abc")
    assert base["sweep.space.model.params.num_leaves"] == "choice(7, 15, 31)"
    other = study_settings(_task_config("split.test_weeks=13"), "abc")
    assert {k for k in base if base[k] != other.get(k)} == {"split.test_weeks"}
    assert base != study_settings(_task_config(), "another extract")


class Trials:
    """Stand-in trials: an MLflow child run each (``seconds`` long), valued by a smooth function of
    the settings; the trial ``fail_at`` raises ``error`` before its run opens."""

    def __init__(
        self,
        tracking: TrackingConfig,
        fail_at: int | None = None,
        error: BaseException | None = None,  # None: Ctrl-C in the middle of a trial
        seconds: float = 0.0,
    ):
        self.tracking, self.fail_at, self.seconds = tracking, fail_at, seconds
        self.error = error or KeyboardInterrupt()
        self.seen = []

    def __call__(self, settings: dict, number: int, parent: ParentRun) -> tuple[float, str]:
        if number == self.fail_at:
            raise self.error
        self.seen.append(dict(settings))
        with start_run(self.tracking, "stand-in", parent=parent) as run:
            time.sleep(self.seconds)
        value = -abs(math.log(settings["model.params.learning_rate"] / 0.05))
        value -= abs(settings["model.params.num_leaves"] - 15) / 100
        return value, run.info.run_id


@pytest.fixture(scope="module")
def stores(tmp_path_factory, blank_store):
    """One MLflow store and one study file for this module's studies (each its own study name):
    creating a store costs seconds, a study in it milliseconds."""
    from conftest import copy_blank_store

    folder = tmp_path_factory.mktemp("sweeps")
    copy_blank_store(blank_store, folder)
    return folder


@pytest.fixture()
def tracking(stores, monkeypatch):
    import mlflow

    uri = f"sqlite:///{stores / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield TrackingConfig()
    mlflow.set_tracking_uri(None)


def _config(stores, n_trials: int = 0) -> SweepConfig:
    return SweepConfig(
        n_trials=n_trials, storage=f"sqlite:///{stores / 'studies.db'}", seed=0, space=SPACE
    )


def _sweep(stores, name, tracking, trials, n_trials):
    return sweep(
        _config(stores, n_trials),
        name,
        search_space(SPACE),
        trials,
        tracking,
        "cv_roc_auc",
        {"split.test_weeks": "26"},
        say=lambda text: None,
    )


def test_a_study_nests_its_trials_and_logs_the_best(stores, tracking):
    trials = Trials(tracking)
    outcome = _sweep(stores, "nests", tracking, trials, 4)
    assert (outcome.complete, outcome.ran) == (4, 4) and len(trials.seen) == 4
    for settings in trials.seen:  # every dimension sampled within its range
        assert settings["model.params.num_leaves"] in (7, 15, 31)
        assert 0.02 <= settings["model.params.learning_rate"] <= 0.1
        assert 20 <= settings["model.params.min_child_samples"] <= 200
    assert outcome.best_params in trials.seen
    client = MlflowClient()
    parent = client.get_run(outcome.parent_run_id).data
    history = client.get_metric_history(outcome.parent_run_id, "trial_cv_roc_auc")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]
    assert parent.metrics["best_cv_roc_auc"] == max(m.value for m in history) == outcome.best_value
    assert parent.tags["best.run_id"] == outcome.best_run_id
    assert parent.tags["best.model.params.num_leaves"] == str(
        outcome.best_params["model.params.num_leaves"]
    )
    best_child = client.get_run(outcome.best_run_id)
    assert best_child.data.tags["sweep.trial"] == str(outcome.best_number)
    assert best_child.info.run_name.startswith(f"trial {outcome.best_number} · ")
    assert {a.path for a in client.list_artifacts(outcome.parent_run_id, "sweep")} == {
        "sweep/best_trial.json",
        "sweep/space.json",
        "sweep/trials.csv",
    }


def test_a_stopped_study_resumes_where_it_stopped(stores, tracking):
    """Ctrl-C in trial 2 leaves it failed; the same command then runs only the missing trials,
    under the same parent run, with settings it has not tried."""
    with pytest.raises(KeyboardInterrupt):
        _sweep(stores, "resumes", tracking, Trials(tracking, fail_at=2), 4)
    client = MlflowClient()
    stopped = client.get_run(
        open_study(_config(stores), "resumes", {"split.test_weeks": "26"}).user_attrs[PARENT_ATTR]
    )
    assert stopped.info.status == "KILLED", "the parent says the study stopped, and where"
    assert stopped.data.tags["error"] == "trial 2: interrupted (Ctrl-C)"
    first = _sweep(stores, "resumes", tracking, Trials(tracking), 3)  # 2 complete + 1 missing
    finished = client.get_run(first.parent_run_id)
    assert finished.info.status == "FINISHED" and "error" not in finished.data.tags
    assert finished.data.tags["mlflow.note.content"].startswith("An Optuna study (resumes)")
    assert (first.complete, first.ran) == (3, 1)
    more = Trials(tracking)
    resumed = _sweep(stores, "resumes", tracking, more, 5)
    assert (resumed.complete, resumed.ran) == (5, 2)
    assert resumed.parent_run_id == first.parent_run_id
    study = open_study(_config(stores), "resumes", {"split.test_weeks": "26"})
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 5 and states.count("FAIL") == 1
    earlier = [t.params for t in study.trials if t.state.name == "COMPLETE"][:3]
    assert all(settings not in earlier for settings in more.seen), "a resumed study repeats trials"
    children = MlflowClient().search_runs(
        [ensure_experiment(tracking.experiment_name)],
        f"tags.mlflow.parentRunId = '{resumed.parent_run_id}'",
    )
    assert len(children) == 5


def test_the_study_s_parent_run_spans_its_trials(stores, tracking):
    """The parent was created finished before the first trial: the run page gave the study a
    duration of about 0 s. It starts with its first trial's run and ends after the last."""
    outcome = _sweep(stores, "spans", tracking, Trials(tracking, seconds=0.3), 2)
    client = MlflowClient()
    parent = client.get_run(outcome.parent_run_id).info
    children = client.search_runs(
        [parent.experiment_id], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'"
    )
    assert len(children) == 2 and parent.status == "FINISHED"
    assert parent.start_time == min(c.info.start_time for c in children)
    assert parent.end_time >= max(c.info.end_time for c in children)
    assert parent.end_time - parent.start_time >= 600, "at least the two trials' 0.3 s each"


def test_a_study_whose_first_trial_fails_on_its_data_leaves_no_run(stores, tracking):
    """A study whose first trial stopped before its run opened (data the split refuses) left a
    parent run of no trials, finished, and its folder: the study made nothing to review."""
    error = ResilienceError("the history is too short to split honestly")
    with pytest.raises(ResilienceError):
        _sweep(stores, "no data", tracking, Trials(tracking, fail_at=0, error=error), 2)
    left = MlflowClient().search_runs(
        [ensure_experiment(tracking.experiment_name)], "tags.`sweep.study` = 'no data'"
    )
    assert not left, [r.info.run_name for r in left]
    assert (
        PARENT_ATTR
        not in open_study(_config(stores), "no data", {"split.test_weeks": "26"}).user_attrs
    )


def test_a_study_refuses_to_resume_with_other_settings(stores):
    open_study(_config(stores), "refuses", {"split.test_weeks": "26", "data_sha256": "abc"})
    with pytest.raises(ResilienceError) as error:
        open_study(_config(stores), "refuses", {"split.test_weeks": "13", "data_sha256": "abc"})
    message = str(error.value)
    assert "study 'refuses' began with other settings (split.test_weeks: '26' -> '13')" in message
    assert "sweep.name=" in message and str(stores / "studies.db") in message


def test_a_damaged_study_file_is_one_message_naming_it(tmp_path):
    damaged = tmp_path / "study.db"
    damaged.write_bytes(b"not a database, truncated by a full disk" * 100)
    with pytest.raises(ResilienceError) as error:
        open_study(SweepConfig(storage=f"sqlite:///{damaged}"), "study", {})
    assert str(damaged) in str(error.value) and "\n" not in str(error.value)


def test_a_trial_logs_the_overrides_that_replay_it_as_one_run():
    """``resilience-train rerun=<a trial's run id>`` replayed the study's command line, so it
    resumed the study (0 trials run) instead of training that trial again."""
    from resilience.cli._sweep import trial_overrides

    given = ["experiment=sweep_lightgbm", "sweep.n_trials=3", "model.params.num_leaves=7", "seed=1"]
    settings = {"model.params.num_leaves": 15, "model.params.learning_rate": 0.048071425018349025}
    assert trial_overrides(given, settings) == [
        "experiment=sweep_lightgbm",
        "seed=1",
        "++model.params.num_leaves=15",
        "++model.params.learning_rate=0.048071425018349025",
        "sweep.n_trials=0",
    ]
    assert trial_overrides([], {"model.params.extra_trees": True})[0].endswith("=true")
