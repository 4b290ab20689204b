"""The contract's per-column checks, run by pandera on a typed extract: nullability, uniqueness,
ranges, allowed categories, dates not after today and ``max_column`` bounds (a value no larger
than another column's in the same row).

The schema is validated lazily, so pandera collects every failure at once; each comes back as a
:class:`SchemaFailure` (column, rule, what was expected, the failing rows), which
:mod:`resilience.data.validate` turns into a problem naming the file and the offending values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd

from resilience.core.errors import first_few, nearest
from resilience.data.contract import ColumnSpec, DataContract


@dataclass(frozen=True)
class SchemaFailure:
    """One failed check: its column, the rule broken, what was expected, the failing row labels."""

    column: str
    rule: str
    expected: str
    rows: pd.Index


def pandera_schema(contract: DataContract, present: list[str], today: pd.Timestamp):
    """The pandera schema of the contract's checks on the columns ``present`` (not coercing)."""
    import pandera.pandas as pa

    columns = {}
    for name in present:
        spec = contract.column(name)
        checks = []
        if spec.min is not None:
            checks.append(pa.Check.ge(spec.min, error="min"))
        if spec.max is not None:
            checks.append(pa.Check.le(spec.max, error="max"))
        if spec.allowed is not None:
            checks.append(pa.Check.isin(list(spec.allowed), error="allowed"))
        if spec.not_future:
            checks.append(pa.Check.le(today, error="not_future"))
        columns[name] = pa.Column(
            checks=checks, nullable=spec.nullable, unique=spec.unique, coerce=False
        )
    frame_checks = []
    for name in present:
        spec = contract.column(name)
        if spec.max_column and spec.max_column in present:
            frame_checks.append(
                pa.Check(
                    lambda d, a=name, b=spec.max_column: d[a].isna() | d[b].isna() | (d[a] <= d[b]),
                    name=f"max_column:{name}:{spec.max_column}",
                )
            )
    return pa.DataFrameSchema(columns=columns, checks=frame_checks, strict=False, coerce=False)


def schema_failures(
    frame: pd.DataFrame,
    contract: DataContract,
    present: list[str],
    skip: dict[str, pd.Series],
    today: pd.Timestamp,
) -> list[SchemaFailure]:
    """Every failure of the schema's checks on the typed ``frame``: the ``max_column`` checks
    first, then each column's in pandera's order (rows in ``skip`` were already reported as the
    wrong type, and are left out)."""
    cases = _failure_cases(frame, contract, present, today)
    if cases is None:
        return []
    # A frame-level check reports each failing row once per column: group it by check alone.
    frame_level = cases["check"].astype(str).str.startswith("max_column:")
    failures = []
    for (column, check), group in cases[~frame_level].groupby(
        ["column", "check"], sort=False, dropna=False
    ):
        index = _failing_rows(group)
        if column not in present:
            continue
        spec = contract.column(column)
        if column in skip:  # values that did not parse were already reported as the wrong type
            index = index[~skip[column].reindex(index, fill_value=False).to_numpy()]
        if len(index) == 0:
            continue
        rule, expected = _rule_and_expected(check, spec, today)
        if check == "allowed":
            expected += _meant(group["failure_case"], spec.allowed or ())
        failures.append(SchemaFailure(column, rule, expected, index))
    # a bound is judged only between two values that pass their own checks: a runners of -3 is
    # one problem, not also a runners_arrested above it
    refused = {f.column: f.rows for f in failures}
    for name, rows in skip.items():
        refused[name] = pd.Index(frame.index[rows.to_numpy()]).union(
            refused.get(name, pd.Index([]))
        )
    return _max_column_failures(cases[frame_level], contract, refused) + failures


def _failure_cases(
    frame: pd.DataFrame, contract: DataContract, present: list[str], today: pd.Timestamp
) -> pd.DataFrame | None:
    """Pandera's failure cases for the contract's schema (all collected, lazily); None if none."""
    import pandera.pandas as pa

    try:
        with warnings.catch_warnings():
            # pandera's own failure-case formatting concatenates all-NA frames (pandas FutureWarning)
            warnings.filterwarnings(
                "ignore",
                category=FutureWarning,
                message="The behavior of DataFrame concatenation with empty or all-NA",
            )
            pandera_schema(contract, present, today).validate(frame, lazy=True)
        return None
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases


def _failing_rows(group: pd.DataFrame) -> pd.Index:
    """The sorted, unique row labels of a group of failure cases."""
    return pd.Index(group["index"].dropna().astype(int)).unique().sort_values()


def _max_column_failures(
    cases: pd.DataFrame, contract: DataContract, refused: dict[str, pd.Index]
) -> list[SchemaFailure]:
    """One failure per failing ``max_column:<column>:<other>`` check (a value above its bound),
    leaving out the rows where either value is ``refused`` already."""
    failures = []
    for check, group in cases.groupby("check", sort=False):
        _, col, other = str(check).split(":")
        rows = _failing_rows(group)
        for name in (col, other):
            rows = rows.difference(refused.get(name, pd.Index([])))
        if len(rows):
            failures.append(
                SchemaFailure(
                    col,
                    "value out of range",
                    f"{contract.column(col).expected()} (no larger than {other} in the same row)",
                    rows,
                )
            )
    return failures


def _meant(values: pd.Series, allowed: tuple[str, ...]) -> str:
    """What unknown categories were probably meant to be, case and spelling aside (``'HOME_GROWN'``
    -> ``'home_grown'``): "; did you mean 'home_grown' for 'HOME_GROWN'?", for the first few."""
    pairs = []
    for value in dict.fromkeys(str(v) for v in values.dropna()):
        close = nearest(value, allowed)
        if close is not None and close != value:
            pairs.append(f"'{close}' for '{value}'")
    return f"; did you mean {first_few(pairs, shown=3)}?" if pairs else ""


def _rule_and_expected(check: object, spec: ColumnSpec, today: pd.Timestamp) -> tuple[str, str]:
    """A pandera check's name as the problem's rule and what was expected instead."""
    if check == "not_nullable":
        return "empty value", spec.expected()
    if check == "field_uniqueness":
        return "duplicate value", "every value unique"
    if check == "allowed":
        return "unknown category", spec.expected()
    if check == "not_future":
        return "date in the future", f"a date not after {today.date()}"
    return "value out of range", spec.expected()
