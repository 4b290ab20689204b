"""resilience-promote: explicit promotion or rollback of the champion, recorded on the version."""

from __future__ import annotations

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.errors import ResilienceError


@hydra_app("promote")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.tracking import registry, store

    config = tracking_configs(cfg)[1]
    store.connect(config)
    store.check_store()  # a typo'd sqlite:/// path is refused, never created
    if cfg.rollback == (cfg.version is not None):
        raise ResilienceError("give exactly one of version=<N> or rollback=true")
    name = config.registered_model_name
    plan = registry.rollback_plan(name) if cfg.rollback else None
    target = plan.previous if plan else str(cfg.version)
    # vetted first, the champion too: "already champion" must not pass for one scoring refuses
    _refuse_unvetted(name, target, config.trusted_keys)
    champion = registry.champion_version(name)
    if not cfg.rollback and champion is not None and str(champion.version) == target:
        # promoting the champion again changes nothing: its recorded decision stands
        decision = (champion.tags or {}).get("promotion.decision", "unrecorded")
        print(
            f"{name} version {target} is already champion; nothing changed (decision: {decision})"
        )
        return
    if cfg.rollback:
        version = registry.rollback_champion(name, cfg.reason, cfg.by, plan)
        passed = (
            f" (passed over deleted version(s) {', '.join(plan.deleted)})" if plan.deleted else ""
        )
        print(f"rolled back: {name} version {version} is champion again{passed}")
    else:
        registry.promote_explicitly(
            config.registered_model_name, str(cfg.version), cfg.reason, cfg.by
        )
        print(f"{config.registered_model_name} version {cfg.version} is now champion")


def _refuse_unvetted(name: str, version: str, trusted_keys: str | None) -> None:
    """Only a version scoring would accept becomes champion: signed by a trusted key, its files as
    signed (checked without unpickling anything); otherwise the champion stays as it is."""
    import tempfile
    from pathlib import Path

    from resilience.tracking import vetting

    with tempfile.TemporaryDirectory(prefix="resilience-promote-") as tmp:
        try:
            vetting.vet_version(f"models:/{name}/{version}", Path(tmp), trusted_keys)
        except vetting.UnvettedModel as exc:
            # the refusal says what to do (sign it, or restore or register anew when it changed)
            raise ResilienceError(
                f"not promoted: {exc}. Scoring would refuse it, so the champion is unchanged"
            ) from None


if __name__ == "__main__":
    main()
