"""Everything MLflow: tracking URI, runs, params, artifacts, the registry and the champion.

Nothing here runs at import time. The tracking URI is, in order: the config's
``mlflow.tracking_uri``, ``$MLFLOW_TRACKING_URI``, then a SQLite store at the project root
(``sqlite:///<root>/mlflow.db``) whatever the working directory. For a local SQLite store,
artifacts go beside it in ``<root>/mlartifacts`` (never ``./mlruns`` in the working directory).

Nothing here changes process state beyond MLflow's own tracking URI: settings (timeouts) are
passed explicitly, never written into ``os.environ``.

The champion rule itself is pure and lives in :mod:`resilience.governance.champion`; this module
keeps the registry side: aliases, the champion history, the best champion so far, version tags.
A model's evidence (metrics, fairness, drift reference, evaluation model) is logged beside it by
:func:`log_evidence` and read back by :func:`load_evidence`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.core.paths import project_root

CHAMPION, CHALLENGER = "champion", "challenger"
# The MLflow 3 UI reads this experiment tag to open in classic-ML mode (runs, metrics, models)
# instead of GenAI mode (traces); see mlflow/assistant/skills/mlflow-onboarding in MLflow 3.x.
EVIDENCE_DIR = "evidence"
EXPERIMENT_KIND_TAG, CLASSIC_ML = "mlflow.experimentKind", "custom_model_development"


@dataclass(frozen=True)
class TrackingConfig:
    """Where and under what names runs and models are recorded."""

    tracking_uri: str | None = None
    experiment_name: str = "line-resilience"
    registered_model_name: str = "line-resilience"
    register: bool = True
    request_timeout_seconds: int = 10
    champion: Mapping[str, Any] | None = None  # settings of the champion rule (ChampionConfig)

    def champion_config(self):
        from resilience.governance.champion import ChampionConfig

        return ChampionConfig(**dict(self.champion or {}))


def resolve_tracking_uri(configured: str | None = None) -> str:
    """Config value, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite store."""
    if configured:
        return str(configured)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def connect(config: TrackingConfig) -> str:
    """Point MLflow at the tracking store; fail fast with a clear error if it does not answer."""
    import mlflow

    uri = resolve_tracking_uri(config.tracking_uri)
    mlflow.set_tracking_uri(uri)
    if uri.startswith("http"):
        import requests

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
    import mlflow

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
        mlflow.tracking.MlflowClient().set_experiment_tag(
            experiment.experiment_id, EXPERIMENT_KIND_TAG, CLASSIC_ML
        )
    return experiment.experiment_id


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
):
    """Start a run in the configured experiment (nested under ``parent_run_id`` for sweeps)."""
    import mlflow

    connect(config)
    experiment_id = ensure_experiment(experiment_name or config.experiment_name)
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name,
        parent_run_id=parent_run_id,
        nested=parent_run_id is not None,
        tags=tags,
    ) as run:
        yield run


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    flat = {k: ("" if v is None else str(v))[:6000] for k, v in params.items()}
    items = list(flat.items())
    for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
        mlflow.log_params(dict(items[start : start + 100]))


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    import math

    import mlflow

    clean = {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if v is not None and math.isfinite(float(v))
    }
    if clean:
        mlflow.log_metrics(clean)


def log_figure(figure, artifact_file: str) -> None:
    import mlflow

    mlflow.log_figure(figure, artifact_file)
    if (
        getattr(getattr(figure, "canvas", None), "manager", None) is not None
    ):  # made through pyplot: release it
        import matplotlib.pyplot as plt

        plt.close(figure)


def log_text(text: str, artifact_file: str) -> None:
    import mlflow

    mlflow.log_text(text, artifact_file)


def log_frame(frame: pd.DataFrame, artifact_file: str) -> None:
    """A frame as a CSV artifact."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        frame.to_csv(path, index=False)
        mlflow.log_artifact(
            str(path),
            str(Path(artifact_file).parent) if Path(artifact_file).parent != Path(".") else None,
        )


def log_file(path: str | Path, artifact_path: str | None = None) -> None:
    import mlflow

    mlflow.log_artifact(str(path), artifact_path)


def log_dataset(
    frame: pd.DataFrame, name: str, context: str, source: str, label: str | None = None
) -> None:
    """Record a data set the run used (training / test) as an MLflow dataset input with its schema,
    digest and profile: it appears under "Datasets used" in the run, not as a file."""
    import mlflow
    import mlflow.data

    plain = frame.apply(
        lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c
    )
    dataset = mlflow.data.from_pandas(
        plain, source=str(source), name=name, targets=label if label in frame.columns else None
    )
    mlflow.log_input(dataset, context=context)


def log_evidence(evidence) -> None:
    """Log a :class:`~resilience.learn.evidence.ModelEvidence` on the active run under ``evidence/``."""
    import pickle

    import mlflow

    mlflow.log_text(evidence.to_json(), f"{EVIDENCE_DIR}/evidence.json")
    if evidence.evaluation_model is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "evaluation_model.pkl"
            path.write_bytes(
                pickle.dumps(evidence.evaluation_model, protocol=pickle.HIGHEST_PROTOCOL)
            )
            mlflow.log_artifact(str(path), EVIDENCE_DIR)


def _run_id_of(model_uri: str) -> str | None:
    if model_uri.startswith("runs:/"):
        return model_uri[len("runs:/") :].split("/", 1)[0]
    if model_uri.startswith("models:/"):
        return model_version_info(model_uri)["run_id"]
    return None


def load_evidence(model_uri: str, evaluation_model: bool = False, model=None):
    """The :class:`~resilience.learn.evidence.ModelEvidence` logged with the model at ``model_uri``.

    ``model``: the model already loaded (and vetted) from ``model_uri``; a model logged without
    evidence (older versions, or an unregistered one allowed explicitly) is then read from it
    instead of being loaded a second time.

    ``evaluation_model=True`` also loads the model that was evaluated on the test period (what the
    champion rule re-scores). Versions registered before evidence moved off the model carry it as
    attributes: then it is read from the model itself.
    """
    import pickle

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from resilience.learn.evidence import ModelEvidence

    run_id = _run_id_of(model_uri)
    client = MlflowClient()
    text = None
    if run_id:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                text = Path(
                    client.download_artifacts(run_id, f"{EVIDENCE_DIR}/evidence.json", tmp)
                ).read_text()
        except (MlflowException, OSError):
            text = None
    if text is None:  # an older version: the evidence travels on the estimator
        if model is None:
            model, _ = load_persistence_model(model_uri)
        return ModelEvidence.from_model(model)
    evaluated = None
    if evaluation_model:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                evaluated = pickle.loads(
                    Path(
                        client.download_artifacts(
                            run_id, f"{EVIDENCE_DIR}/evaluation_model.pkl", tmp
                        )
                    ).read_bytes()
                )
        except (
            MlflowException,
            OSError,
        ):  # not refitted: the registered model is the evaluated one
            evaluated, _ = load_persistence_model(model_uri)
    return ModelEvidence.from_json(text, evaluation_model=evaluated)


# -- the model in MLflow ---------------------------------------------------------------------------
def log_persistence_model(model, input_example: pd.DataFrame, registered_model_name: str | None):
    """Log the fitted model as a pyfunc with signature and input example; register it if named."""
    import mlflow
    from mlflow.models import infer_signature

    from resilience.tracking.pyfunc import ResiliencePyfunc

    python_model = ResiliencePyfunc(model)
    example = (
        input_example.drop(columns=[model.contract.label], errors="ignore")
        .head(5)
        .reset_index(drop=True)
    )
    # the signature speaks MLflow types: categories travel as plain strings
    example = example.apply(
        lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c
    )
    signature = infer_signature(example, python_model.predict(None, example))
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        signature=signature,
        input_example=example,
        registered_model_name=registered_model_name,
        pip_requirements=model_requirements(),
        code_paths=[toolkit_source()],
    )


def toolkit_source() -> str:
    """The ``resilience`` package folder: logged with every model (``code_paths``) so the model
    loads wherever MLflow and the pinned requirements are installed, without this checkout."""
    import resilience

    return str(Path(resilience.__file__).resolve().parent)


def model_requirements() -> list[str]:
    """The packages the pyfunc needs, pinned to what is installed (stated, not inferred: MLflow's
    inference loads the model in a subprocess and costs seconds per run)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in (
        "mlflow",
        "lightgbm",
        "scikit-learn",
        "pandas",
        "numpy",
        "pyarrow",
        "pandera",
        "scipy",
        "omegaconf",
    ):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def check_store(uri: str | None = None, must_exist: bool = True) -> str:
    """For commands that read an existing store (score, promote, card, outcomes): a local SQLite
    store must exist and be an MLflow database. Nothing is created; a clear error otherwise.
    ``must_exist=False`` (training) accepts a store that does not exist yet but not a damaged one."""
    import sqlite3

    import mlflow

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
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            problem = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise ResilienceError(store_damaged_message(uri, exc)) from exc
    if problem != "ok":
        raise ResilienceError(store_damaged_message(uri, problem))
    if not {"experiments", "runs", "registered_models", "model_versions"} <= tables:
        raise ResilienceError(
            f"{path} is an SQLite database but not an MLflow tracking store; {advice}"
        )
    return uri


def store_damaged_message(uri: str, reason: object) -> str:
    """What to say when the tracking store cannot be read (corrupt file, not a database)."""
    return (
        f"the MLflow tracking store {registry_label(uri)} cannot be read ({reason}); restore mlflow.db from "
        "backup, or point MLFLOW_TRACKING_URI (or mlflow.tracking_uri=) at a working store"
    )


DECISION_ANCHOR_PREFIX = "decision_log.anchor."


def anchor_decision_log(experiment_name: str, anchor: Mapping[str, Any]) -> None:
    """Record the decision log's record count and head hash as a tag on ``experiment_name``.

    Each count gets its own tag (``decision_log.anchor.000012``), so earlier anchors stay: a log
    later cut back or rewritten disagrees with them.
    """
    from mlflow.tracking import MlflowClient

    experiment_id = ensure_experiment(experiment_name)
    key = f"{DECISION_ANCHOR_PREFIX}{int(anchor['records']):06d}"
    MlflowClient().set_experiment_tag(experiment_id, key, json.dumps(dict(anchor), sort_keys=True))


def decision_log_anchors(experiment_name: str) -> list[dict]:
    """Every decision-log anchor recorded on ``experiment_name`` (none if it does not exist)."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    anchors = []
    for key, value in sorted((experiment.tags or {}).items()):
        if key.startswith(DECISION_ANCHOR_PREFIX):
            try:
                anchors.append(
                    {
                        **json.loads(value),
                        "where": f"MLflow experiment '{experiment_name}' tag {key}",
                    }
                )
            except ValueError:
                anchors.append(
                    {"records": None, "head_hash": None, "where": f"MLflow tag {key} (unreadable)"}
                )
    return anchors


# -- vetted model loading: the registry record, the card and the digest before any unpickling -------
DIGEST_TAG = "artifact_sha256"
MODEL_CARD_TAG = "model_card"


@dataclass(frozen=True)
class VettedModel:
    """Who a model is: the registry it came from, its registered name and version, and the SHA-256
    of its artifact directory (what scoring recorded and what the overwrite guard compares)."""

    uri: str
    registry: str
    name: str | None
    version: str | None
    run_id: str | None
    sha256: str
    registered: bool = True
    warning: str | None = None

    @property
    def identity(self) -> str:
        """Short display name, e.g. ``line-resilience/3``; the full identity is :attr:`fingerprint`."""
        return f"{self.name}/{self.version}" if self.version else f"unregistered {self.uri}"

    @property
    def fingerprint(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
        }


# Written by MLflow itself into a registered version's folder the first time it is loaded with
# ``mlflow.pyfunc.load_model("models:/...")`` from a local store (the version's name and number, never
# read to predict): counting it would make the champion read as changed after any plain MLflow load.
MLFLOW_WRITTEN_FILES = frozenset({"registered_model_meta"})


def model_digest(path: str | Path) -> str:
    """SHA-256 over a model directory: every file's relative path, size and bytes, in sorted order
    (MLflow's own bookkeeping file at the top level, :data:`MLFLOW_WRITTEN_FILES`, left out)."""
    import hashlib

    root = Path(path)
    if root.is_file():
        raise ResilienceError(f"{root} is a file, not a model directory")
    digest = hashlib.sha256()
    files = (
        p
        for p in root.rglob("*")
        if p.is_file() and not (p.parent == root and p.name in MLFLOW_WRITTEN_FILES)
    )
    for file in sorted(files):
        digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(str(file.stat().st_size).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def record_digest(name: str, version: str, digest: str | None = None) -> str:
    """Record a registered version's artifact digest as its ``artifact_sha256`` tag (at registration).

    Without ``digest`` the version's artifacts are downloaded and digested (nothing is unpickled).
    """
    from mlflow.tracking import MlflowClient

    if digest is None:
        with tempfile.TemporaryDirectory() as tmp:
            digest = model_digest(_download_version(name, str(version), Path(tmp)))
    MlflowClient().set_model_version_tag(name, str(version), DIGEST_TAG, digest)
    return digest


def _download_version(name: str, version: str, into: Path) -> Path:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        source = MlflowClient().get_model_version_download_uri(name, version)
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(into)))
    except MlflowException as exc:
        raise ResilienceError(
            f"cannot read the artifacts of {name} version {version}: {exc.message}"
        ) from exc
    except OSError as exc:
        raise ResilienceError(
            f"cannot read the artifacts of {name} version {version}: {exc}"
        ) from exc


def registry_label(uri: str | None = None) -> str:
    """The tracking/registry URI without credentials (``http://user:pw@host`` -> ``http://host``)."""
    from urllib.parse import urlsplit, urlunsplit

    import mlflow

    uri = uri or mlflow.get_tracking_uri()
    parts = urlsplit(uri)
    if not (parts.username or parts.password):
        return uri
    return urlunsplit(
        parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else ""))
    )


def _version_for_uri(client, model_uri: str):
    """The registered ModelVersion a ``models:/`` URI names (``name@alias``, ``name/N``, ``m-<id>``)."""
    from mlflow.exceptions import MlflowException

    body = model_uri[len("models:/") :].strip("/")
    try:
        if "@" in body and "/" not in body:
            name, alias = body.rsplit("@", 1)
            return client.get_model_version_by_alias(name, alias)
        if "/" in body:
            name, number = body.rsplit("/", 1)
            if not number.isdigit():
                raise ResilienceError(
                    f"'{model_uri}': give a version number or an alias "
                    "(models:/<name>/<N> or models:/<name>@<alias>)"
                )
            return client.get_model_version(name, number)
        # MLflow 3 logged-model URI models:/m-<id>: only as the source of a registered version
        client.get_logged_model(body)
        # a version registered from a logged model has it as its source (the SQL store keeps no model_id)
        matches = [
            v
            for v in client.search_model_versions(max_results=10_000)
            if getattr(v, "model_id", None) == body
            or str(v.source).rstrip("/") == f"models:/{body}"
        ]
        if not matches:
            raise ResilienceError(
                f"'{model_uri}' is a logged model that was never registered in "
                f"{registry_label()}; only registered versions with a model card are used"
            )
        return client.get_model_version(matches[0].name, matches[0].version)
    except MlflowException as exc:
        raise ResilienceError(
            f"no registered model at '{model_uri}' in {registry_label()}: {exc.message}"
        ) from exc


def model_version_info(model_uri: str) -> dict[str, Any]:
    """Name, version, run id and tags of a registered version (``models:/name@alias``,
    ``models:/name/N`` or ``models:/m-<id>``); other URIs give an all-None record."""
    from mlflow.tracking import MlflowClient

    if not str(model_uri).startswith("models:/"):
        return {"name": None, "version": None, "run_id": None, "tags": {}}
    version = _version_for_uri(MlflowClient(), str(model_uri))
    return {
        "name": version.name,
        "version": str(version.version),
        "run_id": version.run_id,
        "tags": dict(version.tags or {}),
    }


def require_model_card(version_info: Mapping[str, Any]) -> None:
    """Scoring refuses a model without a model card (responsible-use guard), whatever the URI form."""
    tags = version_info.get("tags") or {}
    if not version_info.get("version"):
        raise ResilienceError(
            "the model is not a registered version, so it has no model card; score with "
            "models:/<name>@champion or models:/<name>/<N>"
        )
    if tags.get(MODEL_CARD_TAG) != "logged":
        raise ResilienceError(
            f"model {version_info['name']} version {version_info['version']} has no model card; "
            "run `resilience-card model_uri=...` before it is used for scoring"
        )


def vet_model(
    model_uri: str, into: Path, allow_unregistered: bool = False
) -> tuple[VettedModel, Path]:
    """Check a model BEFORE anything is unpickled; returns who it is and the local copy to load.

    By default only registered versions (``models:/...``) of the configured registry load, and only
    when they have a model card and their artifacts' SHA-256 equals the digest recorded at
    registration. The copy checked is the copy loaded. ``allow_unregistered=True`` lets another
    URI or a directory through, with a warning for the manifest and the report.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = str(model_uri)
    registry = registry_label()
    if uri.startswith("models:/"):
        info = model_version_info(uri)
        require_model_card(info)
        recorded = info["tags"].get(DIGEST_TAG)
        if not recorded:
            raise ResilienceError(
                f"model {info['name']} version {info['version']} in {registry} has no recorded "
                "artifact digest, so what would run cannot be checked; register it again with "
                "resilience-train"
            )
        local = _download_version(info["name"], info["version"], into)
        actual = model_digest(local)
        if actual != recorded:
            raise ResilienceError(
                f"model {info['name']} version {info['version']}: its files in {registry} do not match the digest "
                f"recorded at registration ({actual[:12]}… != {recorded[:12]}…); they were changed after "
                "registration. Nothing was loaded. Restore the artifacts from backup or register a new version."
            )
        return VettedModel(
            uri, registry, info["name"], info["version"], info["run_id"], actual
        ), local
    if not allow_unregistered:
        raise ResilienceError(
            f"refusing to load '{uri}': only registered versions with a model card are used "
            f"(models:/<name>@<alias>, models:/<name>/<N> or models:/m-<id> in {registry}); nothing was loaded. "
            "To score with an unvetted model anyway, add allow_unregistered=true (recorded as a warning)"
        )
    local = Path(uri)
    if not local.is_dir():
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(into)))
        except (MlflowException, OSError, ValueError) as exc:
            raise ResilienceError(
                f"cannot read model '{uri}': {getattr(exc, 'message', exc)}"
            ) from exc
    warning = (
        f"scored with an UNREGISTERED model ({uri}): no registry record, no model card, not vetted "
        "(allow_unregistered=true)"
    )
    return VettedModel(uri, registry, None, None, None, model_digest(local), False, warning), local


def load_vetted_pyfunc(model_uri: str, allow_unregistered: bool = False):
    """The MLflow pyfunc behind a vetted model URI, and who it is (:class:`VettedModel`).

    Refuses (before unpickling) anything :func:`vet_model` refuses; a model that is not one of
    this toolkit's, or whose signature does not match its data contract, is a clear error too.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        vetted, local = vet_model(model_uri, Path(tmp), allow_unregistered)
        try:
            pyfunc = mlflow.pyfunc.load_model(str(local))
        except MlflowException as exc:
            raise ResilienceError(f"cannot load model '{model_uri}': {exc.message}") from exc
        except (OSError, ValueError, ImportError, AttributeError, TypeError) as exc:
            raise ResilienceError(
                f"cannot load model '{model_uri}': {type(exc).__name__}: {exc}"
            ) from exc
    try:
        contract = pyfunc.unwrap_python_model().model.contract
    except (AttributeError, ValueError, MlflowException) as exc:
        raise ResilienceError(
            f"model '{model_uri}' is not a resilience model (a fitted PersistenceModel "
            "wrapped by resilience.tracking.pyfunc)"
        ) from exc
    check_signature(pyfunc.metadata, contract, model_uri)
    return pyfunc, vetted


def load_persistence_model(model_uri: str, allow_unregistered: bool = False):
    """The fitted :class:`~resilience.learn.models.PersistenceModel` behind a vetted model URI, and who it is."""
    pyfunc, vetted = load_vetted_pyfunc(model_uri, allow_unregistered)
    return pyfunc.unwrap_python_model().model, vetted


def check_signature(metadata, contract, model_uri: str) -> None:
    """The model's MLflow signature must name exactly the contract's input columns."""
    signature = getattr(metadata, "signature", None)
    if signature is None or signature.inputs is None:
        raise ResilienceError(
            f"model '{model_uri}' has no input signature; it cannot be checked against "
            "its data contract"
        )
    declared = set(signature.inputs.input_names())
    expected = {c.name for c in contract.columns if c.name != contract.label}
    if declared != expected:
        extra, missing = sorted(declared - expected), sorted(expected - declared)
        raise ResilienceError(
            f"model '{model_uri}': its signature does not match its data contract '{contract.name}' "
            f"(only in the signature: {extra or 'none'}; only in the contract: {missing or 'none'}); "
            "it was not made by resilience-train with this contract. Register a model trained on this contract."
        )


def champion_version(name: str):
    """The registered version with alias ``champion``, or None."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def set_alias(name: str, alias: str, version: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().set_registered_model_alias(name, alias, str(version))


def tag_version(name: str, version: str, tags: Mapping[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


def log_scoring_run(
    config: TrackingConfig, experiment_name: str, folder: Path, manifest: Mapping[str, Any]
) -> str:
    """Log a scored week to MLflow: the manifest, summary metrics, drift and report files."""
    import mlflow

    counts = manifest.get("counts", {})
    rows = max(int(counts.get("rows", 0)), 1)
    with start_run(
        config,
        run_name=f"score {manifest['week']}",
        experiment_name=experiment_name,
        tags={
            "week": manifest["week"],
            "model": manifest["model"]["identity"],
            "input_sha256": manifest["input"]["sha256"] or "",
        },
    ) as run:
        log_params(
            {
                "week": manifest["week"],
                "model_uri": manifest["model"]["uri"],
                "model_version": manifest["model"]["version"],
                "config_hash": manifest["config_hash"],
                "input": manifest["input"]["path"],
            }
        )
        metrics = {
            "rows": counts.get("rows", 0),
            "lines": counts.get("lines", 0),
            "drift_alerts": counts.get("drift_alerts", 0),
        }
        for band, count in (counts.get("bands") or {}).items():
            metrics[f"share_{band.replace(' ', '_')}"] = count / rows
        for stage, seconds in (manifest.get("timings") or {}).items():
            metrics[f"seconds_{stage}"] = seconds
        log_metrics(metrics)
        for name in (
            "manifest.json",
            "drift.json",
            "safeguarding.json",
            "report.html",
            "report.pdf",
        ):
            if (folder / name).is_file():
                mlflow.log_artifact(str(folder / name))
        return run.info.run_id


def _champion_history(name: str) -> list[str]:
    """Versions that have been champion, oldest first (kept as a registered-model tag)."""
    from mlflow.tracking import MlflowClient

    model = MlflowClient().get_registered_model(name)
    text = (model.tags or {}).get("champion_history", "")
    return [v for v in text.split(",") if v]


def record_champion(name: str, version: str) -> None:
    """Make ``version`` champion and append it to the champion history (for rollbacks)."""
    from mlflow.tracking import MlflowClient

    history = _champion_history(name)
    if not history or history[-1] != str(version):
        history.append(str(version))
    client = MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_registered_model_tag(name, "champion_history", ",".join(history))


def version_and_run(name: str, version: str):
    """A registered version and the run that made it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    model_version = client.get_model_version(name, str(version))
    return model_version, client.get_run(model_version.run_id)


def artifact_text(run_id: str, path: str) -> str | None:
    """A run's text artifact, or None when it does not exist."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        with tempfile.TemporaryDirectory() as tmp:
            return Path(MlflowClient().download_artifacts(run_id, path, tmp)).read_text(
                encoding="utf-8"
            )
    except (MlflowException, OSError):
        return None


def log_artifacts_to_run(run_id: str, folder: str | Path, artifact_path: str) -> None:
    """Every file of ``folder`` as artifacts of an existing (possibly finished) run."""
    from mlflow.tracking import MlflowClient

    MlflowClient().log_artifacts(run_id, str(folder), artifact_path)


def create_parent_run(config: TrackingConfig, run_name: str, tags: Mapping[str, str]) -> str:
    """A finished run for child runs to nest under (a sweep's parent); returns its id."""
    from mlflow.tracking import MlflowClient

    connect(config)
    experiment_id = ensure_experiment(config.experiment_name)
    client = MlflowClient()
    run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def best_champion(name: str) -> str | None:
    """The version that scored best among champions so far (the cumulative budget's yardstick)."""
    from mlflow.tracking import MlflowClient

    return (MlflowClient().get_registered_model(name).tags or {}).get("champion_best") or None


def set_best_champion(name: str, version: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().set_registered_model_tag(name, "champion_best", str(version))


def describe_version(name: str, version: str, description: str) -> None:
    """The version's description in the registry UI (what it is and what was decided)."""
    from mlflow.tracking import MlflowClient

    MlflowClient().update_model_version(name, str(version), description=description[:5000])


def promote_explicitly(name: str, version: str, reason: str, by: str | None) -> None:
    """A person makes ``version`` champion; the decision is recorded on the version."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient().get_model_version(name, version)
    except MlflowException as exc:
        raise ResilienceError(
            f"no version {version} of registered model {name}: {exc.message}"
        ) from exc
    record_champion(name, version)
    tag_version(
        name,
        version,
        {
            "promotion.decision": "champion (explicit)",
            "promotion.reason": reason,
            "promotion.by": by or "unrecorded",
        },
    )


def rollback_champion(name: str, reason: str, by: str | None) -> str:
    """Make the previous champion champion again; returns its version."""
    history = _champion_history(name)
    if len(history) < 2:
        raise ResilienceError(
            f"{name} has no earlier champion to roll back to (history: {history or 'empty'})"
        )
    current, previous = history[-1], history[-2]
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, "champion_history", ",".join(history[:-1]))
    tag_version(
        name,
        current,
        {
            "promotion.rolled_back": "true",
            "promotion.rollback_reason": reason,
            "promotion.rollback_by": by or "unrecorded",
        },
    )
    tag_version(
        name, previous, {"promotion.decision": "champion (rollback)", "promotion.reason": reason}
    )
    return previous


def log_outcomes(
    config: TrackingConfig, experiment_name: str, table: pd.DataFrame, path: Path
) -> str:
    """One run per scoring week with realised metrics per cohort (``<metric>_<cohort>``)."""
    run_id = ""
    for week, group in table.groupby("week"):
        with start_run(
            config,
            run_name=f"outcomes {week}",
            experiment_name=experiment_name,
            tags={"week": week},
        ) as run:
            for row in group.to_dict("records"):
                if row.get("suppressed"):
                    continue
                cohort = str(row["cohort"]).replace(" ", "_")
                log_metrics(
                    {
                        k: row[k]
                        for k in row
                        if k not in ("week", "cohort", "scored", "model", "suppressed")
                        and isinstance(row[k], (int, float))
                    },
                    prefix=f"{cohort}_",
                )
            run_id = run.info.run_id
    with start_run(config, run_name="outcomes summary", experiment_name=experiment_name) as run:
        log_file(path)
        run_id = run.info.run_id
    return run_id
