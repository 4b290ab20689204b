"""resilience-explore: the line explorer of a scored week (see :mod:`resilience.pipelines.explore`)."""

from __future__ import annotations

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs


@hydra_app("explore")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within seconds
    from resilience.pipelines.explore import check_page_size, explore_week
    from resilience.tracking import store

    check_page_size(int(cfg.lines))  # a setting that cannot work, before the store is opened
    tracking = tracking_configs(cfg)[1]
    store.connect(tracking)
    store.check_store()
    path = explore_week(
        cfg.output_root, str(cfg.week), int(cfg.lines), cfg.decision_log, tracking.trusted_keys
    )
    print(f"line explorer: {path}")


if __name__ == "__main__":
    main()
