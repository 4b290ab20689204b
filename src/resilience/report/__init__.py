"""The commander's weekly briefing, built from a scored week folder. One job per module:

* :mod:`~resilience.report.load` reads a week folder with bounded memory;
* :mod:`~resilience.report.context` builds the template's context (with :mod:`.first_page` for the
  shortlist, protect list and matrix, :mod:`.changes` for the line board, :mod:`.trust`,
  :mod:`.waterfall` and :mod:`.words`);
* :mod:`~resilience.report.charts` computes inline SVG chart geometry;
* :mod:`~resilience.report.render` renders the HTML (Jinja2) and PDF (WeasyPrint);
* :mod:`~resilience.report.annex` writes the offline, sortable annex of every line.

>>> from resilience.report import build_report  # doctest: +SKIP
>>> html_path, pdf_path = build_report(week_dir, previous_dir)  # doctest: +SKIP
"""

from resilience.report.changes import change_since_last_week
from resilience.report.context import ReportSettings, report_context
from resilience.report.errors import PdfRendererUnavailable, ReportError
from resilience.report.load import WeekData, load_week
from resilience.report.render import build_report, render_html, render_pdf
from resilience.report.words import DEFAULT_MARKING

__all__ = [
    "DEFAULT_MARKING",
    "PdfRendererUnavailable",
    "ReportError",
    "ReportSettings",
    "WeekData",
    "build_report",
    "change_since_last_week",
    "load_week",
    "render_html",
    "render_pdf",
    "report_context",
]
