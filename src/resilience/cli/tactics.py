"""resilience-tactics: what works, for which lines. Estimates each tactic's average effect on the
chance that a line persists (overall and per cohort), writes the review (tactics.csv, review.html,
review.json) and logs it to MLflow. Needs the ``tactics`` extra (DoubleML)."""

from __future__ import annotations

from datetime import date

from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import data_config_file, hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.errors import ConfigError
from resilience.data.contract import DataContract
from resilience.tactics.settings import ReviewSettings


def _settings(node) -> ReviewSettings:
    values = OmegaConf.to_container(node, resolve=True)
    for key in ("adjust_describes", "adjust_also", "tactics"):
        values[key] = tuple(values.get(key) or ())
    if values.get("n_jobs") is None:
        values["n_jobs"] = 1
    try:
        return ReviewSettings(**values)
    except TypeError as exc:
        raise ConfigError(f"review: {exc}") from exc


def _pipeline():
    """The review's pipeline, or one clear message when the ``tactics`` extra is not installed."""
    try:
        from resilience.pipelines.tactics import run_tactics_review
    except ModuleNotFoundError as exc:
        if exc.name != "doubleml":
            raise
        raise ConfigError(
            "resilience-tactics needs the `tactics` extra (DoubleML), which the main install leaves "
            "out: pip install -e '.[tactics]' (or make tactics)"
        ) from exc
    return run_tactics_review


@hydra_app("tactics")
def main(cfg: DictConfig) -> None:
    run_tactics_review = _pipeline()
    contract = DataContract.from_dict(cfg.data, source=data_config_file())
    _, tracking = tracking_configs(cfg)
    day = date.fromisoformat(str(cfg.reviewed_on)) if cfg.reviewed_on else None
    run = run_tactics_review(
        cfg.input, contract, _settings(cfg.review), cfg.output_root, tracking, cfg.experiment, day
    )
    overall = run.rows[run.rows["cohort"] == "all"]
    print(
        overall[["tactic", "estimate_points", "ci_low_points", "ci_high_points", "naive_points"]]
        .round(1)
        .to_string(index=False)
    )
    print(
        f"review written to {run.folder} and logged to MLflow experiment '{cfg.experiment}' (run {run.run_id})"
    )


if __name__ == "__main__":
    main()
