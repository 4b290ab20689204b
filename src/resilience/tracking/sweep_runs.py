"""MLflow runs of a hyperparameter study: one parent run per study, each trial's training run
nested under it, the trials' values as a metric of the parent (one step per trial) and, at the end,
the best trial as tags, a metric and ``sweep/best_trial.json``.

The parent is created finished (its children carry the work) and written to afterwards through
the client, so a study resumed days later adds its trials under the same parent.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from resilience.data.csv_safety import append_csv
from resilience.tracking.runs import create_parent_run
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
) -> str:
    """The study's parent run: ``earlier_run_id`` when this tracking store holds it (a resumed
    study), else a new one carrying ``tags`` and the search space as ``sweep/space.json``."""
    connect(config)
    client = MlflowClient()
    if earlier_run_id:
        try:
            return client.get_run(earlier_run_id).info.run_id
        except MlflowException:
            pass  # another tracking store than the study's first runs: a new parent here
    run_id = create_parent_run(config, f"{study_name} (sweep)", tags)
    client.log_text(run_id, json.dumps(dict(space), indent=2), SPACE_ARTIFACT)
    return run_id


def log_trial(parent_run_id: str, run_id: str, number: int, metric: str, value: float) -> None:
    """A finished trial: its value on the parent (step = trial number), its number on its run."""
    client = MlflowClient()
    client.log_metric(parent_run_id, f"trial_{metric}", float(value), step=int(number))
    client.set_tag(run_id, "sweep.trial", str(number))
    run = client.get_run(run_id)
    client.update_run(run_id, name=f"trial {number} · {run.info.run_name}")


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
