"""Reading raw cells as the data contract's types: text, numbers, yes/no and dates, with the rows
that did not parse (:func:`parse_column`), and what counts as an empty cell."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from resilience.data.contract import ColumnSpec

# A date cell as a whole: YYYY-MM-DD, optionally with a time and a time zone (whose day is kept
# as written); ``2026-10-05 garbage`` is no date, whatever its first ten characters say
ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?"
    r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?)?"
)
# the first whole day pandas can hold (its nanosecond timestamps start on 1677-09-21 at 00:12)
EARLIEST = pd.Timestamp.min.ceil("D")
# a number as written in decimal, for Python's float where pandas cannot read it
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# the largest whole number a float64 holds exactly: an int column refuses any beyond it
LARGEST_WHOLE = 2**53
TRUE_WORDS = {"true", "1", "1.0", "yes", "t", "y"}
FALSE_WORDS = {"false", "0", "0.0", "no", "f", "n"}


def is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and other containers are values, not missing
        return False


def blank_cells(raw: pd.Series) -> pd.Series:
    """True where a raw value is empty: NA, or text that is only whitespace."""
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        return raw.isna() | raw.astype(str).str.strip().eq("")
    return raw.isna()


def _text(raw: pd.Series, spec: ColumnSpec, blank: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text and category columns: kept as written (categories stripped); nothing fails."""
    text = raw.astype(object).where(~blank, None)
    text = text.map(
        lambda v: v if v is None else str(v).strip() if spec.dtype == "category" else str(v)
    )
    if spec.dtype == "category":
        return text.astype("category"), pd.Series(False, index=raw.index)
    return text, pd.Series(False, index=raw.index)


def _as_numbers(raw: pd.Series, blank: pd.Series) -> pd.Series:
    """The cells as floats (text parsed; NaN where a cell is not a number)."""
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(float)
    source = (
        raw.astype(str).str.strip().where(~blank, None)
        if raw.dtype == object or pd.api.types.is_string_dtype(raw)
        else raw
    )
    numbers = pd.to_numeric(source, errors="coerce").astype(float)
    # pandas gives NaN, not infinity, for a well-written number beyond float range ("1e400")
    overflow = numbers.isna() & ~blank
    if overflow.any() and source.dtype == object:
        text = source[overflow].astype(str)
        text = text[text.str.fullmatch(DECIMAL, na=False)]
        if not text.empty:
            numbers.loc[text.index] = text.map(float).astype(float)
    return numbers


def _number(raw: pd.Series, spec: ColumnSpec, blank: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole and decimal numbers: text parsed, infinities and fractions of a whole number refused;
    a column of dates or durations (Parquet) is no number, never its count of microseconds."""
    if pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_timedelta64_dtype(raw):
        return pd.Series(np.nan, index=raw.index), raw.notna()
    numbers = _as_numbers(raw, blank)
    bad = numbers.isna() & ~blank
    bad |= np.isinf(numbers.fillna(0))
    if spec.dtype == "int":
        bad |= numbers.notna() & ((numbers % 1 != 0) | (numbers.abs() > LARGEST_WHOLE))
        numbers = numbers.where(~bad)
        if not numbers.isna().any():
            return numbers.astype("int64"), bad
        return numbers.round().astype("Int64"), bad
    return numbers.where(~bad), bad


def _boolean(raw: pd.Series, spec: ColumnSpec, blank: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Yes/no columns: true/false, 1/0, yes/no, t/f, y/n in any case."""
    if pd.api.types.is_bool_dtype(raw):
        typed = raw.astype("boolean")
        return (typed.astype(bool) if not typed.isna().any() else typed), pd.Series(
            False, index=raw.index
        )
    words = raw.astype(str).str.strip().str.lower()
    typed = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    typed[words.isin(TRUE_WORDS) & ~blank] = True
    typed[words.isin(FALSE_WORDS) & ~blank] = False
    bad = typed.isna() & ~blank
    if not typed.isna().any():
        typed = typed.astype(bool)
    return typed, bad


def wall_clock(dates: pd.Series) -> pd.Series:
    """Datetimes as their own wall-clock time: a zoned one loses its zone, never moves a day."""
    return dates.dt.tz_localize(None) if getattr(dates.dt, "tz", None) is not None else dates


def _date(raw: pd.Series, spec: ColumnSpec, blank: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates written YYYY-MM-DD, alone or with a time (:data:`ISO_DATE`; the time is ignored, so
    time zones never move a day)."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        # a Parquet date may lie outside pandas' range (1677-09-22 to 2262-04-11): after it is a
        # date in the future, as in text; before it is refused (validate: early_dates)
        dates = wall_clock(raw).dt.normalize()
        early = (dates < EARLIEST).fillna(False).astype(bool)
        beyond = (dates > pd.Timestamp.max).fillna(False).astype(bool)
        dates = dates.where(~beyond, pd.Timestamp.max.normalize()).where(~early)
        return dates.astype("datetime64[ns]"), early
    text = raw.astype(str).str.strip().where(~blank, None)
    # the calendar day as written (YYYY-MM-DD...), so time zones never move a date
    day = text.str.slice(0, 10)
    dates = pd.to_datetime(day, errors="coerce", format="%Y-%m-%d")
    looks_iso = text.str.fullmatch(ISO_DATE, na=False).astype(bool)
    dates = dates.where(looks_iso)
    bad = dates.isna() & ~blank
    # a well-formed date beyond pandas' range (after 2262) is a date in the future, not a wrong type
    beyond = bad & looks_iso & (day > "2262")
    dates = dates.where(~beyond, pd.Timestamp.max.normalize())
    bad &= ~beyond
    return dates.astype("datetime64[ns]"), bad


def early_dates(raw: pd.Series) -> pd.Series:
    """Where a date is well written but before :data:`EARLIEST`, the first day the toolkit can
    hold: a date out of range, not a wrong type."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return (wall_clock(raw) < EARLIEST).fillna(False).astype(bool)
    text = raw.astype(str).str.strip()
    looks_iso = text.str.fullmatch(ISO_DATE, na=False).astype(bool)
    return looks_iso & (text.str.slice(0, 10) < EARLIEST.strftime("%Y-%m-%d"))


def written_as_dates(raw: pd.Series) -> pd.Series:
    """Where a cell is written as an ISO date (:data:`ISO_DATE`), whether or not the calendar has
    that day: ``2026-02-29`` and ``2024-13-45`` are no such day, not a wrong type."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return pd.Series(True, index=raw.index)
    return raw.astype(str).str.strip().str.fullmatch(ISO_DATE, na=False).astype(bool)


def huge_numbers(raw: pd.Series, spec: ColumnSpec) -> pd.Series:
    """Where a number column's cell is a number, but infinite (``inf``, ``1e400``) or, in a whole
    number column, beyond :data:`LARGEST_WHOLE`: a number out of range, not a wrong type."""
    types = pd.api.types
    if spec.dtype not in ("int", "float") or (
        types.is_datetime64_any_dtype(raw) or types.is_timedelta64_dtype(raw)
    ):
        return pd.Series(False, index=raw.index)
    numbers = _as_numbers(raw, blank_cells(raw)).abs()
    limit = LARGEST_WHOLE if spec.dtype == "int" else np.inf
    return (np.isinf(numbers) | (numbers > limit)).fillna(False).astype(bool)


_PARSERS = {
    "string": _text,
    "text": _text,
    "category": _text,
    "int": _number,
    "float": _number,
    "bool": _boolean,
    "date": _date,
}


def parse_column(raw: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, pd.Series]:
    """One raw column typed as its spec says: (typed values, mask of rows that did not parse)."""
    if spec.dtype not in _PARSERS:
        raise AssertionError(f"unhandled dtype {spec.dtype}")  # contract.check() rules this out
    return _PARSERS[spec.dtype](raw, spec, blank_cells(raw))
