"""resilience-report: rebuild a scored week's briefing (HTML, PDF and annex) from its folder."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.core.errors import ResilienceError, os_error_message
from resilience.core.weeks import find_previous_week, week_folder
from resilience.governance import decisions as decision_log
from resilience.report import ReportSettings, build_report
from resilience.weekly.score import check_week_folder


@hydra_app("report")
def main(cfg: DictConfig) -> None:
    folder = week_folder(cfg.output_root, cfg.week)
    if not (folder / "scores.parquet").is_file():
        raise ResilienceError(
            f"week {cfg.week} has not been scored: no {folder / 'scores.parquet'}"
        )
    check_week_folder(folder)  # a damaged file is named before any rendering starts
    previous = find_previous_week(folder)
    # decisions recorded since scoring (about last week's lines) are read afresh from the log
    recorded = (
        decision_log.decisions_for_week(cfg.decision_log, previous.name)
        if previous is not None and cfg.get("decision_log") and Path(cfg.decision_log).is_file()
        else None
    )
    settings = ReportSettings(
        marking=cfg.marking,
        capacity=cfg.get("capacity"),
        max_detail_lines=cfg.max_detail_lines,
        protect_lines=cfg.get("protect_lines", 15),
        board_lines=cfg.get("board_lines", 10),
        annex_max_rows=cfg.get("annex_max_rows", 50_000),
    )
    try:
        html, pdf = build_report(folder, previous, settings, decisions=recorded)
    except OSError as exc:
        raise ResilienceError(
            os_error_message(exc, f"cannot write the report of week {cfg.week}")
        ) from exc
    print(f"wrote {html}\nwrote {pdf}\nwrote {folder / 'annex.html'}")


if __name__ == "__main__":
    main()
