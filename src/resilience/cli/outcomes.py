"""resilience-outcomes: realised performance of each scored week, logged to MLflow."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.week_files import OUTCOMES_CSV, OUTCOMES_PARQUET


@hydra_app("outcomes")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.pipelines.outcomes import record_outcomes

    _, tracking = tracking_configs(cfg)
    outcomes = record_outcomes(
        cfg.input, cfg.output_root, tracking, cfg.experiment, cfg.capacity_k, cfg.min_rows
    )
    root = Path(cfg.output_root)
    print(outcomes.realised.to_string(index=False))
    print(f"written to {root / OUTCOMES_CSV} and logged to MLflow experiment '{cfg.experiment}'")
    print(
        f"{root / OUTCOMES_PARQUET}: {len(outcomes.known):,} disruption outcome(s) with their last "
        f"estimate ({outcomes.added:,} new)"
    )


if __name__ == "__main__":
    main()
