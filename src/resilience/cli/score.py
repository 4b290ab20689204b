"""resilience-score: score a week's extract with the champion model and write the week's folder."""

from __future__ import annotations

import json

from omegaconf import DictConfig, OmegaConf

from resilience import tracking
from resilience.cli._app import hydra_app
from resilience.core.errors import ResilienceError
from resilience.data.io import write_text_atomic
from resilience.governance import decisions
from resilience.weekly.drift import DriftConfig
from resilience.weekly.score import ModelRef, score_week


def _decision_log_anchor(path) -> tuple[dict, list[str]]:
    """The decision log's count and head hash for the manifest (a damaged log is a warning here;
    ``resilience-decide verify=true`` is where it fails)."""
    try:
        anchor = decisions.head(path)
    except ResilienceError as exc:
        return {}, [f"decision log not anchored and last week's decisions not shown: {exc}"]
    return ({"decision_log": anchor} if anchor else {}), []


@hydra_app("score")
def main(cfg: DictConfig) -> None:
    tracking_config = tracking.TrackingConfig(**OmegaConf.to_container(cfg.mlflow, resolve=True))
    tracking.connect(tracking_config)
    tracking.check_store()  # a typo'd sqlite:/// path is refused, never created
    # registry record, model card and artifact digest are checked before anything is unpickled
    model, vetted = tracking.load_persistence_model(
        cfg.model_uri, allow_unregistered=cfg.allow_unregistered
    )
    if vetted.warning:
        print(f"warning: {vetted.warning}")
    # the run's evidence (drift reference, test metrics, fairness) is JSON beside the vetted model
    evidence = tracking.load_evidence(
        f"runs:/{vetted.run_id}/model" if vetted.run_id else cfg.model_uri, model=model
    )
    settings = {
        k: OmegaConf.to_container(cfg, resolve=True)[k]
        for k in ("chunk_rows", "drift", "marking", "report")
    }
    anchor, log_warnings = _decision_log_anchor(cfg.decision_log)

    def after_build(folder, previous):
        # last week's recorded decisions travel with this week, so the report shows them
        if previous is not None and not log_warnings:
            recorded = decisions.decisions_for_week(cfg.decision_log, previous.name)
            write_text_atomic(folder / "decisions.json", json.dumps(recorded, indent=2))
        if cfg.report:
            from resilience.report import build_report

            build_report(folder, previous, marking=cfg.marking)

    warning = "; ".join(filter(None, [vetted.warning, *log_warnings])) or None
    result = score_week(
        cfg.input,
        model,
        ModelRef(
            cfg.model_uri,
            vetted.name,
            vetted.version,
            vetted.run_id,
            vetted.registry,
            vetted.sha256,
            warning,
        ),
        cfg.output_root,
        week=cfg.week,
        overwrite=cfg.overwrite,
        chunk_rows=cfg.chunk_rows,
        drift_config=DriftConfig(**OmegaConf.to_container(cfg.drift, resolve=True)),
        settings=settings,
        after_build=after_build,
        evidence=evidence,
        priority=cfg.get("priority"),
        manifest_extra=anchor,
    )
    if cfg.log_to_mlflow:
        tracking.log_scoring_run(
            tracking_config, cfg.weekly_experiment, result.folder, result.manifest
        )
        if anchor:
            tracking.anchor_decision_log(cfg.weekly_experiment, anchor["decision_log"])
    bands = ", ".join(f"{count} {band}" for band, count in result.band_counts.items())
    print(
        f"scored {result.rows} disruptions for week {result.week} with {vetted.identity}: {bands}"
    )
    if result.alerts:
        print(f"{result.alerts} drift alert(s): see {result.folder / 'drift.json'}")
    print(f"output: {result.folder}")


if __name__ == "__main__":
    main()
