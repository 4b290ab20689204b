"""Commander reports: the weekly HTML + PDF report built from a scored week folder.

>>> from resilience.report import build_report  # doctest: +SKIP
>>> html_path, pdf_path = build_report(week_dir, previous_dir)  # doctest: +SKIP
"""
from resilience.report.render import (
    DEFAULT_MARKING,
    PdfRendererUnavailable,
    ReportError,
    WeekInputs,
    build_report,
    change_since_last_week,
    load_week,
    render_html,
    render_pdf,
    report_context,
)

__all__ = [
    "DEFAULT_MARKING",
    "PdfRendererUnavailable",
    "ReportError",
    "WeekInputs",
    "build_report",
    "change_since_last_week",
    "load_week",
    "render_html",
    "render_pdf",
    "report_context",
]
