"""Rendering: the briefing as one self-contained HTML page (Jinja2, autoescaped, inline CSS and
SVG, no scripts) and the same page as a PDF (WeasyPrint), plus the annex of every line.

:func:`build_report` reads a week folder (:mod:`resilience.report.load`), builds the context
(:mod:`resilience.report.context`) and writes ``report.html``, ``report.pdf`` and ``annex.html``
atomically beside the scores.

Example
-------
>>> html_path, pdf_path = build_report(Path("outputs/weekly/2026-W47"),
...                                    Path("outputs/weekly/2026-W46"))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from resilience.core import week_files
from resilience.core.errors import first_few
from resilience.core.weeks import week_monday
from resilience.data.io import atomic_path, write_text_atomic
from resilience.report.annex import write_annex
from resilience.report.context import ReportSettings, report_context
from resilience.report.errors import PdfRendererUnavailable, ReportError
from resilience.report.load import load_week
from resilience.tactics.brief import recent_review

log = logging.getLogger(__name__)
# WeasyPrint's warning for each character its fonts lack (drawn blank in the PDF)
MISSING_GLYPH = re.compile(
    r'\.notdef glyph rendered for Unicode string unsupported by fonts: "(.*)"'
)


@functools.lru_cache(maxsize=1)
def _environment():
    env = Environment(
        loader=PackageLoader("resilience.report", "templates"),
        autoescape=True,  # every {{ value }} is HTML-escaped, SVG text included
        undefined=StrictUndefined,  # a misspelt key fails loudly instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{int(n):,}"
    return env


def _stylesheet() -> Markup:
    # Our own static file, not data: safe to insert unescaped. Guard against it ever closing <style>.
    css = (
        resources.files("resilience.report")
        .joinpath("static", "report.css")
        .read_text(encoding="utf-8")
    )
    if "</" in css:
        raise ReportError("report.css may not contain '</'")
    return Markup(css)


def render_html(context: Mapping[str, Any]) -> str:
    """The briefing as one self-contained HTML document (inline CSS and SVG, no scripts)."""
    return _environment().get_template("report.html.j2").render(**context, stylesheet=_stylesheet())


def _weasyprint():
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango/Cairo libraries are missing
        raise PdfRendererUnavailable(
            "cannot make the PDF report: WeasyPrint is not usable here "
            f"({exc}). Install it with `pip install weasyprint` (it needs the Pango library, "
            "Debian package libpango-1.0-0)."
        ) from exc
    return weasyprint


def render_pdf(html: str, target: Path) -> Path:
    """Render the report HTML to PDF with WeasyPrint, fetching nothing from outside the document."""
    weasyprint = _weasyprint()
    try:
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(allowed_protocols={"data"})
    except (ImportError, TypeError):  # older WeasyPrint: a plain function fetcher
        from weasyprint import default_url_fetcher

        def fetcher(url, *args, **kwargs):
            if not url.startswith("data:"):
                raise ValueError(f"the report may not load {url!r}")
            return default_url_fetcher(url, *args, **kwargs)

    with atomic_path(target) as tmp, _missing_glyphs() as missing:
        weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf(tmp)
    if missing:
        log.warning(
            "the PDF shows %d character(s) its fonts lack as blanks (%s); the HTML report shows them",
            len(missing),
            first_few(missing, 10, " "),
        )
    return Path(target)


@contextmanager
def _missing_glyphs() -> Iterator[list[str]]:
    """WeasyPrint warns once per character its fonts lack (an emoji in a line's text can make
    dozens of lines): collected here, each character once, for one warning instead."""
    found: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        match = MISSING_GLYPH.search(record.getMessage())
        if match is None:
            return True
        if match.group(1) not in found:
            found.append(match.group(1))
        return False

    logger = logging.getLogger("weasyprint")
    logger.addFilter(keep)
    try:
        yield found
    finally:
        logger.removeFilter(keep)


def build_report(
    week_dir: Path,
    previous_dir: Path | None,
    settings: ReportSettings | None = None,
    decisions: list[dict] | None = None,
    **overrides: Any,
) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.pdf`` and ``annex.html`` into ``week_dir``; return the first two.

    ``previous_dir`` is last week's folder (None, or a folder without scores: every line is "new").
    ``decisions`` (from the decision log, when rebuilding) replace the week's ``decisions.json``, so
    decisions recorded after scoring appear. ``overrides`` set :class:`ReportSettings` fields
    (``marking=...``). Raises :class:`PdfRendererUnavailable` before writing anything if WeasyPrint
    cannot run, so a rerun never leaves a new HTML beside an old PDF.
    """
    week_dir = Path(week_dir)
    settings = settings or ReportSettings()
    if overrides:
        settings = ReportSettings(**{**settings.__dict__, **overrides})
    _weasyprint()
    week = load_week(week_dir)
    if decisions is not None:
        week.decisions = list(decisions)
    previous = None
    if previous_dir is not None and (Path(previous_dir) / week_files.SCORES_PARQUET).is_file():
        previous = load_week(Path(previous_dir), previous=True)
    context = report_context(week, previous, settings)
    # a tactics review under a quarter old, shown beside the options (never feeding them)
    sunday = (week_monday(week.name) + pd.Timedelta(days=6)).date()
    context["tactics_review"] = recent_review(settings.tactics_path(), sunday)
    html = render_html(context)
    pdf_path = render_pdf(html, week_dir / week_files.REPORT_PDF)
    write_annex(
        week_dir,
        week.contract,
        context["title"],
        context["marking"],
        settings.annex_max_rows,
        week.manifest.priority,
        week.manifest.playbook,
    )
    html_path = write_text_atomic(week_dir / week_files.REPORT_HTML, html)
    return html_path, pdf_path
