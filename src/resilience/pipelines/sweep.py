"""A hyperparameter study of the train command: Optuna proposes each trial's settings, each trial
is one training run nested under the study's MLflow parent run.

**Method.** Optuna's default sampler, TPE (in Optuna 5 multivariate, with the constant liar),
proposes a trial's settings from the search space and every finished trial of the study; the
first ``n_startup_trials`` (10) are drawn at random. The objective is a metric measured inside the
training span (``cv_roc_auc`` by default: time-ordered folds grouped by line), never the test
period, so choosing among trials does not select on the data the test metrics are read from.

**Storage.** A study lives in its own SQLite file (``outputs/sweeps/<name>.db`` from the working
directory, or any Optuna storage URL), so a sweep that stops (Ctrl-C, SIGTERM, a crash) resumes
when the same command runs again: complete trials are kept, and only the missing ones run
(``n_trials`` is the total the study should reach). A study resumes only with the settings it began
with (the resolved config apart from ``sweep.n_trials``, and the data's SHA-256): trials run on
other data or another split would not be comparable.

**Tracking.** One parent run per study, its id kept in the study, so a resumed study adds its
trials under the same parent (:mod:`resilience.tracking.sweep_runs`); each trial's training run
is a child with the sampled settings in its params, and the best trial is logged on the parent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from resilience.core.errors import ConfigError, ResilienceError, first_few
from resilience.core.progress import bar
from resilience.tracking import sweep_runs
from resilience.tracking.runs import ParentRun
from resilience.tracking.store import TrackingConfig

SWEEPS_DIR = Path("outputs") / "sweeps"  # from the working directory, like outputs/weekly
SETTINGS_ATTR = "settings"  # study user attributes: what the study began with ...
PARENT_ATTR = "mlflow_parent_run_id"  # ... and its MLflow parent run
RUN_ATTR = "mlflow_run_id"  # trial user attribute: its training run
DIRECTIONS = ("maximize", "minimize")

# A trial: (its settings, its number, the parent run) -> (the metric's value, its run id).
Objective = Callable[[dict[str, Any], int, ParentRun], tuple[float, str]]


@dataclass(frozen=True)
class SweepConfig:
    """How the train command runs a study (``configs/sweep/``). ``n_trials`` 0: one ordinary run;
    ``space``: config key -> Hydra sweep syntax (``choice(7, 15, 31)``, ``interval(0.02, 0.1)``,
    ``int(interval(20, 200))``, ``tag(log, interval(...))``, ``range(...)``)."""

    n_trials: int = 0
    name: str | None = None
    storage: str | None = None
    direction: str = "maximize"
    seed: int | None = None
    space: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyOutcome:
    """Where a study stands after a call: its trials, the best so far and what this call ran."""

    name: str
    storage: str
    parent_run_id: str | None  # None: no trial's run was ever opened in this store
    complete: int
    ran: int
    best_number: int
    best_value: float
    best_params: dict[str, Any]
    best_run_id: str | None


def storage_url(config: SweepConfig, name: str) -> str:
    """The study's storage: ``config.storage``, else ``sqlite:///outputs/sweeps/<name>.db``."""
    return config.storage or f"sqlite:///{SWEEPS_DIR / name}.db"


def open_study(config: SweepConfig, name: str, settings: Mapping[str, str]) -> optuna.Study:
    """The study ``name`` in its storage, created or resumed; refused if it began with other
    ``settings``."""
    if config.direction not in DIRECTIONS:
        raise ConfigError(f"sweep.direction={config.direction!r}: expected one of {DIRECTIONS}")
    url = storage_url(config, name)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        study = optuna.create_study(
            study_name=name,
            storage=url,
            direction=config.direction,
            load_if_exists=True,
        )
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, Alembic or Optuna: one message
        raise ResilienceError(
            f"{url}: cannot open the Optuna study {name!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); point sweep.storage elsewhere "
            "or move the file aside"
        ) from exc
    # a resumed study draws a fresh stream: reseeded as it began, it would repeat its first trials
    seed = None if config.seed is None else config.seed + len(study.trials)
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    recorded = study.user_attrs.get(SETTINGS_ATTR)
    if recorded is None:
        study.set_user_attr(SETTINGS_ATTR, dict(settings))
    elif recorded != dict(settings):
        raise ResilienceError(_settings_differ(url, name, recorded, settings))
    return study


def _settings_differ(url: str, name: str, recorded: Mapping, settings: Mapping) -> str:
    keys = sorted(
        k for k in recorded.keys() | settings.keys() if recorded.get(k) != settings.get(k)
    )
    changed = first_few((f"{k}: {recorded.get(k)!r} -> {settings.get(k)!r}" for k in keys), 3)
    return (
        f"{url}: study {name!r} began with other settings ({changed}); resume it with the "
        "same settings, or start another study with sweep.name=<new name>"
    )


def complete_trials(study: optuna.Study) -> list:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def run_study(
    study: optuna.Study,
    space: Mapping[str, BaseDistribution],
    n_trials: int,
    objective: Objective,
    parent: ParentRun,
    metric: str,
    say: Callable[[str], None] = print,
) -> int:
    """Run trials until ``study`` has ``n_trials`` complete ones; returns how many ran. A trial
    that raises is recorded as failed, and so is the parent run, naming it; the error goes on
    (the next call resumes)."""
    ran = 0
    while len(complete_trials(study)) < n_trials:
        trial = study.ask(fixed_distributions=dict(space))
        done = len(complete_trials(study))
        say(f"[sweep] trial {trial.number} ({done + 1} of {n_trials}) {bar(done, n_trials)}")
        try:
            with parent.child(f"trial {trial.number}"):
                value, run_id = objective(dict(trial.params), trial.number, parent)
                if value is None or not math.isfinite(value):
                    raise ResilienceError(
                        f"trial {trial.number} gave no {metric} (run {run_id}); choose an "
                        "optimized_metric this model family reports"
                    )
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        trial.set_user_attr(RUN_ATTR, run_id)
        study.tell(trial, value)
        sweep_runs.log_trial(parent.run_id, run_id, trial.number, metric, value)
        ran += 1
    return ran


def sweep(
    config: SweepConfig,
    name: str,
    space: Mapping[str, BaseDistribution],
    objective: Objective,
    tracking: TrackingConfig,
    metric: str,
    settings: Mapping[str, str],
    say: Callable[[str], None] = print,
) -> StudyOutcome:
    """Open (or resume) the study, run its missing trials under one MLflow parent run, log the
    best trial and return where the study stands."""
    study = open_study(config, name, settings)
    url = storage_url(config, name)
    description = sweep_runs.study_description(name, metric, config.direction, config.space)
    parent = sweep_runs.study_parent_run(
        tracking,
        name,
        study.user_attrs.get(PARENT_ATTR),
        tags={
            "sweep.study": name,
            "sweep.storage": url,
            "sweep.metric": metric,
            "sweep.direction": config.direction,
            MLFLOW_RUN_NOTE: description,
        },
        space=config.space,
        keep=lambda run_id: study.set_user_attr(PARENT_ATTR, run_id),
    )
    ran = run_study(study, space, config.n_trials, objective, parent, metric, say)
    best = study.best_trial
    outcome = StudyOutcome(
        name=name,
        storage=url,
        parent_run_id=parent.run_id,
        complete=len(complete_trials(study)),
        ran=ran,
        best_number=best.number,
        best_value=float(best.value),
        best_params=dict(best.params),
        best_run_id=best.user_attrs.get(RUN_ATTR),
    )
    if parent.run_id is None:  # the study was complete before this store saw any of its runs
        return outcome
    sweep_runs.log_best(
        parent.run_id,
        metric,
        {
            "number": outcome.best_number,
            "value": outcome.best_value,
            "params": outcome.best_params,
            "run_id": outcome.best_run_id,
        },
        study.trials_dataframe(),
    )
    return outcome
