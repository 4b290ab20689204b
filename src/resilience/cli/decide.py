"""resilience-decide: append a decision to the log, or verify the log's hash chain."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience import decisions
from resilience.cli._app import hydra_app
from resilience.errors import ResilienceError
from resilience.weeks import week_folder


@hydra_app("decide")
def main(cfg: DictConfig) -> None:
    if cfg.verify:
        result = decisions.verify(cfg.log_path)
        print(result.message)
        if not result.ok:
            raise ResilienceError(f"decision log {cfg.log_path} failed verification: {result.message}")
        return
    missing = [k for k in ("week", "line", "decision", "reason", "by") if not cfg.get(k)]
    if missing:
        raise ResilienceError(f"missing {', '.join(missing)}: e.g. resilience-decide week=2026-W47 line=<id> "
                              "decision=\"...\" reason=\"...\" by=<role>")
    week_folder(cfg.output_root, cfg.week)  # a real ISO week strictly inside output_root, or refused
    record = decisions.append(cfg.log_path, Path(cfg.output_root) / str(cfg.week), str(cfg.line),
                              str(cfg.decision), str(cfg.reason), str(cfg.by))
    print(f"recorded: {record['by_role']} decided '{record['decision']}' for line {record['line_id']} "
          f"({record['yardstick_band']}, {record['persistence_probability']:.0%}, model {record['model']}); "
          f"hash {record['hash'][:12]}")


if __name__ == "__main__":
    main()
