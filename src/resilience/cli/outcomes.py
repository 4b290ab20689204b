"""resilience-outcomes: realised performance of each scored week, logged to MLflow."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs, typed
from resilience.core.week_files import OUTCOMES_CSV, OUTCOMES_FAIRNESS_CSV, OUTCOMES_PARQUET


@hydra_app("outcomes")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.governance.fairness import FLAGGED
    from resilience.governance.outcome_fairness import FairnessSettings
    from resilience.pipelines.outcomes import record_outcomes

    _, tracking = tracking_configs(cfg)
    outcomes = record_outcomes(
        cfg.input,
        cfg.output_root,
        tracking,
        cfg.experiment,
        cfg.capacity_k,
        cfg.min_rows,
        typed(FairnessSettings, cfg.fairness),
        cfg.as_of,
    )
    root = Path(cfg.output_root)
    print(outcomes.realised.to_string(index=False))
    print(
        f"written to {root / OUTCOMES_CSV} (each week on every outcome known so far, "
        f"{len(outcomes.known):,}, not only this extract's) and logged to MLflow experiment "
        f"'{cfg.experiment}'"
    )
    print(
        f"{root / OUTCOMES_PARQUET}: {len(outcomes.known):,} disruption outcome(s) with their last "
        f"estimate ({outcomes.added:,} new)"
        + (
            f"; {outcomes.unmatched:,} labelled disruption(s) of {cfg.input} were scored in no "
            "week and are left out"
            if outcomes.unmatched
            else ""
        )
    )
    flagged = outcomes.fairness[outcomes.fairness["flag"].isin(FLAGGED)]
    for row in flagged.to_dict("records"):
        print(
            f"fairness flag, model {row['model']} in use: {row['slice']} = {row['value']} "
            f"{row['flag']} by {abs(row['calibration_gap']) * 100:.1f} points (adjusted interval "
            f"{row['flag_interval_low'] * 100:+.1f} to {row['flag_interval_high'] * 100:+.1f})"
        )
    print(
        f"{root / OUTCOMES_FAIRNESS_CSV}: the fairness check of each model in use "
        f"({len(flagged)} group(s) flagged)"
    )


if __name__ == "__main__":
    main()
