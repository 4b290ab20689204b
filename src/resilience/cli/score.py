"""resilience-score: score a week's extract with the champion model and write the week's folder."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs, typed
from resilience.core.week_files import DRIFT


@hydra_app("score")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.pipelines.score import ScoreSettings, load_model, score
    from resilience.report.trust import decision_log_line
    from resilience.weekly.drift import DriftConfig
    from resilience.weekly.shortlist import DrawSettings

    _, tracking = tracking_configs(cfg)
    container = OmegaConf.to_container(cfg, resolve=True)
    settings = ScoreSettings(
        model_uri=cfg.model_uri,
        output_root=cfg.output_root,
        allow_unregistered=cfg.allow_unregistered,
        week=cfg.week,
        overwrite=cfg.overwrite,
        chunk_rows=cfg.chunk_rows,
        drift=typed(DriftConfig, cfg.drift),
        draws=typed(DrawSettings, cfg.draws),
        report=cfg.report,
        marking=cfg.marking,
        priority=cfg.get("priority"),
        playbook=cfg.get("playbook"),
        decision_log=cfg.decision_log,
        keep_extract=cfg.keep_extract,
        keep_extracts_weeks=cfg.keep_extracts_weeks,
        log_to_mlflow=cfg.log_to_mlflow,
        weekly_experiment=cfg.weekly_experiment,
        tracking=tracking,
        recorded={k: container[k] for k in ("chunk_rows", "drift", "draws", "marking", "report")},
    )
    # registry record, model card and artifact digest are checked before anything is unpickled
    champion = load_model(settings)
    if champion.vetted.warning:
        print(f"warning: {champion.vetted.warning}")
    result = score(cfg.input, champion, settings)
    bands = ", ".join(f"{count} {band}" for band, count in result.band_counts.items())
    print(
        f"scored {result.rows} disruptions for week {result.week} with {champion.vetted.identity}: {bands}"
    )
    if result.drift_levels:  # each level by its own name: a warning is not an alert
        found = " and ".join(f"{n} {level}(s)" for level, n in result.drift_levels.items())
        print(f"drift: {found}: see {result.folder / DRIFT}")
    log_line = decision_log_line(result.manifest)  # as the briefing prints it, and the rebuild
    if log_line:
        print(log_line)
    print(f"output: {result.folder}")


if __name__ == "__main__":
    main()
