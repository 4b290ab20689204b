"""resilience-outcomes: realised performance of each scored week, logged to MLflow."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from resilience import tracking
from resilience.cli._app import hydra_app
from resilience.core.errors import ResilienceError
from resilience.data.contract import DataContract
from resilience.data.io import read_json, write_frame_atomic
from resilience.governance.known_outcomes import update_outcomes, write_outcomes
from resilience.governance.outcomes import read_labels, realised_metrics
from resilience.weekly import layout


@hydra_app("outcomes")
def main(cfg: DictConfig) -> None:
    root = Path(cfg.output_root)
    contracts = sorted(root.glob("*/contract.json"))
    if not contracts:
        raise ResilienceError(f"no scored weeks under {root}")
    config = tracking.TrackingConfig(**OmegaConf.to_container(cfg.mlflow, resolve=True))
    tracking.connect(config)
    tracking.check_store()  # a typo'd sqlite:/// path is refused, never created
    contract = DataContract.from_dict(read_json(contracts[-1]))
    labels = read_labels(cfg.input, contract)
    table = realised_metrics(root, labels, contract.cohort_column, cfg.capacity_k, cfg.min_rows)
    # per disruption: the outcome against the last estimate (checked for conflicts before writing anything)
    known, added = update_outcomes(root, labels, str(cfg.input))
    write_outcomes(known, root / layout.OUTCOMES_PARQUET)
    write_frame_atomic(table, root / "outcomes.csv")
    tracking.log_outcomes(config, cfg.experiment, table, root / "outcomes.csv")
    print(table.to_string(index=False))
    print(f"written to {root / 'outcomes.csv'} and logged to MLflow experiment '{cfg.experiment}'")
    print(
        f"{root / layout.OUTCOMES_PARQUET}: {len(known):,} disruption outcome(s) with their last estimate "
        f"({added:,} new)"
    )


if __name__ == "__main__":
    main()
