"""The tracking store: where runs and the registry live, and whether that store can be used.

The tracking URI is, in order: the config's ``mlflow.tracking_uri``, ``$MLFLOW_TRACKING_URI``, then
a SQLite store at the project root (``sqlite:///<root>/mlflow.db``) whatever the working
directory. For a local SQLite store, artifacts go beside it in ``<root>/mlartifacts`` (never
``./mlruns`` in the working directory). Nothing runs at import time, and nothing here changes
process state beyond MLflow's own tracking URI: settings (timeouts) are passed explicitly, never
written into ``os.environ``.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import mlflow
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.file_utils import local_file_uri_to_path
from mlflow.utils.uri import is_local_uri
from sqlalchemy.exc import SQLAlchemyError

from resilience.core.errors import ResilienceError, sqlite_cause
from resilience.core.paths import project_root

STORE_WAIT_SECONDS = 30  # how long a command waits for another process holding the store's lock

# The MLflow 3 UI reads this experiment tag to open in classic-ML mode (runs, metrics, models)
# instead of GenAI mode (traces); see mlflow/assistant/skills/mlflow-onboarding in MLflow 3.x.
EXPERIMENT_KIND_TAG, CLASSIC_ML = "mlflow.experimentKind", "custom_model_development"


@dataclass(frozen=True)
class TrackingConfig:
    """Where and under what names runs and models are recorded (``configs/mlflow/``; the champion
    rule's settings there are :class:`resilience.governance.champion.ChampionConfig`)."""

    tracking_uri: str | None = None
    experiment_name: str = "line-resilience"
    registered_model_name: str = "line-resilience"
    register: bool = True
    request_timeout_seconds: int = 10
    signing_key: str | None = (
        None  # the registration private key (None: $RESILIENCE_SIGNING_KEY, else keys/)
    )
    trusted_keys: str | None = (
        None  # the trusted public keys (None: $RESILIENCE_TRUSTED_KEYS, else keys/)
    )


# MLflow 3.17's UI keeps its view (GenAI or machine learning) in the browser (localStorage key
# ``mlflow.workflowType``, GenAI for a new browser); a link carrying ``workflowType=machine_learning``
# opens the machine-learning view (runs, metrics, models) whatever the browser last chose.
ML_VIEW = "workflowType=machine_learning"
LOCAL_UI = "http://127.0.0.1:5000"  # where `make mlflow-ui` serves a local store


def ui_link(experiment_id: str, run_id: str | None = None, tracking_uri: str | None = None) -> str:
    """A link that opens an experiment (or one of its runs) in the UI's machine-learning view:
    on the tracking server itself, or for a local store where ``make mlflow-ui`` serves it."""
    uri = resolve_tracking_uri(tracking_uri)
    base = uri.rstrip("/") if uri.startswith("http") else LOCAL_UI
    path = f"#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"{base}/{path}?{ML_VIEW}"


def resolve_tracking_uri(configured: str | None = None) -> str:
    """Config value, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite store."""
    if configured:
        return str(configured)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def connect(config: TrackingConfig) -> str:
    """Point MLflow at the tracking store; fail fast with a clear error if it does not answer."""
    uri = resolve_tracking_uri(config.tracking_uri)
    mlflow.set_tracking_uri(uri)
    if uri.startswith("http"):
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=config.request_timeout_seconds)
        except requests.RequestException as exc:
            raise ResilienceError(
                f"the MLflow tracking server at {uri} does not answer: {exc}"
            ) from exc
    return uri


def _artifact_location(uri: str, experiment_name: str) -> str | None:
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        return (db.parent / "mlartifacts" / experiment_name).as_uri()
    return None  # a server decides where its artifacts live


def ensure_experiment(name: str) -> str:
    """The experiment's id, creating it (with artifacts beside a local store) if needed."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        return mlflow.create_experiment(
            name,
            artifact_location=_artifact_location(mlflow.get_tracking_uri(), name),
            tags={EXPERIMENT_KIND_TAG: CLASSIC_ML},
        )
    if EXPERIMENT_KIND_TAG not in (
        experiment.tags or {}
    ):  # older stores: the UI would open in GenAI mode
        MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, CLASSIC_ML)
    return experiment.experiment_id


def check_store(uri: str | None = None, must_exist: bool = True) -> str:
    """For commands that read an existing store (score, promote, card, outcomes): a local SQLite
    store must exist and be an MLflow database. Nothing is created; a clear error otherwise.
    ``must_exist=False`` (training) accepts a store that does not exist yet but not a damaged one."""

    uri = uri or mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:"):
        return uri
    path = Path(uri.split(":///", 1)[-1]) if ":///" in uri else None
    advice = "point MLFLOW_TRACKING_URI (or mlflow.tracking_uri=) at the project's store"
    if path is None or str(path) in ("", ":memory:"):
        raise ResilienceError(f"tracking URI {uri} names no database file; {advice}")
    if not must_exist and not path.exists():
        return uri
    if not path.is_file():
        raise ResilienceError(
            f"no MLflow tracking store at {path} (tracking URI {uri}); nothing was created. "
            f"Check the path for a typo or {advice}"
        )
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=STORE_WAIT_SECONDS)
        try:
            problem = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise ResilienceError(store_failure_message(uri, exc)) from exc
    if problem != "ok":
        raise ResilienceError(
            store_failure_message(uri, sqlite3.DatabaseError(f"malformed: {problem}"))
        )
    if not {"experiments", "runs", "registered_models", "model_versions"} <= tables:
        raise ResilienceError(
            f"{path} is an SQLite database but not an MLflow tracking store; {advice}"
        )
    return uri


def store_failure_message(uri: str, exc: BaseException | str) -> str:
    """What to say when the tracking store cannot be used, with the right cause: a store locked
    by another process or a full disk is not damage, and only damage is worth a restore."""
    label = registry_label(uri)
    cause = sqlite_cause(exc) if isinstance(exc, BaseException) else "damaged"
    if cause == "locked":
        return (
            f"the MLflow tracking store {label} is locked by another process (waited "
            f"{STORE_WAIT_SECONDS} s); nothing was changed. Rerun when that process has finished"
        )
    if cause == "full":
        return (
            f"the disk holding the MLflow tracking store {label} is full; free some space and "
            "rerun (the store itself is not damaged)"
        )
    if cause in ("read-only", "cannot open"):
        return (
            f"the MLflow tracking store {label} cannot be written: the file or its folder is "
            f"{cause} for this user; check the permissions, or point MLFLOW_TRACKING_URI (or "
            "mlflow.tracking_uri=) at a store you can write"
        )
    if cause == "damaged":
        return (
            f"the MLflow tracking store {label} is damaged ({_first_line(exc)}); restore mlflow.db "
            "from backup, or point MLFLOW_TRACKING_URI (or mlflow.tracking_uri=) at a working store"
        )
    return (
        f"the MLflow tracking store {label} could not be used ({_first_line(exc)}); nothing was "
        "changed. Check the store and rerun"
    )


def mlflow_failure_message(exc: BaseException) -> str | None:
    """One message for a failure MLflow (or the database under it) raised, with its cause; None
    for any other exception."""
    if isinstance(exc, SQLAlchemyError):
        return store_failure_message(registry_label(), exc)
    if not isinstance(exc, MlflowException):
        return None
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SQLAlchemyError):
        return store_failure_message(registry_label(), cause)
    if "database" in exc.message.lower():
        return store_failure_message(registry_label(), exc)
    return f"MLflow ({registry_label()}): {exc.message.splitlines()[0]}"


def _first_line(exc: BaseException | str) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def local_artifact_path(artifact_uri: str) -> Path | None:
    """Where an artifact URI's files are when the store keeps its artifacts on this machine
    (``file:`` or a plain path): read them there, no download to make. None for a tracking
    server's (``mlflow-artifacts:``) or a cloud store's."""
    if not artifact_uri or not is_local_uri(artifact_uri, is_tracking_or_registry_uri=False):
        return None
    return Path(local_file_uri_to_path(artifact_uri))


def registry_label(uri: str | None = None) -> str:
    """The tracking/registry URI without credentials (``http://user:pw@host`` -> ``http://host``)."""

    uri = uri or mlflow.get_tracking_uri()
    parts = urlsplit(uri)
    if not (parts.username or parts.password):
        return uri
    return urlunsplit(
        parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else ""))
    )
