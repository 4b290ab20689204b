"""Every CSV the toolkit writes safe in a spreadsheet: every text field quoted, no cell can start a
formula or break a row, whatever text reached it.

``scores.csv`` (:mod:`resilience.weekly.chunks`), the tables beside the week folders
(``outcomes.csv``, ``outcomes_fairness.csv``: :func:`resilience.data.io.write_frame_atomic`) and the
tables a run logs to MLflow (``tables/*.csv``: :func:`resilience.tracking.runs.log_frame`) are all
written by :func:`append_csv`. It lives here, low in the house, so that every stage can use it.
"""

from __future__ import annotations

import csv
import re
import unicodedata

import pandas as pd


def append_csv(handle, frame: pd.DataFrame, header: bool) -> None:
    """Append rows to a CSV: every text field (and, with ``header``, every column name) quoted and
    through :func:`csv_safe`; numbers and booleans as they are (``-0.03`` in a numeric column stays
    a number), so no cell can start a formula or break a row."""
    safe = frame.copy()
    for column in safe.columns:
        series = safe[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            safe[column] = series.astype(object).map(csv_safe)
    names = [csv_safe(str(c)) for c in safe.columns] if header else False
    safe.to_csv(
        handle, index=False, header=names, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC
    )


# Characters that would end a CSV row for some reader (CR, LF, the Unicode line and paragraph
# separators), other controls, and bidirectional overrides: none may reach a CSV.
_CSV_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# What a spreadsheet reads as the start of a formula (after NFKC folding: fullwidth ＝ is =).
_FORMULA_START = frozenset("=+-@\u2212")


def csv_safe(value: object) -> object:
    """Make a text cell inert in a spreadsheet and unable to break a CSV row.

    * control characters, line/paragraph separators and bidi overrides become U+FFFD (validation
      already refuses them in ids and text, so this only guards text made later);
    * a cell whose first visible character, after any leading whitespace, control, format or
      no-break characters and after NFKC folding (fullwidth ``＝`` is ``=``), is ``= + - @`` or a
      minus sign gets a leading apostrophe, which spreadsheets show as text.
    """
    if not isinstance(value, str):
        return value
    text = _CSV_BREAKING.sub("\ufffd", value)
    return "'" + text if first_visible(text) in _FORMULA_START else text


def first_visible(text: str) -> str:
    """The first character a spreadsheet would read, NFKC-folded ('' if there is none)."""
    for ch in unicodedata.normalize("NFKC", text):
        if not (
            ch.isspace()
            or ch == "\ufffd"
            or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")
        ):
            return ch
    return ""
