"""resilience-decide: append a signed decision to the log, or verify the log against its anchors."""

from __future__ import annotations

import sys

from omegaconf import DictConfig, ListConfig

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs
from resilience.core.errors import ResilienceError

# The decision log's libraries (MLflow among them) load inside the functions, once the config is
# known to be good: --help and a config error take a fraction of a second, as for every command.


def _mlflow(cfg: DictConfig) -> str | None:
    """Connect to the configured store for anchors; None when anchoring there is off."""
    from resilience.tracking import store

    if not cfg.anchor_in_mlflow:
        return None
    store.connect(tracking_configs(cfg)[1])
    store.check_store()
    return cfg.anchor_experiment


def _anchor_in_mlflow(cfg: DictConfig, key: bytes) -> int:
    """Write every anchor of the log that MLflow lacks, and their seal; returns how many."""
    from resilience.governance import anchors, decisions
    from resilience.tracking import weekly_runs

    experiment = _mlflow(cfg)
    log_id, every = decisions.log_anchors(cfg.log_path, key)
    if not experiment or not log_id:
        return 0
    plain = [{k: v for k, v in a.items() if k != "week"} for a in every]
    return weekly_runs.write_experiment_tags(experiment, anchors.mlflow_tags(key, log_id, plain))


def _heads(value) -> list[str]:
    """``head=<hash>`` or ``head=[<hash>,<hash>]``: head hashes printed in briefings."""
    if value is None:
        return []
    items = list(value) if isinstance(value, ListConfig | list | tuple) else str(value).split(",")
    return [str(h).strip() for h in items if str(h).strip()]


def _verify(cfg: DictConfig, key: bytes) -> None:
    from resilience.governance import anchors, decision_checks
    from resilience.tracking import weekly_runs

    mlflow_place = None
    try:
        experiment = _mlflow(cfg)
        if experiment:
            tags = weekly_runs.decision_log_tags(experiment)
            mlflow_place = anchors.mlflow_place(experiment, tags)
    except ResilienceError as exc:
        print(f"note: MLflow anchors not checked: {exc}")
    result = decision_checks.verify(
        cfg.log_path, key, cfg.output_root, mlflow_place, _heads(cfg.head)
    )
    print(result.message)
    if not result.ok:
        raise ResilienceError(f"decision log {cfg.log_path} failed verification: {result.message}")


def confirmation(record: dict) -> str:
    """The one line that says what was recorded: the person's own words escaped
    (:func:`resilience.governance.decisions.shown`), never a second line or a terminal escape."""
    from resilience.governance.decisions import shown

    return (
        f"recorded: {shown(record['by_role'])} decided '{shown(record['decision'])}' for line "
        f"{record['line_id']} ({record['yardstick_band']}, {record['persistence_probability']:.0%}, "
        f"model {record['model']}); record {record['seq']}, head {record['hash']}"
    )


@hydra_app("decide")
def main(cfg: DictConfig) -> None:
    from resilience.core.weeks import week_folder
    from resilience.governance import decisions

    if cfg.verify:
        _verify(cfg, decisions.signing_key(cfg.key_file))
        return
    if cfg.reanchor:
        key = decisions.signing_key(cfg.key_file)
        log_id, every = decisions.reanchor(cfg.log_path, cfg.output_root, key)
        written = _anchor_in_mlflow(cfg, key)
        print(
            f"log {log_id}: the week manifests hold the anchors of its {len(every)} record(s); "
            f"{written} tag(s) written to MLflow"
        )
        return
    missing = [k for k in ("week", "line", "decision", "reason", "by") if not cfg.get(k)]
    if missing:
        raise ResilienceError(
            f"missing {', '.join(missing)}: e.g. resilience-decide week=2026-W47 line=<id> "
            'decision="..." reason="..." by=<role>'
        )
    folder = week_folder(cfg.output_root, cfg.week)  # a real ISO week inside output_root, first
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
    print(confirmation(record))
    try:
        _anchor_in_mlflow(cfg, key)
    except ResilienceError as exc:
        print(
            "warning: the decision is recorded and anchored in the week's manifest, but not in "
            f"MLflow ({exc}); the next decision, or reanchor=true, writes it there",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
