"""MLflow runs of a hyperparameter study: one parent run per study, each trial's training run
nested under it, the trials' values as a metric of the parent (one step per trial) and, at the end,
the best trial as tags, a metric and ``sweep/best_trial.json``.

The parent opens with the first trial's run and spans the trials (:class:`~resilience.tracking.
runs.ParentRun`); it is written to through the client, so a study resumed days later adds its
trials under the same parent.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from resilience.data.csv_safety import append_csv
from resilience.tracking.runs import ParentRun, rename_run
from resilience.tracking.store import TrackingConfig, connect

SPACE_ARTIFACT = "sweep/space.json"
BEST_ARTIFACT = "sweep/best_trial.json"
TRIALS_TABLE = "sweep/trials.csv"


def study_parent_run(
    config: TrackingConfig,
    study_name: str,
    earlier_run_id: str | None,
    tags: Mapping[str, str],
    space: Mapping[str, str],
    keep: Callable[[str], None],
) -> ParentRun:
    """The study's parent run (:class:`~resilience.tracking.runs.ParentRun`): ``earlier_run_id``
    when this tracking store holds it (a resumed study), else one opened with the first trial's
    run, carrying ``tags`` and the search space as ``sweep/space.json``, its id given to ``keep``
    (the study keeps it)."""
    connect(config)
    client = MlflowClient()
    found = None
    if earlier_run_id:
        try:
            run = client.get_run(earlier_run_id)
            found = run.info.run_id if run.info.lifecycle_stage == "active" else None
        except MlflowException:
            pass  # another tracking store than the study's first runs: a new parent here

    def opened(run_id: str) -> None:
        client.log_text(run_id, json.dumps(dict(space), indent=2), SPACE_ARTIFACT)
        keep(run_id)

    return ParentRun(config, f"{study_name} (sweep)", dict(tags), run_id=found, on_open=opened)


def study_description(name: str, metric: str, direction: str, space: Mapping[str, str]) -> str:
    """What a study's parent run says: what it searches, for what, and where its trials are."""
    searched = ", ".join(f"{key} {value}" for key, value in space.items()) or "its search space"
    return (
        f"An Optuna study ({name}): each child run is one trial, trained with settings sampled "
        f"from {searched}; it seeks to {direction} {metric} (folds inside the training span). "
        "The best trial so far is in the best.* tags and sweep/best_trial.json, every trial in "
        "sweep/trials.csv."
    )


def log_trial(parent_run_id: str, run_id: str, number: int, metric: str, value: float) -> None:
    """A finished trial: its value on the parent (step = trial number), its number on its run."""
    client = MlflowClient()
    client.log_metric(parent_run_id, f"trial_{metric}", float(value), step=int(number))
    client.set_tag(run_id, "sweep.trial", str(number))
    rename_run(run_id, f"trial {number}")


def log_best(
    parent_run_id: str, metric: str, best: Mapping[str, Any], trials: pd.DataFrame
) -> None:
    """The study's best trial so far (``number``, ``value``, ``params``, ``run_id``) and every trial."""
    client = MlflowClient()
    client.log_metric(parent_run_id, f"best_{metric}", float(best["value"]))
    tags = {"best.trial": str(best["number"]), "best.run_id": str(best.get("run_id") or "")}
    tags.update({f"best.{key}": str(value) for key, value in best["params"].items()})
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, value)
    client.log_text(parent_run_id, json.dumps(dict(best), indent=2, default=str), BEST_ARTIFACT)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(TRIALS_TABLE).name
        with open(path, "w", encoding="utf-8", newline="") as handle:
            append_csv(handle, trials, header=True)  # as every CSV the toolkit writes
        client.log_artifact(parent_run_id, str(path), str(Path(TRIALS_TABLE).parent))
