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

from resilience.errors import ResilienceError
from resilience.paths import project_root

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
    champion: Mapping[str, Any] | None = None   # settings of the champion rule (ChampionConfig)

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
            raise ResilienceError(f"the MLflow tracking server at {uri} does not answer: {exc}") from exc
    return uri


def _artifact_location(uri: str, experiment_name: str) -> str | None:
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / "mlartifacts" / experiment_name).as_uri()
    return None  # a server decides where its artifacts live


def ensure_experiment(name: str) -> str:
    """The experiment's id, creating it (with artifacts beside a local store) if needed."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        return mlflow.create_experiment(name, artifact_location=_artifact_location(mlflow.get_tracking_uri(), name),
                                        tags={EXPERIMENT_KIND_TAG: CLASSIC_ML})
    if EXPERIMENT_KIND_TAG not in (experiment.tags or {}):  # older stores: the UI would open in GenAI mode
        mlflow.tracking.MlflowClient().set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, CLASSIC_ML)
    return experiment.experiment_id


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested config -> ``{"model.params.num_leaves": 15, ...}`` for MLflow params."""
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value, default=str)
    return flat


def git_commit() -> str:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        root = project_root()
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def start_run(config: TrackingConfig, run_name: str | None = None, parent_run_id: str | None = None,
              experiment_name: str | None = None, tags: dict | None = None):
    """Start a run in the configured experiment (nested under ``parent_run_id`` for sweeps)."""
    import mlflow

    connect(config)
    experiment_id = ensure_experiment(experiment_name or config.experiment_name)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, parent_run_id=parent_run_id,
                          nested=parent_run_id is not None, tags=tags) as run:
        yield run


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    flat = {k: ("" if v is None else str(v))[:6000] for k, v in params.items()}
    items = list(flat.items())
    for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
        mlflow.log_params(dict(items[start:start + 100]))


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    import math

    import mlflow

    clean = {f"{prefix}{k}": float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    if clean:
        mlflow.log_metrics(clean)


def log_figure(figure, artifact_file: str) -> None:
    import mlflow

    mlflow.log_figure(figure, artifact_file)
    if getattr(getattr(figure, "canvas", None), "manager", None) is not None:  # made through pyplot: release it
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
        mlflow.log_artifact(str(path), str(Path(artifact_file).parent) if Path(artifact_file).parent != Path(".") else None)


def log_file(path: str | Path, artifact_path: str | None = None) -> None:
    import mlflow

    mlflow.log_artifact(str(path), artifact_path)


def log_dataset(frame: pd.DataFrame, name: str, context: str, source: str, label: str | None = None) -> None:
    """Record a data set the run used (training / test) as an MLflow dataset input with its schema,
    digest and profile: it appears under "Datasets used" in the run, not as a file."""
    import mlflow
    import mlflow.data

    plain = frame.apply(lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c)
    dataset = mlflow.data.from_pandas(plain, source=str(source), name=name,
                                      targets=label if label in frame.columns else None)
    mlflow.log_input(dataset, context=context)


def log_evidence(evidence) -> None:
    """Log a :class:`~resilience.evidence.ModelEvidence` on the active run under ``evidence/``."""
    import pickle

    import mlflow

    mlflow.log_text(evidence.to_json(), f"{EVIDENCE_DIR}/evidence.json")
    if evidence.evaluation_model is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "evaluation_model.pkl"
            path.write_bytes(pickle.dumps(evidence.evaluation_model, protocol=pickle.HIGHEST_PROTOCOL))
            mlflow.log_artifact(str(path), EVIDENCE_DIR)


def _run_id_of(model_uri: str) -> str | None:
    if model_uri.startswith("runs:/"):
        return model_uri[len("runs:/"):].split("/", 1)[0]
    if model_uri.startswith("models:/"):
        return model_version_info(model_uri)["run_id"]
    return None


def load_evidence(model_uri: str, evaluation_model: bool = False):
    """The :class:`~resilience.evidence.ModelEvidence` logged with the model at ``model_uri``.

    ``evaluation_model=True`` also loads the model that was evaluated on the test period (what the
    champion rule re-scores). Versions registered before evidence moved off the model carry it as
    attributes: then it is read from the model itself.
    """
    import pickle

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from resilience.evidence import ModelEvidence

    run_id = _run_id_of(model_uri)
    client = MlflowClient()
    text = None
    if run_id:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                text = Path(client.download_artifacts(run_id, f"{EVIDENCE_DIR}/evidence.json", tmp)).read_text()
        except (MlflowException, OSError):
            text = None
    if text is None:  # an older version: the evidence travels on the estimator
        model, _ = load_persistence_model(model_uri)
        return ModelEvidence.from_model(model)
    evaluated = None
    if evaluation_model:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                evaluated = pickle.loads(Path(client.download_artifacts(
                    run_id, f"{EVIDENCE_DIR}/evaluation_model.pkl", tmp)).read_bytes())
        except (MlflowException, OSError):  # not refitted: the registered model is the evaluated one
            evaluated, _ = load_persistence_model(model_uri)
    return ModelEvidence.from_json(text, evaluation_model=evaluated)


# -- the model in MLflow ---------------------------------------------------------------------------
def log_persistence_model(model, input_example: pd.DataFrame, registered_model_name: str | None):
    """Log the fitted model as a pyfunc with signature and input example; register it if named."""
    import mlflow
    from mlflow.models import infer_signature

    from resilience.pyfunc import ResiliencePyfunc

    python_model = ResiliencePyfunc(model)
    example = input_example.drop(columns=[model.contract.label], errors="ignore").head(5).reset_index(drop=True)
    # the signature speaks MLflow types: categories travel as plain strings
    example = example.apply(lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c)
    signature = infer_signature(example, python_model.predict(None, example))
    return mlflow.pyfunc.log_model(
        name="model", python_model=python_model, signature=signature, input_example=example,
        registered_model_name=registered_model_name, pip_requirements=model_requirements(),
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
    for package in ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "pandera", "scipy",
                    "omegaconf"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def load_persistence_model(model_uri: str):
    """The fitted :class:`~resilience.models.PersistenceModel` behind a model URI, and its version info.

    Raises a clear error when the alias or version does not exist or the server does not answer.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        pyfunc = mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise ResilienceError(f"cannot load model '{model_uri}' from {mlflow.get_tracking_uri()}: {exc.message}") from exc
    except OSError as exc:
        raise ResilienceError(f"cannot load model '{model_uri}': {exc}") from exc
    return pyfunc.unwrap_python_model().model, pyfunc.metadata


def model_version_info(model_uri: str) -> dict[str, Any]:
    """Name, version, run id and tags of a ``models:/name@alias`` or ``models:/name/N`` URI."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    if not model_uri.startswith("models:/"):
        return {"name": None, "version": None, "run_id": None, "tags": {}}
    body = model_uri[len("models:/"):]
    try:
        if "@" in body:
            name, alias = body.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, number = body.rsplit("/", 1)
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        raise ResilienceError(f"no registered model at '{model_uri}': {exc.message}") from exc
    return {"name": version.name, "version": str(version.version), "run_id": version.run_id,
            "tags": dict(version.tags or {})}


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


def require_model_card(version_info: Mapping[str, Any]) -> None:
    """Scoring refuses a registered version that has no model card (responsible-use guard)."""
    tags = version_info.get("tags") or {}
    if version_info.get("version") and tags.get("model_card") != "logged":
        raise ResilienceError(
            f"model {version_info['name']} version {version_info['version']} has no model card; "
            "run `resilience-card model_uri=...` before it is used for scoring"
        )


def log_scoring_run(config: TrackingConfig, experiment_name: str, folder: Path, manifest: Mapping[str, Any]) -> str:
    """Log a scored week to MLflow: the manifest, summary metrics, drift and report files."""
    import mlflow

    counts = manifest.get("counts", {})
    rows = max(int(counts.get("rows", 0)), 1)
    with start_run(config, run_name=f"score {manifest['week']}", experiment_name=experiment_name,
                   tags={"week": manifest["week"], "model": manifest["model"]["identity"],
                         "input_sha256": manifest["input"]["sha256"] or ""}) as run:
        log_params({"week": manifest["week"], "model_uri": manifest["model"]["uri"],
                    "model_version": manifest["model"]["version"], "config_hash": manifest["config_hash"],
                    "input": manifest["input"]["path"]})
        metrics = {"rows": counts.get("rows", 0), "lines": counts.get("lines", 0),
                   "drift_alerts": counts.get("drift_alerts", 0)}
        for band, count in (counts.get("bands") or {}).items():
            metrics[f"share_{band.replace(' ', '_')}"] = count / rows
        for stage, seconds in (manifest.get("timings") or {}).items():
            metrics[f"seconds_{stage}"] = seconds
        log_metrics(metrics)
        for name in ("manifest.json", "drift.json", "safeguarding.json", "report.html", "report.pdf"):
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
            return Path(MlflowClient().download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")
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
        raise ResilienceError(f"no version {version} of registered model {name}: {exc.message}") from exc
    record_champion(name, version)
    tag_version(name, version, {"promotion.decision": "champion (explicit)", "promotion.reason": reason,
                                "promotion.by": by or "unrecorded"})


def rollback_champion(name: str, reason: str, by: str | None) -> str:
    """Make the previous champion champion again; returns its version."""
    history = _champion_history(name)
    if len(history) < 2:
        raise ResilienceError(f"{name} has no earlier champion to roll back to (history: {history or 'empty'})")
    current, previous = history[-1], history[-2]
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, "champion_history", ",".join(history[:-1]))
    tag_version(name, current, {"promotion.rolled_back": "true", "promotion.rollback_reason": reason,
                                "promotion.rollback_by": by or "unrecorded"})
    tag_version(name, previous, {"promotion.decision": "champion (rollback)", "promotion.reason": reason})
    return previous


def log_outcomes(config: TrackingConfig, experiment_name: str, table: pd.DataFrame, path: Path) -> str:
    """One run per scoring week with realised metrics per cohort (``<metric>_<cohort>``)."""
    run_id = ""
    for week, group in table.groupby("week"):
        with start_run(config, run_name=f"outcomes {week}", experiment_name=experiment_name, tags={"week": week}) as run:
            for row in group.to_dict("records"):
                if row.get("suppressed"):
                    continue
                cohort = str(row["cohort"]).replace(" ", "_")
                log_metrics({k: row[k] for k in row if k not in ("week", "cohort", "scored", "model", "suppressed")
                             and isinstance(row[k], (int, float))}, prefix=f"{cohort}_")
            run_id = run.info.run_id
    with start_run(config, run_name="outcomes summary", experiment_name=experiment_name) as run:
        log_file(path)
        run_id = run.info.run_id
    return run_id
