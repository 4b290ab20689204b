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
    if cfg.rollback:
        version = registry.rollback_champion(config.registered_model_name, cfg.reason, cfg.by)
        print(f"rolled back: {config.registered_model_name} version {version} is champion again")
    else:
        registry.promote_explicitly(
            config.registered_model_name, str(cfg.version), cfg.reason, cfg.by
        )
        print(f"{config.registered_model_name} version {cfg.version} is now champion")


if __name__ == "__main__":
    main()
