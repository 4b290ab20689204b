"""resilience-card: regenerate a version's model card, ATRS record and ALGO-CARE checklist."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.errors import ResilienceError


@hydra_app("card")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.data.io import write_text_atomic
    from resilience.governance.card import publish
    from resilience.tracking import registry, store

    store.connect(tracking_configs(cfg)[1])
    store.check_store()  # a typo'd sqlite:/// path is refused, never created
    if not str(cfg.model_uri).startswith("models:/"):
        raise ResilienceError(
            f"a model card belongs to a registered version; give models:/<name>/<N>, "
            f"models:/<name>@<alias> or models:/m-<id>, not {cfg.model_uri!r}"
        )
    info = registry.model_version_info(
        cfg.model_uri
    )  # the registry record only: nothing is unpickled
    documents = publish(
        info["name"], info["version"], OmegaConf.to_container(cfg.governance, resolve=True)
    )
    print(
        f"model card for {info['name']} version {info['version']} logged to run {info['run_id']} (model_card/)"
    )
    if cfg.out_dir:
        for name, text in documents.items():
            print(f"  wrote {write_text_atomic(Path(cfg.out_dir) / name, text)}")


if __name__ == "__main__":
    main()
