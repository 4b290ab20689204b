"""Only vetted models run: the registry record, the model card and the artifact digest are checked
before anything is unpickled.

Loading a pickled model runs code, so :func:`vet_model` reads the registry record first: only a
registered version (``models:/<name>@<alias>``, ``models:/<name>/<N>`` or the MLflow 3
``models:/m-<id>`` of a registered version) with a model card is used, and only when the SHA-256 of
its artifact directory equals the ``artifact_sha256`` recorded at registration; the copy checked is
the copy loaded. Anything else is refused before anything is unpickled, unless
``allow_unregistered=True``, which is returned as a warning for the manifest and the report.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from resilience.core.errors import ResilienceError
from resilience.tracking.registry import model_version_info
from resilience.tracking.store import registry_label

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
    if digest is None:
        with tempfile.TemporaryDirectory() as tmp:
            digest = model_digest(_download_version(name, str(version), Path(tmp)))
    MlflowClient().set_model_version_tag(name, str(version), DIGEST_TAG, digest)
    return digest


def _download_version(name: str, version: str, into: Path) -> Path:
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
