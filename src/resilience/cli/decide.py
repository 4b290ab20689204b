"""resilience-decide: append a signed decision to the log, or verify the log against its anchors."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.errors import ResilienceError
from resilience.core.weeks import week_folder


def _mlflow(cfg: DictConfig) -> str | None:
    """Connect to the configured store for anchors; None (and why) when anchoring is off or it is unusable."""
    if not cfg.anchor_in_mlflow:
        return None
    from resilience.tracking import store  # the library loads once the config is known to be good

    store.connect(tracking_configs(cfg)[1])
    store.check_store()
    return cfg.anchor_experiment


@hydra_app("decide")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.governance import decisions
    from resilience.tracking import weekly_runs

    if cfg.verify:
        key = decisions.signing_key(cfg.key_file)
        anchors = decisions.week_anchors(cfg.output_root, cfg.log_path)
        try:
            experiment = _mlflow(cfg)
            if experiment:
                anchors += [
                    a
                    for a in weekly_runs.decision_log_anchors(experiment)
                    if a.get("log") == str(Path(cfg.log_path).resolve())
                ]
        except ResilienceError as exc:
            print(f"note: MLflow anchors not checked: {exc}")
        result = decisions.verify(cfg.log_path, key, anchors)
        print(result.message)
        if not result.ok:
            raise ResilienceError(
                f"decision log {cfg.log_path} failed verification: {result.message}"
            )
        return
    missing = [k for k in ("week", "line", "decision", "reason", "by") if not cfg.get(k)]
    if missing:
        raise ResilienceError(
            f"missing {', '.join(missing)}: e.g. resilience-decide week=2026-W47 line=<id> "
            'decision="..." reason="..." by=<role>'
        )
    folder = week_folder(
        cfg.output_root, cfg.week
    )  # a real ISO week strictly inside output_root, first
    key = decisions.signing_key(cfg.key_file)
    record = decisions.append(
        cfg.log_path,
        folder,
        str(cfg.line),
        str(cfg.decision),
        str(cfg.reason),
        str(cfg.by),
        key=key,
    )
    print(
        f"recorded: {record['by_role']} decided '{record['decision']}' for line {record['line_id']} "
        f"({record['yardstick_band']}, {record['persistence_probability']:.0%}, model {record['model']}); "
        f"hash {record['hash'][:12]}"
    )
    try:
        experiment = _mlflow(cfg)
        if experiment:
            weekly_runs.anchor_decision_log(experiment, record["anchor"])
    except ResilienceError as exc:
        print(
            f"warning: the decision is recorded and anchored in the week's manifest, but not in MLflow: {exc}"
        )


if __name__ == "__main__":
    main()
