"""Runs: starting them, and logging params, metrics, figures, tables, datasets and a model's
evidence (read back, vetted, by :func:`resilience.tracking.vetting.load_vetted_model`).

A model's evidence (metrics, fairness, drift reference, evaluation model) is logged beside it under
``evidence/``, so the registered model holds only what predicting needs. The names of the
artifacts a training run logs and a model card, vetting and signing read are defined here once.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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

from resilience.core.errors import ResilienceError, Terminated
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
FAILURE_TAG = "error"  # a failed run's error, as the command printed it
log = logging.getLogger(__name__)


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
    parent: ParentRun | None = None,
):
    """Start a run in the configured experiment (nested under ``parent_run_id``, or under
    ``parent``, opened now if it is not yet: a grid's or a study's).

    ``started_ms`` (milliseconds since the epoch): when the work the run records began, so the run
    page's Duration covers it (training opens its run once the model is fitted). A run that stops
    on an error ends FAILED (KILLED when the process was stopped) with the error recorded
    (:func:`record_failure`), never a half-written run that looks finished."""
    connect(config)
    experiment_id = ensure_experiment(experiment_name or config.experiment_name)
    if parent is not None:  # the parent starts when its first child does
        started_ms = started_ms or int(time.time() * 1000)
        parent_run_id = parent.open(started_ms)
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
        try:
            yield run
        except BaseException as exc:
            status = record_failure(run.info.run_id, exc)
            try:
                mlflow.end_run(status)
            except Exception:  # noqa: BLE001 - as in record_failure: the run's error is reported
                log.debug("could not end run %s", run.info.run_id, exc_info=True)
            raise


def failure_text(exc: BaseException) -> str:
    """What a failed run records of its error: the message the command prints (a toolkit error's
    own words; else the exception's type and first line), at most 5,000 characters."""
    if isinstance(exc, ResilienceError | Terminated):
        text = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        text = "interrupted (Ctrl-C)"
    else:
        first = str(exc).splitlines()[0] if str(exc) else ""
        text = f"{type(exc).__name__}: {first}".rstrip(": ")
    return text[:5000]


def record_failure(run_id: str, exc: BaseException, what: str = "") -> str:
    """End ``run_id`` FAILED (KILLED for a stopped process) with its error recorded: the ``error``
    tag and the first line of its description, which the runs table and the run page show.
    ``what`` names the step that failed (a grid's job, a study's trial). Returns the status. A
    store that cannot take the record (the failure may be the store's own) leaves the first error
    to be reported."""
    status = "KILLED" if isinstance(exc, Terminated | KeyboardInterrupt) else "FAILED"
    text = (f"{what}: " if what else "") + failure_text(exc)
    try:
        client = MlflowClient()
        note = client.get_run(run_id).data.tags.get(MLFLOW_RUN_NOTE, "")
        client.set_tag(run_id, FAILURE_TAG, text)
        client.set_tag(
            run_id, MLFLOW_RUN_NOTE, f"**{status}**: {text}" + (f"\n\n{note}" if note else "")
        )
        client.set_terminated(run_id, status)
    except Exception:  # noqa: BLE001 - the run's own error is the one to report
        log.debug("could not record the failure of run %s", run_id, exc_info=True)
    return status


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


@dataclass
class ParentRun:
    """The parent run of a grid's or a study's child runs, spanning them on the run page: opened
    when its first child's run opens (it starts when that child started), RUNNING while a child
    runs, FINISHED when each one ends (so it ends after the last) and, when a child stops on an
    error, FAILED with that error named (a later child that finishes clears it). A grid or study
    that stops before any child's run opened (bad data, a bad split) leaves no parent at all.

    ``run_id``: an existing parent (a later job of the grid, a resumed study); ``on_open`` is
    called with a new parent's id (where the grid or the study keeps it)."""

    config: TrackingConfig
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    on_open: Callable[[str], None] | None = None

    def open(self, started_ms: int) -> str:
        """The parent's id for a child starting at ``started_ms`` (made now if there is none; an
        existing one is RUNNING already: :meth:`child` set it)."""
        if self.run_id is None:
            connect(self.config)
            experiment_id = ensure_experiment(self.config.experiment_name)
            created = MlflowClient().create_run(
                experiment_id, start_time=started_ms, tags=dict(self.tags), run_name=self.name
            )
            self.run_id = created.info.run_id
            if self.on_open is not None:
                self.on_open(self.run_id)
        return self.run_id

    @contextmanager
    def child(self, what: str) -> Iterator[ParentRun]:
        """Around one child (``what`` names it in an error): RUNNING during it when the parent
        exists, FINISHED after it, FAILED (or KILLED) with the error when it raises."""
        if self.run_id is not None:
            connect(self.config)
            MlflowClient().update_run(self.run_id, status="RUNNING")
        try:
            yield self
        except BaseException as exc:
            if self.run_id is not None:
                record_failure(self.run_id, exc, what)
            raise
        if self.run_id is not None:
            self._finished()

    def _finished(self) -> None:
        client = MlflowClient()
        if FAILURE_TAG in client.get_run(self.run_id).data.tags:  # an earlier child's failure
            client.delete_tag(self.run_id, FAILURE_TAG)
            if MLFLOW_RUN_NOTE in self.tags:
                client.set_tag(self.run_id, MLFLOW_RUN_NOTE, self.tags[MLFLOW_RUN_NOTE])
            else:
                client.delete_tag(self.run_id, MLFLOW_RUN_NOTE)
        client.set_terminated(self.run_id, "FINISHED")


def _swept(overrides: Sequence[str]) -> list[str]:
    """The overrides of a --multirun command line that sweep (``key=a,b``, ``choice(...)``)."""
    values = [o.partition("=")[2] for o in overrides]
    return [
        o
        for o, v in zip(overrides, values, strict=True)
        if v.startswith(("choice(", "range(", "glob(")) or ("," in v and v[:1] not in "[{'\"")
    ]


def _grid_overrides(sweep_dir: str) -> list[str] | None:
    """The grid's command-line overrides, as Hydra kept them in ``<sweep_dir>/multirun.yaml``."""
    kept = Path(sweep_dir) / "multirun.yaml"
    if not kept.is_file():
        return None
    overrides = (yaml.safe_load(kept.read_text()) or {}).get("hydra", {}).get("overrides", {})
    return list(overrides.get("task") or [])


def grid_job_label(sweep_dir: str, job_overrides: Sequence[str]) -> str:
    """What sets a grid's job apart, to name its run: its values of the settings the grid sweeps
    (``model.params.num_leaves=5``); all its overrides when the grid's are not kept."""
    swept = {o.partition("=")[0] for o in _swept(_grid_overrides(sweep_dir) or [])}
    own = [o for o in job_overrides if o.partition("=")[0] in swept] or list(job_overrides)
    return " ".join(own) or "its defaults"


def rename_run(run_id: str, prefix: str) -> None:
    """Put ``prefix`` before a run's name (``trial 3 · ...``, ``model.params.num_leaves=5 · ...``):
    a study's or a grid's children, otherwise named alike, read apart in the runs table."""
    client = MlflowClient()
    client.update_run(run_id, name=f"{prefix} · {client.get_run(run_id).info.run_name}")


def grid_description(overrides: Sequence[str], sweep_dir: str) -> str:
    """What a --multirun grid's parent run says: the settings swept (``key=a,b``), the ones every
    child shares, and where the grid's folders are."""
    swept = _swept(overrides)
    shared = [o for o in overrides if o not in swept]
    return (
        f"A --multirun grid: one child run per combination of {' '.join(swept) or 'its settings'}"
        + (f", each with {' '.join(shared)}" if shared else "")
        + f". Each child is a training run with its own metrics; folders: {sweep_dir}."
    )


def grid_parent_run(config: TrackingConfig, sweep_dir: str, name: str) -> ParentRun:
    """The parent run of a --multirun grid, shared by its jobs: opened by the first job's run and
    found by the rest (:class:`ParentRun`).

    Its id is kept in ``<sweep_dir>/parent_run.json`` so jobs (which Hydra runs one after another
    in this process, or in other processes with another launcher) all nest under one parent. Its
    description names the grid, from the overrides Hydra kept in ``<sweep_dir>/multirun.yaml``.
    """
    marker = Path(sweep_dir) / "parent_run.json"
    tags = {"sweep_dir": str(sweep_dir)}
    overrides = _grid_overrides(sweep_dir)
    if overrides is not None:
        tags[MLFLOW_RUN_NOTE] = grid_description(overrides, sweep_dir)

    def keep(run_id: str) -> None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"run_id": run_id}))

    found = json.loads(marker.read_text())["run_id"] if marker.is_file() else None
    return ParentRun(config, f"{name} (sweep)", tags, run_id=found, on_open=keep)
