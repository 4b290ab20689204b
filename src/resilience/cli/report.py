"""resilience-report: rebuild a scored week's briefing (HTML, PDF and annex) from its folder."""

from __future__ import annotations

from omegaconf import DictConfig

from resilience.cli._app import hydra_app


@hydra_app("report")
def main(cfg: DictConfig) -> None:
    # the library loads once the config is known to be good: a bad one is refused within a second
    from resilience.core.week_files import MANIFEST, WeekManifest
    from resilience.pipelines.report import rebuild_report
    from resilience.report import ReportSettings
    from resilience.report.trust import decision_log_line

    settings = ReportSettings(
        marking=cfg.marking,
        capacity=cfg.get("capacity"),
        max_detail_lines=cfg.max_detail_lines,
        protect_lines=cfg.get("protect_lines", ReportSettings.protect_lines),
        board_lines=cfg.get("board_lines", ReportSettings.board_lines),
        decision_lines=cfg.get("decision_lines", ReportSettings.decision_lines),
        annex_max_rows=cfg.get("annex_max_rows", ReportSettings.annex_max_rows),
    )
    html, pdf, annex = rebuild_report(cfg.output_root, cfg.week, settings, cfg.get("decision_log"))
    print(f"wrote {html}\nwrote {pdf}\nwrote {annex}")
    log_line = decision_log_line(WeekManifest.read(html.parent / MANIFEST).to_dict())
    if log_line:  # the same line as resilience-score's: what the briefing prints of the log
        print(log_line)


if __name__ == "__main__":
    main()
