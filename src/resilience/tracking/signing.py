"""Signed registration: who may vouch for a registered version, and what their signature covers.

A registered version's **identity** is its name, version, source and run, the SHA-256 of its
artifact directory, of its model card documents and of every evidence file of its run (the
evaluated model the champion rule unpickles included). Where models are registered, an Ed25519
private key signs that identity together with who reviewed it and why (a :class:`Statement`,
stored as the version tag ``signature.<key id>``). Hosts that load models hold only the
**trusted public keys** (one per line in a file outside MLflow), so they can check a signature but
never make one: someone who can write the tracking store can change files, tags and digests, but
cannot sign what they changed.

* The private key: ``mlflow.signing_key=`` or ``$RESILIENCE_SIGNING_KEY``, else
  ``<project>/keys/registration_key.pem`` (PKCS#8 PEM, refused when others can read it).
* The trusted keys: ``mlflow.trusted_keys=`` or ``$RESILIENCE_TRUSTED_KEYS``, else
  ``<project>/keys/trusted_keys``; lines ``ed25519 <base64 public key> [comment]``, ``#`` comments;
  refused when others can write it (anyone could add a key).
* Rotation: a new key pair appends its public key to the trusted list (:func:`new_key_pair`);
  versions signed again with it carry both signatures, and a key removed from the list no longer
  vouches for anything.

What no signature can stop: someone running as the same user as the loading process, or as root,
while it runs (they can change the process or the trusted list itself).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from resilience.core.errors import ResilienceError
from resilience.core.paths import project_root

KEY_ENV = "RESILIENCE_SIGNING_KEY"
TRUSTED_ENV = "RESILIENCE_TRUSTED_KEYS"
SIGNATURE_TAG_PREFIX = "signature."
KEY_TYPE = "ed25519"
STATEMENT_KIND = "resilience registered version, v1"


def private_key_path(configured: str | None = None) -> Path:
    """The registration key's file: the config value, else ``$RESILIENCE_SIGNING_KEY``, else the
    project's ``keys/registration_key.pem``."""
    text = configured or os.environ.get(KEY_ENV)
    return Path(text).expanduser() if text else project_root() / "keys" / "registration_key.pem"


def trusted_keys_path(configured: str | None = None) -> Path:
    """The trusted public keys' file: the config value, else ``$RESILIENCE_TRUSTED_KEYS``, else the
    project's ``keys/trusted_keys``."""
    text = configured or os.environ.get(TRUSTED_ENV)
    return Path(text).expanduser() if text else project_root() / "keys" / "trusted_keys"


@dataclass(frozen=True)
class Identity:
    """What a signature vouches for: a registered version and the digests of everything of it that
    the toolkit reads (``evidence_sha256``: run-relative path -> SHA-256 of each evidence file)."""

    name: str
    version: str
    source: str
    run_id: str
    artifact_sha256: str
    card_sha256: str
    evidence_sha256: dict[str, str] = field(default_factory=dict)

    def record_differences(self, signed: Identity) -> list[str]:
        """How the registry record (name, version, source, run) differs from the signed one."""
        return [
            f"its {what} is {getattr(self, key)!r}, signed as {getattr(signed, key)!r}"
            for key, what in (
                ("name", "registered name"),
                ("version", "version number"),
                ("source", "source"),
                ("run_id", "run"),
            )
            if getattr(self, key) != getattr(signed, key)
        ]

    def differences(self, signed: Identity) -> list[str]:
        """What differs from the ``signed`` identity, in words (empty when nothing does)."""
        found = self.record_differences(signed)
        if self.artifact_sha256 != signed.artifact_sha256:
            found.append("its model files changed after they were signed")
        if self.card_sha256 != signed.card_sha256:
            change = "are missing" if not self.card_sha256 else "changed"
            found.append(f"its model card documents (model_card/ of run {self.run_id}) {change}")
        for path in sorted(set(self.evidence_sha256) | set(signed.evidence_sha256)):
            now, then = self.evidence_sha256.get(path), signed.evidence_sha256.get(path)
            if now != then:
                change = (
                    "was added" if then is None else "was removed" if now is None else "changed"
                )
                found.append(f"evidence file {path} of run {self.run_id} {change} after signing")
        return found


@dataclass(frozen=True)
class Statement:
    """One signature: the identity, who reviewed it and why, by which key, when."""

    identity: Identity
    key_id: str
    by: str
    reason: str
    signed_utc: str
    signature: str = ""

    def payload(self) -> bytes:
        """The bytes signed: canonical JSON of everything but the signature."""
        body = {"kind": STATEMENT_KIND, **asdict(self)}
        body.pop("signature")
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def to_tag(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_tag(cls, text: str) -> Statement:
        data = json.loads(text)
        return cls(**{**data, "identity": Identity(**data["identity"])})

    @property
    def tag(self) -> str:
        return f"{SIGNATURE_TAG_PREFIX}{self.key_id}"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A public key's short name: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _guarded_file(path: Path, missing: str, exposed_bits: int, exposed: str) -> None:
    """Refuse ``path`` (with ``missing``) when it is not a file, and (with ``exposed``) when its
    mode has any of ``exposed_bits``: a key others can read, a trusted list others can write."""
    if not path.is_file():
        raise ResilienceError(missing)
    if path.stat().st_mode & exposed_bits:
        raise ResilienceError(exposed)


def _guarded_folders(path: Path) -> None:
    """Refuse a trusted list in a folder others can write (without the sticky bit, as /tmp has):
    anyone could put their own list in its place, whatever the list's own mode."""
    for folder in dict.fromkeys((path.parent, path.resolve().parent)):
        mode = folder.stat().st_mode
        if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
            raise ResilienceError(
                f"trusted keys file {path} is in folder {folder}, which other users can write, "
                "so anyone could replace the list; make the folder writable only by its owner "
                f"(chmod go-w {folder}); nothing was loaded"
            )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The registration key at ``path``; refused when missing, readable by others or not Ed25519.
    Nothing of the file's contents is ever put in a message."""
    _guarded_file(
        path,
        f"no registration key at {path}: set {KEY_ENV} (or mlflow.signing_key=) to the private "
        "key kept where models are registered, or create one with resilience-sign new_key=true",
        stat.S_IRWXG | stat.S_IRWXO,
        f"registration key {path} can be read by other users; make it private "
        f"(chmod 600 {path}) and rerun",
    )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise ResilienceError(
            f"registration key {path} is not an unencrypted PEM private key "
            f"({type(exc).__name__}); create one with resilience-sign new_key=true"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ResilienceError(f"registration key {path} is not an Ed25519 key")
    return key


def trusted_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """The public keys in the trusted list at ``path`` (key id -> key); refused when the file is
    missing or others can write it, and each line that is not a key is named."""
    _guarded_file(
        path,
        f"no trusted public keys at {path}: set {TRUSTED_ENV} (or mlflow.trusted_keys=) to the "
        "file of public keys that may sign registered models; nothing was loaded",
        stat.S_IWGRP | stat.S_IWOTH,
        f"trusted keys file {path} can be written by other users, so anyone could add a key; "
        f"make it writable only by its owner (chmod 644 {path}); nothing was loaded",
    )
    _guarded_folders(path)
    keys = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            if fields[0] != KEY_TYPE or len(fields) < 2:
                raise ValueError
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(fields[1], validate=True))
        except ValueError:
            raise ResilienceError(
                f"trusted keys file {path}, line {number}: expected '{KEY_TYPE} <base64 public "
                "key> [comment]'"
            ) from None
        keys[key_id(key)] = key
    return keys


def public_key_line(public_key: Ed25519PublicKey, comment: str = "") -> str:
    """The trusted-list line of a public key."""
    text = base64.b64encode(_raw(public_key)).decode("ascii")
    return f"{KEY_TYPE} {text} {comment}".rstrip()


def new_key_pair(private_path: Path, trusted_path: Path, comment: str) -> tuple[str, bool]:
    """Create a registration key at ``private_path`` (readable by its owner only) and add its
    public key to ``trusted_path``; returns its key id and whether it was created (an existing
    key is kept, never replaced, and made sure to be trusted)."""
    if private_path.exists():
        public = load_private_key(private_path).public_key()
        created = False
    else:
        private_path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        public, created = key.public_key(), True
    known = trusted_keys(trusted_path) if trusted_path.is_file() else {}
    if key_id(public) not in known:
        trusted_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        with open(trusted_path, "a", encoding="utf-8") as handle:
            handle.write(public_key_line(public, comment) + "\n")
    return key_id(public), created


def sign(
    identity: Identity, private_key: Ed25519PrivateKey, by: str, reason: str, now=None
) -> Statement:
    """A signed :class:`Statement` of ``identity``, reviewed ``by`` someone for ``reason``."""
    statement = Statement(
        identity,
        key_id(private_key.public_key()),
        str(by),
        str(reason),
        (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    signature = base64.b64encode(private_key.sign(statement.payload())).decode("ascii")
    return replace(statement, signature=signature)


def statements(tags: dict[str, str]) -> tuple[list[Statement], list[str]]:
    """The signatures among a version's tags, and the tags that do not parse as one."""
    found, unreadable = [], []
    for tag, text in sorted(tags.items()):
        if not tag.startswith(SIGNATURE_TAG_PREFIX):
            continue
        try:
            found.append(Statement.from_tag(text))
        except (ValueError, TypeError, KeyError):
            unreadable.append(tag)
    return found, unreadable


def valid_statements(
    found: list[Statement], trusted: dict[str, Ed25519PublicKey]
) -> list[Statement]:
    """The statements signed by a trusted key whose signature matches what they state."""
    valid = []
    for statement in found:
        key = trusted.get(statement.key_id)
        try:
            if key is not None:
                key.verify(base64.b64decode(statement.signature), statement.payload())
                valid.append(statement)
        except (InvalidSignature, ValueError):
            continue
    return valid


def trusted_statements(
    found: list[Statement],
    trusted: dict[str, Ed25519PublicKey],
    who: str,
    trusted_file: Path,
    version: str,
) -> list[Statement]:
    """The statements signed by a trusted key whose signature verifies; when there is none, one
    error that says why (none, only untrusted keys, or a signature that does not match its
    statement) and how to sign."""
    how = (
        "Once a person has reviewed it, sign it where models are registered: resilience-sign "
        f'version={version} by=<role> reason="..."'
    )
    if not found:
        raise ResilienceError(
            f"{who} is not signed (registered before signing, or without a registration key); "
            f"nothing was loaded. {how}"
        )
    valid = valid_statements(found, trusted)
    if valid:
        return valid
    broken = [s.key_id for s in found if s.key_id in trusted]
    if broken:
        raise ResilienceError(
            f"{who}: its signature by key {broken[0]} does not match what it states (the signed "
            "record was altered in the registry); nothing was loaded. Register a new version"
        )
    raise ResilienceError(
        f"{who} is signed only by key(s) {', '.join(s.key_id for s in found)}, none of which is "
        f"trusted in {trusted_file}; nothing was loaded. {how} (with a trusted key)"
    )
