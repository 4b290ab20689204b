"""resilience-card: regenerate a version's model card, ATRS record and ALGO-CARE checklist.

The card is part of what a version's signature covers, so a signed version is vetted first (its
signature and the digests of its files, card and evidence; nothing is unpickled) and signed again
afterwards with the registration key: this runs where models are registered."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.errors import ResilienceError


@hydra_app("card")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: --help and a bad one take a second
    from resilience.data.io import write_text_atomic
    from resilience.governance.card import publish
    from resilience.tracking import registration, registry, signing, store

    tracking = tracking_configs(cfg)[1]
    store.connect(tracking)
    store.check_store()  # a typo'd sqlite:/// path is refused, never created
    if not str(cfg.model_uri).startswith("models:/"):
        raise ResilienceError(
            f"a model card belongs to a registered version; give models:/<name>/<N>, "
            f"models:/<name>@<alias> or models:/m-<id>, not {cfg.model_uri!r}"
        )
    info = registry.model_version_info(cfg.model_uri)  # the registry record: nothing is unpickled
    name, version = info["name"], info["version"]
    shared = registration.signed_versions_of_run(info["run_id"], besides=(name, version))
    if shared:  # a card lives in its run: the other versions' signatures cover it too
        raise ResilienceError(
            f"not regenerated: the model card of {name} version {version} is model_card/ of run "
            f"{info['run_id']}, which is also the signed card of {', '.join(shared)}: a new card "
            "would make scoring refuse them. Nothing was changed; register this version from a "
            "run of its own (resilience-train) to give it its own card"
        )
    statement = registration.signature_in_force(name, version, tracking.trusted_keys)
    key = (
        signing.load_private_key(signing.private_key_path(tracking.signing_key))
        if statement
        else None
    )
    out_dir = Path(cfg.out_dir) if cfg.out_dir else None
    if out_dir:  # a folder that cannot be made fails before the card is logged and signed again
        out_dir.mkdir(parents=True, exist_ok=True)
    documents = publish(
        name,
        version,
        OmegaConf.to_container(cfg.governance, resolve=True),
        # the card states the digest of the files as vetted, not the editable registration tag
        statement.identity.artifact_sha256 if statement else None,
    )
    print(f"model card for {name} version {version} logged to run {info['run_id']} (model_card/)")
    if statement is None:
        print(
            f"note: version {version} is not signed, so nothing loads it; once reviewed, sign it: "
            f'resilience-sign version={version} by=<role> reason="..."'
        )
    else:
        signed = registration.sign_version(
            name,
            version,
            key,
            "resilience-card",
            f"model card regenerated; reviewed earlier by {statement.by}: {statement.reason}",
            tracking.trusted_keys,
            new_card=True,
        )
        print(f"signed version {version} again with key {signed.key_id} (its card changed)")
    if out_dir:
        for name, text in documents.items():
            print(f"  wrote {write_text_atomic(out_dir / name, text)}")


if __name__ == "__main__":
    main()
