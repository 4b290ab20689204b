"""The report command's pipeline: rebuild a scored week's briefing from its folder, with the
decisions recorded since it was scored."""

from __future__ import annotations

from pathlib import Path

from resilience.core.errors import ResilienceError, os_error_message
from resilience.core.week_files import ANNEX_HTML, SCORES_PARQUET
from resilience.core.weeks import find_previous_week, week_folder
from resilience.governance import decisions
from resilience.report import ReportSettings, build_report
from resilience.report.drift_page import write_drift_page
from resilience.weekly.score import check_week_folder


def rebuild_report(
    output_root: str | Path,
    week: str,
    settings: ReportSettings,
    decision_log: str | Path | None = None,
) -> tuple[Path, Path, Path]:
    """``report.html``, ``report.pdf`` and ``annex.html`` of a scored week, rebuilt."""
    folder = week_folder(output_root, week)
    if not (folder / SCORES_PARQUET).is_file():
        raise ResilienceError(f"week {week} has not been scored: no {folder / SCORES_PARQUET}")
    check_week_folder(folder)  # a damaged file is named before any rendering starts
    previous = find_previous_week(folder)
    # decisions recorded since scoring (about last week's lines) are read afresh from the log
    recorded = (
        decisions.decisions_for_week(decision_log, previous.name)
        if previous is not None and decision_log and Path(decision_log).is_file()
        else None
    )
    try:
        write_drift_page(folder)  # the trust section links to it
        html, pdf = build_report(folder, previous, settings, decisions=recorded)
    except OSError as exc:
        raise ResilienceError(
            os_error_message(exc, f"cannot write the report of week {week}")
        ) from exc
    return html, pdf, folder / ANNEX_HTML
