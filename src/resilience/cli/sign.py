"""resilience-sign: sign a registered version after a person has reviewed it, or create the
registration key (see :mod:`resilience.tracking.signing`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.errors import ResilienceError
from resilience.tracking import signing

if TYPE_CHECKING:
    from resilience.tracking.store import TrackingConfig


def _new_key(tracking: TrackingConfig, comment: str | None) -> None:
    private = signing.private_key_path(tracking.signing_key)
    trusted = signing.trusted_keys_path(tracking.trusted_keys)
    note = comment or f"registration key created {datetime.now(UTC):%Y-%m-%d}"
    key_id, created = signing.new_key_pair(private, trusted, note)
    if created:
        print(f"created registration key {key_id} at {private} (readable by its owner only)")
    else:
        print(f"a registration key already exists at {private} (key {key_id}); it was kept")
    print(
        f"key {key_id} is trusted in {trusted}: copy that file (never the private key) to scoring hosts"
    )


@hydra_app("sign")
def main(cfg: DictConfig) -> None:
    # MLflow loads once the config is known to be good: --help and a bad one take a second
    from resilience.tracking import registration, store

    _, tracking = tracking_configs(cfg)
    if cfg.new_key:
        _new_key(tracking, cfg.comment)
        return
    missing = [k for k in ("version", "by", "reason") if not cfg.get(k)]
    if missing:
        raise ResilienceError(
            f"missing {', '.join(missing)}: e.g. resilience-sign version=3 by=<role> "
            'reason="what was reviewed" (or new_key=true to create the registration key)'
        )
    store.connect(tracking)
    store.check_store()  # a typo'd sqlite:/// path is refused, never created
    key = signing.load_private_key(signing.private_key_path(tracking.signing_key))
    name, version = tracking.registered_model_name, str(cfg.version)
    statement = registration.sign_version(
        name, version, key, str(cfg.by), str(cfg.reason), tracking.trusted_keys
    )
    identity = statement.identity
    print(
        f"signed {name} version {version} with key {statement.key_id}: files "
        f"{identity.artifact_sha256[:12]}..., model card {identity.card_sha256[:12]}..., "
        f"{len(identity.evidence_sha256)} evidence file(s); reviewed by {statement.by}"
    )
    trusted_file = signing.trusted_keys_path(tracking.trusted_keys)
    if statement.key_id not in (
        signing.trusted_keys(trusted_file) if trusted_file.is_file() else {}
    ):
        print(
            f"warning: key {statement.key_id} is not in the trusted list {trusted_file}: hosts "
            "that use that list refuse this version until the key's public line is added"
        )


if __name__ == "__main__":
    main()
