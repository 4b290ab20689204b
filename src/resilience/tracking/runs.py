"""Runs: starting them, and logging params, metrics, figures, tables, datasets and a model's
evidence (read back, vetted, by :func:`resilience.tracking.vetting.load_vetted_model`).

A model's evidence (metrics, fairness, drift reference, evaluation model) is logged beside it under
``evidence/``, so the registered model holds only what predicting needs. The names of the
artifacts a training run logs and a model card, vetting and signing read are defined here once.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import mlflow.data
import pandas as pd
import yaml
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from resilience.core.paths import project_root
from resilience.data.csv_safety import append_csv
from resilience.tracking.store import (
    TrackingConfig,
    connect,
    ensure_experiment,
    local_artifact_path,
)

EVIDENCE_DIR = "evidence"
EVIDENCE_JSON = "evidence.json"  # everything known about the model but the model (JSON)
EVIDENCE_MODEL = "evaluation_model.pkl"  # the model evaluated on the test period (pickled)
CARD_DIR = "model_card"  # the model card, ATRS record and ALGO-CARE checklist
CARD_DOCUMENT = "model_card.md"  # the card itself: without it the card is missing
# What a training run logs that others read back (the model card, the champion rule).
CONTRACT_ARTIFACT = "config/data_contract.json"
SPLIT_ARTIFACT = "split.json"
WORLD_ARTIFACT = "data/world.json"
FIDELITY_ARTIFACT = "tables/explanation_fidelity.json"
FAIRNESS_TABLE = "tables/fairness.csv"
SLICE_TABLE = "tables/slice_metrics.csv"
CALIBRATION_TABLE = "tables/calibration.csv"


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested config -> ``{"model.params.num_leaves": 15, ...}`` for MLflow params."""
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = (
                value
                if isinstance(value, (int, float, str, bool)) or value is None
                else json.dumps(value, default=str)
            )
    return flat


def git_commit() -> str:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        root = project_root()
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def start_run(
    config: TrackingConfig,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    experiment_name: str | None = None,
    tags: dict | None = None,
    started_ms: int | None = None,
):
    """Start a run in the configured experiment (nested under ``parent_run_id`` for sweeps).

    ``started_ms`` (milliseconds since the epoch): when the work the run records began, so the run
    page's Duration covers it (training opens its run once the model is fitted)."""
    connect(config)
    experiment_id = ensure_experiment(experiment_name or config.experiment_name)
    run_id = None
    if started_ms is not None:
        created_tags = (
            {**(tags or {}), "mlflow.runName": run_name} if run_name else dict(tags or {})
        )
        if parent_run_id is not None:
            created_tags["mlflow.parentRunId"] = parent_run_id
        run_id = (
            MlflowClient()
            .create_run(experiment_id, start_time=started_ms, tags=created_tags, run_name=run_name)
            .info.run_id
        )
    with mlflow.start_run(
        run_id=run_id,
        experiment_id=None if run_id else experiment_id,
        run_name=None if run_id else run_name,
        parent_run_id=parent_run_id,
        nested=parent_run_id is not None,
        tags=None if run_id else tags,
    ) as run:
        yield run


def param_text(value: Any) -> str:
    """A param as the run page shows it: never blank (``null`` as a config writes it, an empty
    text as ``""``), at most 6,000 characters."""
    if value is None:
        return "null"
    return (str(value) or '""')[:6000]


def log_params(params: Mapping[str, Any]) -> None:
    """Params as text, none blank (:func:`param_text`); MLflow's ``log_batch`` sends them in
    batches of at most 100."""
    mlflow.log_params({k: param_text(v) for k, v in params.items()})


def set_tags(tags: Mapping[str, str]) -> None:
    """Tags on the active run (``mlflow.note.content`` is the run page's description)."""
    mlflow.set_tags(dict(tags))


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    """Every finite number, under ``prefix``."""
    clean = {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if v is not None and math.isfinite(float(v))
    }
    if clean:
        mlflow.log_metrics(clean)


def log_figure(figure, artifact_file: str) -> None:
    mlflow.log_figure(figure, artifact_file)
    if getattr(figure.canvas, "manager", None) is not None:  # made through pyplot: release it
        import matplotlib.pyplot as plt  # lazy: pyplot picks a backend; only its figures need it

        plt.close(figure)


def log_text(text: str, artifact_file: str) -> None:
    mlflow.log_text(text, artifact_file)


def log_frame(frame: pd.DataFrame, artifact_file: str) -> None:
    """A frame as a CSV artifact, written as ``scores.csv`` is (:func:`append_csv`): text quoted
    and unable to start a spreadsheet formula or break a row, numbers as they are."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        with open(path, "w", encoding="utf-8", newline="") as handle:
            append_csv(handle, frame, header=True)
        mlflow.log_artifact(
            str(path),
            str(Path(artifact_file).parent) if Path(artifact_file).parent != Path(".") else None,
        )


def log_file(path: str | Path, artifact_path: str | None = None) -> None:
    mlflow.log_artifact(str(path), artifact_path)


def log_dataset(
    frame: pd.DataFrame, name: str, context: str, source: str, label: str | None = None
) -> None:
    """Record a data set the run used (training / test) as an MLflow dataset input with its schema,
    digest and profile: it appears under "Datasets used" in the run, not as a file."""
    plain = frame.apply(
        lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c
    )
    with warnings.catch_warnings():
        # MLflow registers its local-file source under two schemes ('' and 'file') and warns that
        # a path matches both: they are the same kind of source. A logged data set's schema only
        # describes it (nothing is enforced against it), so MLflow's hint about integer columns
        # and missing values, meant for model signatures, does not apply here.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(
            plain,
            source=resolve_dataset_source(str(source)),
            name=name,
            targets=label if label in frame.columns else None,
        )
        mlflow.log_input(dataset, context=context)  # the schema is inferred here


def log_evidence(evidence) -> None:
    """Log a :class:`~resilience.learn.evidence.ModelEvidence` on the active run under ``evidence/``."""

    mlflow.log_text(evidence.to_json(), f"{EVIDENCE_DIR}/{EVIDENCE_JSON}")
    if evidence.evaluation_model is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / EVIDENCE_MODEL
            path.write_bytes(
                pickle.dumps(evidence.evaluation_model, protocol=pickle.HIGHEST_PROTOCOL)
            )
            mlflow.log_artifact(str(path), EVIDENCE_DIR)


def artifact_text(run_id: str, path: str) -> str | None:
    """A run's text artifact, or None when it does not exist (read in place from a store on this
    machine, else downloaded)."""
    try:
        local = local_artifact_path(MlflowClient().get_run(run_id).info.artifact_uri)
        if local is not None:
            return (local / path).read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as tmp:
            return Path(MlflowClient().download_artifacts(run_id, path, tmp)).read_text(
                encoding="utf-8"
            )
    except (MlflowException, OSError):
        return None


def log_artifacts_to_run(run_id: str, folder: str | Path, artifact_path: str) -> None:
    """Every file of ``folder`` as artifacts of an existing (possibly finished) run."""
    MlflowClient().log_artifacts(run_id, str(folder), artifact_path)


def create_parent_run(config: TrackingConfig, run_name: str, tags: Mapping[str, str]) -> str:
    """A finished run for child runs to nest under (a sweep's parent); returns its id."""
    connect(config)
    experiment_id = ensure_experiment(config.experiment_name)
    client = MlflowClient()
    run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def grid_description(overrides: Sequence[str], sweep_dir: str) -> str:
    """What a --multirun grid's parent run says: the settings swept (``key=a,b``), the ones every
    child shares, and where the grid's folders are."""
    values = [o.partition("=")[2] for o in overrides]
    swept = [
        o
        for o, v in zip(overrides, values, strict=True)
        if v.startswith(("choice(", "range(", "glob(")) or ("," in v and v[:1] not in "[{'\"")
    ]
    shared = [o for o in overrides if o not in swept]
    return (
        f"A --multirun grid: one child run per combination of {' '.join(swept) or 'its settings'}"
        + (f", each with {' '.join(shared)}" if shared else "")
        + f". Each child is a training run with its own metrics; folders: {sweep_dir}."
    )


def sweep_parent_run(config: TrackingConfig, sweep_dir: str, name: str) -> str:
    """The parent MLflow run of a --multirun sweep: created by the first trial, found by the rest.

    Its id is kept in ``<sweep_dir>/parent_run.json`` so trials (which Hydra runs one after another
    in this process, or in other processes with another launcher) all nest under one parent. Its
    description names the grid, from the overrides Hydra kept in ``<sweep_dir>/multirun.yaml``.
    """
    marker = Path(sweep_dir) / "parent_run.json"
    if marker.is_file():
        return json.loads(marker.read_text())["run_id"]
    tags = {"sweep_dir": str(sweep_dir)}
    kept = Path(sweep_dir) / "multirun.yaml"
    if kept.is_file():
        overrides = (yaml.safe_load(kept.read_text()) or {}).get("hydra", {}).get("overrides", {})
        tags[MLFLOW_RUN_NOTE] = grid_description(overrides.get("task") or [], sweep_dir)
    run_id = create_parent_run(config, f"{name} (sweep)", tags)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"run_id": run_id}))
    return run_id
