"""Only vetted models run: one path from the registry to an unpickled model, checked first.

Loading a pickled model runs code, so every pickle the toolkit loads — a registered model, its
evidence and the evaluated model the champion rule re-scores — comes through
:func:`load_vetted_model`:

1. only a registered version (``models:/<name>@<alias>``, ``models:/<name>/<N>`` or the MLflow 3
   ``models:/m-<id>`` of a registered version) is considered, and only one **signed by a trusted
   key** (:mod:`resilience.tracking.signing`): the signature covers its name, version, source,
   run, the digest of its files, of its model card documents and of every evidence file;
2. each of the version's files, card and evidence files is read **once** into memory (from a
   store on this machine, in place; from a remote one, through a **fresh private folder**, mode
   0700); the digests are computed from those bytes and compared with the signed ones;
3. the model and the evaluated model are unpickled **from the same bytes** that were hashed, so
   nothing can be swapped between the check and the load; the code the version carries
   (``code_paths``) is never put on ``sys.path`` (the toolkit doing the loading is already
   imported, and its modules are the ones that run).

Anything else is refused before anything is unpickled, unless ``allow_unregistered=True``, which
is returned as a warning for the manifest and the report (the model is still loaded from the bytes
it was hashed from). What this cannot stop: someone running as the same user as the loading
process, or as root, while it runs.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.pyfunc import PyFuncModel
from mlflow.pyfunc.model import PythonModel, PythonModelContext, _PythonModelPyfuncWrapper
from mlflow.tracking import MlflowClient

from resilience.core.errors import ResilienceError
from resilience.learn.evidence import ModelEvidence
from resilience.tracking import signing
from resilience.tracking.registry import model_version_info
from resilience.tracking.runs import (
    CARD_DIR,
    CARD_DOCUMENT,
    EVIDENCE_DIR,
    EVIDENCE_JSON,
    EVIDENCE_MODEL,
)
from resilience.tracking.store import local_artifact_path, registry_label

DIGEST_TAG = "artifact_sha256"
MODEL_CARD_TAG = "model_card"
# Written by MLflow itself into a registered version's folder the first time it is loaded with
# ``mlflow.pyfunc.load_model("models:/...")`` from a local store (the version's name and number, never
# read to predict): counting it would make the champion read as changed after any plain MLflow load.
MLFLOW_WRITTEN_FILES = frozenset({"registered_model_meta"})
PYFUNC_LOADER = "mlflow.pyfunc.model"


class UnvettedModel(ResilienceError):
    """A model that did not pass vetting; nothing of it was unpickled."""


@dataclass(frozen=True)
class VettedModel:
    """Who a model is: the registry it came from, its registered name and version, and the SHA-256
    of its artifact directory (what scoring recorded and what the overwrite guard compares);
    ``signed_by``: the trusted key and the reviewer whose signature it carries."""

    uri: str
    registry: str
    name: str | None
    version: str | None
    run_id: str | None
    sha256: str
    registered: bool = True
    warning: str | None = None
    signed_by: str | None = None

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


@dataclass
class LoadedModel:
    """A vetted model, unpickled: the pyfunc, the fitted model inside it, who it is and its
    evidence (with the evaluated model when it was asked for)."""

    pyfunc: PyFuncModel
    model: Any
    vetted: VettedModel
    evidence: ModelEvidence


@dataclass
class VersionCopy:
    """A registered version as read once (each file): its identity (digests of these very
    bytes) and the bytes of its model files and evidence files (run-relative paths)."""

    identity: signing.Identity
    model_files: dict[str, bytes] = field(default_factory=dict)
    evidence_files: dict[str, bytes] = field(default_factory=dict)
    statement: signing.Statement | None = None  # the trusted signature it matches, once vetted


# -- reading and digesting -----------------------------------------------------------------------------
def read_files(folder: str | Path) -> dict[str, bytes]:
    """Every file under ``folder``, read once: relative POSIX path -> bytes (MLflow's own
    bookkeeping file at the top level, :data:`MLFLOW_WRITTEN_FILES`, left out). A symbolic link,
    pipe or device is refused: a model's files are plain files."""
    root = Path(folder)
    if root.is_file():
        raise ResilienceError(f"{root} is a file, not a model directory")
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():  # before is_dir(), which follows a link to a folder
            raise _link_refused(path)
        if path.is_dir() or (path.parent == root and path.name in MLFLOW_WRITTEN_FILES):
            continue
        files[path.relative_to(root).as_posix()] = _read_plain_file(path)
    return files


def _link_refused(path: Path) -> UnvettedModel:
    return UnvettedModel(
        f"{path} is a symbolic link; a model's files are plain files. Nothing was loaded"
    )


def _read_plain_file(path: Path) -> bytes:
    """A regular file's bytes, opened without following a link or waiting on a pipe: a store's
    folder can be written by others, and an entry swapped for a link, a pipe or a device after it
    was listed is refused rather than read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a link since it was listed
            raise _link_refused(path) from None
        raise
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UnvettedModel(
                f"{path} is not a plain file (a pipe, device or socket); a model's files are "
                "plain files. Nothing was loaded"
            )
        return handle.read()


def files_digest(files: Mapping[str, bytes]) -> str:
    """SHA-256 over files: each relative path, size and bytes, in sorted path order (the digest
    recorded at registration since the first versions: ``artifact_sha256``)."""
    digest = hashlib.sha256()
    for name in sorted(files, key=PurePosixPath):
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(str(len(files[name])).encode() + b"\0")
        digest.update(files[name])
    return digest.hexdigest()


def model_digest(path: str | Path) -> str:
    """SHA-256 of a model directory (see :func:`files_digest`)."""
    return files_digest(read_files(path))


def _fetch(what: str, fetch):
    """``fetch()``, with the store's failure as one message naming ``what`` could not be read."""
    try:
        return fetch()
    except MlflowException as exc:
        raise ResilienceError(f"cannot read {what}: {exc.message.splitlines()[0]}") from exc
    except OSError as exc:
        raise ResilienceError(f"cannot read {what}: {exc}") from exc


def _read_folder(what: str, artifact_uri: str, into: Path, missing_ok: bool) -> dict[str, bytes]:
    """Every file under an artifact URI, read once into memory: in place from a store on this
    machine (no copy to make), else downloaded to ``into`` first. A folder that is not there is
    empty when ``missing_ok``, else the store's failure."""
    local = _fetch(what, lambda: local_artifact_path(artifact_uri))
    if local is None:
        if missing_ok and not _fetch(what, lambda: mlflow.artifacts.list_artifacts(artifact_uri)):
            return {}
        folder = _fetch(
            what,
            lambda: mlflow.artifacts.download_artifacts(
                artifact_uri=artifact_uri, dst_path=str(into)
            ),
        )
        return read_files(Path(folder))

    def in_place() -> dict[str, bytes]:
        if local.is_dir():
            return read_files(local)
        if not local.exists():
            if missing_ok:
                return {}
            raise ResilienceError(f"cannot read {what}: no folder {local}")
        raise ResilienceError(f"cannot read {what}: {local} is not a folder")

    return _fetch(what, in_place)


def _run_folder(run_id: str, folder: str, into: Path) -> dict[str, bytes]:
    """A run's artifact folder, each file read once (empty when the run has none)."""
    what = f"{folder}/ of run {run_id} in {registry_label()}"
    root = _fetch(what, lambda: MlflowClient().get_run(run_id).info.artifact_uri)
    return _read_folder(what, f"{root.rstrip('/')}/{folder}", into, missing_ok=True)


def read_model_files(name: str, version: str, into: Path) -> dict[str, bytes]:
    """A registered version's model files, each read once."""
    what = f"the files of {name} version {version} in {registry_label()}"
    uri = _fetch(what, lambda: MlflowClient().get_model_version_download_uri(name, version))
    return _read_folder(what, uri, into, missing_ok=False)


def copy_version(info: Mapping[str, Any], into: Path) -> VersionCopy:
    """Read a registered version's files, card and evidence, each file once (a remote store's
    through ``into``, private), and compute its identity from those bytes. Nothing is unpickled."""
    name, version, run_id = info["name"], info["version"], info["run_id"]
    files = read_model_files(name, str(version), into / "model")
    card = _run_folder(run_id, CARD_DIR, into / "card") if run_id else {}
    evidence = _run_folder(run_id, EVIDENCE_DIR, into / "evidence") if run_id else {}
    identity = signing.Identity(
        name=name,
        version=str(version),
        source=str(info.get("source") or ""),
        run_id=str(run_id or ""),
        artifact_sha256=files_digest(files),
        # No card document, no card: other files left in its folder do not stand for it.
        card_sha256=files_digest(card) if CARD_DOCUMENT in card else "",
        evidence_sha256={
            f"{EVIDENCE_DIR}/{path}": hashlib.sha256(data).hexdigest()
            for path, data in evidence.items()
        },
    )
    return VersionCopy(identity, files, evidence)


# -- vetting ---------------------------------------------------------------------------------------------
def vet_version(
    model_uri: str, into: Path, trusted_keys: str | Path | None = None
) -> tuple[VettedModel, VersionCopy]:
    """Check a registered version BEFORE anything is unpickled: a signature by a trusted key, then
    the digests of its files, each read once, against the signed ones. Returns who it is and those bytes."""
    registry = registry_label()
    info = model_version_info(model_uri)
    who = f"model {info['name']} version {info['version']} in {registry}"
    trusted_file = signing.trusted_keys_path(str(trusted_keys) if trusted_keys else None)
    trusted = signing.trusted_keys(trusted_file)
    found, unreadable = signing.statements(info["tags"])
    if unreadable and not found:
        raise UnvettedModel(
            f"{who}: its signature tag {unreadable[0]} cannot be read (altered in the registry); "
            "nothing was loaded. Register a new version"
        )
    try:
        valid = signing.trusted_statements(found, trusted, who, trusted_file, info["version"])
    except ResilienceError as exc:
        raise UnvettedModel(str(exc)) from None
    record = signing.Identity(
        info["name"],
        str(info["version"]),
        str(info["source"] or ""),
        str(info["run_id"] or ""),
        "",
        "",
    )
    valid = [s for s in valid if not record.record_differences(s.identity)] or _copied(
        who, valid, record
    )
    try:
        copy = copy_version(info, into)
    except UnvettedModel as exc:  # a link or a pipe among its files: say which version
        raise UnvettedModel(f"{who}: {exc}") from None
    statement = next((s for s in valid if not copy.identity.differences(s.identity)), None)
    if statement is None:
        newest = max(valid, key=lambda s: s.signed_utc)
        raise UnvettedModel(
            f"{who}: {'; '.join(copy.identity.differences(newest.identity))}; it is not what "
            f"was signed by key {newest.key_id} on {newest.signed_utc}. Nothing was loaded: "
            "restore its artifacts from backup or register a new version"
        )
    copy.statement = statement
    signed_by = f"key {statement.key_id}, reviewed by {statement.by} ({statement.signed_utc})"
    vetted = VettedModel(
        model_uri,
        registry,
        info["name"],
        info["version"],
        info["run_id"],
        copy.identity.artifact_sha256,
        signed_by=signed_by,
    )
    return vetted, copy


def _copied(who: str, valid: list[signing.Statement], record: signing.Identity):
    """Refuse a version whose only trusted signatures were made for another registry record."""
    raise UnvettedModel(
        f"{who}: its signature was made for another registered version "
        f"({'; '.join(record.record_differences(valid[0].identity))}): copied in the registry. "
        "Nothing was loaded; once a person has reviewed this version, sign it: resilience-sign "
        f'version={record.version} by=<role> reason="..."'
    )


def _unregistered(model_uri: str, into: Path) -> tuple[VettedModel, dict[str, bytes]]:
    """A model that is not a registered version, allowed explicitly: read once from a private copy,
    with the warning the manifest and the report carry."""
    local = Path(model_uri)
    if not local.is_dir():
        local = _fetch(
            f"model '{model_uri}'",
            lambda: mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri, dst_path=str(into / "model")
            ),
        )
    files = read_files(Path(local))
    warning = (
        f"scored with an UNREGISTERED model ({model_uri}): no registry record, no model card, no "
        "signature, not vetted (allow_unregistered=true)"
    )
    run_id = model_uri[len("runs:/") :].split("/", 1)[0] if model_uri.startswith("runs:/") else None
    vetted = VettedModel(
        model_uri, registry_label(), None, None, run_id, files_digest(files), False, warning
    )
    return vetted, files


# -- loading from the bytes that were checked --------------------------------------------------------
def pyfunc_from_files(files: Mapping[str, bytes], model_uri: str) -> PyFuncModel:
    """The MLflow pyfunc held in ``files`` (a model directory read into memory), unpickled from
    those bytes. Only this toolkit's kind of pyfunc (a pickled ``PythonModel``) is accepted."""
    try:
        meta = Model.from_dict(yaml.safe_load(files["MLmodel"]))
        flavor = meta.flavors["python_function"]
        pickled = files[flavor["python_model"]]
    except (KeyError, TypeError, ValueError, yaml.YAMLError, MlflowException):
        raise ResilienceError(
            f"model '{model_uri}' is not a resilience model (an MLflow pyfunc holding a pickled "
            "PythonModel, as resilience-train logs it); nothing was loaded"
        ) from None
    if flavor.get("loader_module") != PYFUNC_LOADER or flavor.get("compression"):
        raise ResilienceError(
            f"model '{model_uri}' is not a resilience model (loader "
            f"{flavor.get('loader_module')!r}); nothing was loaded"
        )
    python_model = _unpickle(pickled, model_uri)
    if not isinstance(python_model, PythonModel):
        raise ResilienceError(
            f"model '{model_uri}' is not a resilience model: its python_model.pkl holds a "
            f"{type(python_model).__name__}, not an MLflow PythonModel"
        )
    context = PythonModelContext(artifacts={}, model_config=None)
    python_model.load_context(context=context)
    return PyFuncModel(
        model_meta=meta,
        model_impl=_PythonModelPyfuncWrapper(python_model, context, meta.signature),
    )


def _unpickle(data: bytes, model_uri: str):
    try:
        return pickle.loads(data)
    except (
        pickle.UnpicklingError,
        AttributeError,
        ImportError,
        EOFError,
        TypeError,
        ValueError,
    ) as exc:
        raise ResilienceError(
            f"cannot load model '{model_uri}': {type(exc).__name__}: {exc}"
        ) from exc


def _evidence(
    evidence_files: Mapping[str, bytes], model, model_uri: str, evaluation_model: bool
) -> ModelEvidence:
    """The evidence logged beside the model (read from the checked bytes); a version registered
    before evidence moved off the model carries it as attributes."""
    text = evidence_files.get(EVIDENCE_JSON)
    if text is None:
        return ModelEvidence.from_model(model)
    evaluated = None
    if evaluation_model:  # not refitted: the registered model is the evaluated one
        pickled = evidence_files.get(EVIDENCE_MODEL)
        evaluated = _unpickle(pickled, model_uri) if pickled is not None else model
    return ModelEvidence.from_json(text.decode("utf-8"), evaluation_model=evaluated)


def load_vetted_model(
    model_uri: str,
    allow_unregistered: bool = False,
    evaluation_model: bool = False,
    trusted_keys: str | Path | None = None,
) -> LoadedModel:
    """The one way the toolkit unpickles a model: vetted (see the module docstring), then loaded
    from the very bytes that were checked. ``evaluation_model=True`` also loads the model that was
    evaluated on the test period (the champion rule re-scores it). A model that is not one of this
    toolkit's, or whose signature does not name its data contract's columns, is refused too."""
    uri = str(model_uri)
    with tempfile.TemporaryDirectory(prefix="resilience-vetting-") as tmp:  # mode 0700
        if uri.startswith("models:/"):
            vetted, copy = vet_version(uri, Path(tmp), trusted_keys)
            files, evidence_files = copy.model_files, copy.evidence_files
        elif allow_unregistered:
            vetted, files = _unregistered(uri, Path(tmp))
            evidence_files = (
                {
                    k: v
                    for k, v in _run_folder(vetted.run_id, EVIDENCE_DIR, Path(tmp) / "e").items()
                    if k == EVIDENCE_JSON
                }
                if vetted.run_id
                else {}
            )
        else:
            raise UnvettedModel(
                f"refusing to load '{uri}': only signed, registered versions with a model card are "
                f"used (models:/<name>@<alias>, models:/<name>/<N> or models:/m-<id> in "
                f"{registry_label()}); nothing was loaded. To score with an unvetted model anyway, "
                "add allow_unregistered=true (recorded as a warning)"
            )
    pyfunc = pyfunc_from_files(files, uri)
    try:
        model = pyfunc.unwrap_python_model().model
        contract = model.contract
    except (AttributeError, ValueError, MlflowException) as exc:
        raise ResilienceError(
            f"model '{uri}' is not a resilience model (a fitted PersistenceModel "
            "wrapped by resilience.tracking.pyfunc)"
        ) from exc
    check_signature(pyfunc.metadata, contract, uri)
    evidence = _evidence(evidence_files, model, uri, evaluation_model)
    return LoadedModel(pyfunc, model, vetted, evidence)


def load_vetted_pyfunc(model_uri: str, allow_unregistered: bool = False, trusted_keys=None):
    """The MLflow pyfunc behind a vetted model URI, and who it is (:class:`VettedModel`)."""
    loaded = load_vetted_model(model_uri, allow_unregistered, trusted_keys=trusted_keys)
    return loaded.pyfunc, loaded.vetted


def load_persistence_model(model_uri: str, allow_unregistered: bool = False, trusted_keys=None):
    """The fitted :class:`~resilience.learn.models.PersistenceModel` behind a vetted model URI, and
    who it is."""
    loaded = load_vetted_model(model_uri, allow_unregistered, trusted_keys=trusted_keys)
    return loaded.model, loaded.vetted


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
