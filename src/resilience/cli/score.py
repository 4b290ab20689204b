"""resilience-score: score a week's extract with the champion model and write the week's folder."""
from __future__ import annotations

import json

from omegaconf import DictConfig, OmegaConf

from resilience import decisions, tracking
from resilience.cli._app import hydra_app
from resilience.data.io import write_text_atomic
from resilience.drift import DriftConfig
from resilience.score import ModelRef, score_week


@hydra_app("score")
def main(cfg: DictConfig) -> None:
    tracking_config = tracking.TrackingConfig(**OmegaConf.to_container(cfg.mlflow, resolve=True))
    tracking.connect(tracking_config)
    info = tracking.model_version_info(cfg.model_uri)
    model, _ = tracking.load_persistence_model(cfg.model_uri)
    tracking.require_model_card(info)
    settings = {k: OmegaConf.to_container(cfg, resolve=True)[k] for k in ("chunk_rows", "drift", "marking", "report")}
    def after_build(folder, previous):
        # last week's recorded decisions travel with this week, so the report shows them
        if previous is not None:
            recorded = decisions.decisions_for_week(cfg.decision_log, previous.name)
            write_text_atomic(folder / "decisions.json", json.dumps(recorded, indent=2))
        if cfg.report:
            from resilience.report import build_report

            build_report(folder, previous, marking=cfg.marking)

    result = score_week(
        cfg.input, model, ModelRef(cfg.model_uri, info["name"], info["version"], info["run_id"]),
        cfg.output_root, week=cfg.week, overwrite=cfg.overwrite, chunk_rows=cfg.chunk_rows,
        drift_config=DriftConfig(**OmegaConf.to_container(cfg.drift, resolve=True)), settings=settings,
        after_build=after_build, evidence=tracking.load_evidence(cfg.model_uri), priority=cfg.get("priority"),
    )
    if cfg.log_to_mlflow:
        tracking.log_scoring_run(tracking_config, cfg.weekly_experiment, result.folder, result.manifest)
    bands = ", ".join(f"{count} {band}" for band, count in result.band_counts.items())
    print(f"scored {result.rows} disruptions for week {result.week} with {info['name']} version {info['version']}: {bands}")
    if result.alerts:
        print(f"{result.alerts} drift alert(s): see {result.folder / 'drift.json'}")
    print(f"output: {result.folder}")


if __name__ == "__main__":
    main()
