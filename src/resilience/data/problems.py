"""A broken rule as a :class:`~resilience.core.errors.Problem`: the file, the column, the first
offending rows (numbered from 1 after the header) and their values as the file has them. Every
check of an extract (:mod:`.validate`, :mod:`.text_checks`, :mod:`.line_checks`) builds its
problems here, so they read alike."""

from __future__ import annotations

import unicodedata

import pandas as pd

from resilience.core.errors import Problem
from resilience.data.parse import is_missing

MAX_ROWS_SHOWN = 5


def row_problem(
    source: str,
    column: str | None,
    rule: str,
    expected: str,
    index: pd.Index,
    values: pd.Series | None = None,
    severity: str = "error",
) -> Problem:
    """A problem naming the rows ``index`` (0-based row labels, shown 1-based; the first
    :data:`MAX_ROWS_SHOWN` in the order given) and their ``values``."""
    index = pd.Index(index).unique()
    shown = index[:MAX_ROWS_SHOWN]
    vals = tuple("" if values is None else shown_value(values.loc[i]) for i in shown)
    return Problem(
        source, column, rule, expected, tuple(int(i) + 1 for i in shown), vals, len(index), severity
    )


def shown_value(value: object) -> str:
    """A cell as a message shows it: empty for a missing value, at most 40 characters."""
    text = "" if is_missing(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def character_name(ch: str) -> str:
    """``U+200B ZERO WIDTH SPACE``: a character as a message names it."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"
