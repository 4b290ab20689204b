"""Registration's side of trust: the artifact digest recorded on a new version, and the signature
a registration key puts on a version after a person has reviewed it (at training, by
``resilience-sign`` for versions registered before signing or with a rotated key, and again by
``resilience-card`` when the card it covers is regenerated). Nothing is unpickled here: what is
signed is computed from the version's files, each read once (:mod:`resilience.tracking.vetting`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from mlflow.tracking import MlflowClient

from resilience.core.errors import ResilienceError
from resilience.tracking import signing
from resilience.tracking.registry import model_version_info
from resilience.tracking.store import registry_label
from resilience.tracking.vetting import (
    DIGEST_TAG,
    copy_version,
    files_digest,
    read_model_files,
    vet_version,
)


def record_digest(name: str, version: str) -> str:
    """Record a registered version's artifact digest as its ``artifact_sha256`` tag (shown in its
    model card); the version's files are downloaded and digested, nothing is unpickled. The tag is
    information: what vouches for the files is the signature."""
    with tempfile.TemporaryDirectory(prefix="resilience-vetting-") as tmp:
        digest = files_digest(read_model_files(name, str(version), Path(tmp)))
    MlflowClient().set_model_version_tag(name, str(version), DIGEST_TAG, digest)
    return digest


def sign_version(
    name: str,
    version: str,
    private_key,
    by: str,
    reason: str,
    trusted_keys: str | None = None,
    new_card: bool = False,
) -> signing.Statement:
    """Sign a registered version as it is now (after a person reviewed it): its identity is
    computed from its files, card and evidence, each read once; nothing is unpickled.

    Refused when it has no model card documents, when its files differ from the digest recorded
    at registration, or when a trusted signature it already carries vouches for something else
    (re-signing must not launder a change): what changed is named. ``new_card``: the card was
    just regenerated from the checked version (``resilience-card``), so only the card may differ.
    """
    info = model_version_info(f"models:/{name}/{version}")
    who = f"model {name} version {version} in {registry_label()}"
    with tempfile.TemporaryDirectory(prefix="resilience-vetting-") as tmp:
        identity = copy_version(info, Path(tmp)).identity
    if not identity.card_sha256:
        raise ResilienceError(
            f"{who} has no model card documents (model_card/ of run {info['run_id']}); generate "
            f"them first (resilience-card model_uri=models:/{name}/{version}), then sign"
        )
    recorded = info["tags"].get(DIGEST_TAG)
    # A card regenerated (new_card) is of a version just vetted against its signature, which
    # vouches for its files: the registration tag, which anyone who can write the registry can
    # edit, must not then stop the signature of a card already logged (the version would no
    # longer load). What changed since that signature is still refused below.
    if recorded and recorded != identity.artifact_sha256 and not new_card:
        raise ResilienceError(
            f"{who}: its files do not match the digest recorded at registration "
            f"({identity.artifact_sha256[:12]}... != {recorded[:12]}...): they changed after "
            "registration; not signed. Restore them from backup or register a new version"
        )
    trusted_file = signing.trusted_keys_path(trusted_keys)
    trusted = signing.trusted_keys(trusted_file) if trusted_file.is_file() else {}
    earlier = _earlier_signature(info["tags"], identity, trusted, new_card)
    if earlier:
        raise ResilienceError(
            f"{who} was signed before and has changed since ({earlier}); not signed again. "
            "Restore it from backup or register a new version"
        )
    statement = signing.sign(identity, private_key, by, reason)
    MlflowClient().set_model_version_tag(name, str(version), statement.tag, statement.to_tag())
    return statement


def _earlier_signature(
    tags: Mapping[str, str], identity: signing.Identity, trusted, new_card: bool
) -> str:
    """What differs from the identity an earlier trusted signature vouched for (the card left out
    when it was just regenerated); empty when nothing does or there is none (a signature tag that
    does not verify vouches for nothing)."""
    found, _ = signing.statements(dict(tags))
    for statement in signing.valid_statements(found, trusted):
        signed = replace(statement.identity, card_sha256=identity.card_sha256)
        changed = identity.differences(signed if new_card else statement.identity)
        if changed:
            return "; ".join(changed)
    return ""


def signature_in_force(
    name: str, version: str, trusted_keys: str | None = None
) -> signing.Statement | None:
    """The trusted signature a version's files, card and evidence match now (checked on a private
    copy, nothing unpickled); None when it carries no signature at all. A signature that does not
    verify or no longer matches is an :class:`~resilience.tracking.vetting.UnvettedModel` error."""
    info = model_version_info(f"models:/{name}/{version}")
    if not signing.statements(info["tags"])[0]:
        return None
    with tempfile.TemporaryDirectory(prefix="resilience-vetting-") as tmp:
        return vet_version(f"models:/{name}/{version}", Path(tmp), trusted_keys)[1].statement


def signed_versions_of_run(run_id: str | None, besides: tuple[str, str]) -> list[str]:
    """The registered versions made from run ``run_id``, other than ``besides`` (name, version),
    that carry a signature (readable or not): the model card documents of a run (its
    ``model_card/``) are covered by the signature of every version made from it."""
    if not run_id:
        return []
    found = MlflowClient().search_model_versions(f"run_id = '{run_id}'")
    return [
        f"{v.name} version {v.version}"
        for v in found
        if (v.name, str(v.version)) != (besides[0], str(besides[1]))
        and any(t.startswith(signing.SIGNATURE_TAG_PREFIX) for t in (v.tags or {}))
    ]
