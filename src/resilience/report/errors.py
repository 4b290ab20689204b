"""The report's errors: a week folder that cannot become a report, and a missing PDF renderer."""

from __future__ import annotations

from resilience.core.errors import ResilienceError


class ReportError(ResilienceError):
    """A week folder that cannot be turned into a report (missing file or column)."""


class PdfRendererUnavailable(ReportError):
    """WeasyPrint (or the Pango library it needs) is not installed, so no PDF can be made."""
