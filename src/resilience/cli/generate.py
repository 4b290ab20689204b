"""resilience-generate: write the seeded synthetic world to data/synthetic/."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.core.paths import synthetic_dir
from resilience.data.contract import DataContract
from resilience.data.synthetic import WorldConfig, generate_world, write_world
from resilience.data.validate import validate_frame


@hydra_app("generate")
def main(cfg: DictConfig) -> None:
    world_config = WorldConfig.from_mapping(OmegaConf.to_container(cfg.world, resolve=True))
    out_dir = Path(cfg.out_dir) if cfg.out_dir else synthetic_dir()
    contract = DataContract.from_dict(cfg.data)
    world = generate_world(world_config)
    # The world must pass the contract it claims to follow before anything is written.
    today = pd.Timestamp(world_config.end_date)
    validate_frame(
        world.history, contract, source="synthetic history", require_label=True, today=today
    )
    for week, extract in world.weekly.items():
        validate_frame(extract, contract, source=f"synthetic weekly extract {week}", today=today)
    # world.json carries the scenario parameters (for model cards) and which columns truly drive
    # persistence and which have no effect (for benchmarks of reasons), written with the rest.
    paths = write_world(world, out_dir)
    label_rate = world.history[contract.label].mean()
    print(
        f"synthetic world (seed {world_config.seed}): {len(world.history)} labelled disruptions, "
        f"{len(world.weekly)} weekly extracts of open disruptions "
        f"({len(world.weekly[max(world.weekly)])} this week), label rate {label_rate:.2f}"
    )
    for path in paths:
        print(f"  wrote {path}")


if __name__ == "__main__":
    main()
