"""resilience-report: rebuild a scored week's report (HTML and PDF) from its folder."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from resilience.cli._app import hydra_app
from resilience.errors import ResilienceError, os_error_message
from resilience.report import build_report
from resilience.score import check_week_folder
from resilience.weeks import find_previous_week, week_folder


@hydra_app("report")
def main(cfg: DictConfig) -> None:
    folder = week_folder(cfg.output_root, cfg.week)
    if not (folder / "scores.parquet").is_file():
        raise ResilienceError(f"week {cfg.week} has not been scored: no {folder / 'scores.parquet'}")
    check_week_folder(folder)  # a damaged file is named before any rendering starts
    try:
        html, pdf = build_report(folder, find_previous_week(folder), marking=cfg.marking,
                                 max_detail_lines=cfg.max_detail_lines)
    except OSError as exc:
        raise ResilienceError(os_error_message(exc, f"cannot write the report of week {cfg.week}")) from exc
    print(f"wrote {html}\nwrote {pdf}")


if __name__ == "__main__":
    main()
