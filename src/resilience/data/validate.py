"""Check an extract against its data contract and return it typed.

:func:`validate_frame` runs named checks in order, so that **every** problem is reported at once:

1. *Shape* (``_check_shape``, ``_column_problems``): rows present, comma-separated, each column
   once, every required column there (a missing one names a column of the file that differs from
   it only in case, spacing or invisible characters, never renaming it; unknown columns are a
   warning, and so is a label holding values when ``scoring``; a column the contract derives,
   such as the record's age, is checked when present and never required).
2. *Parsing* (``_typed``): each column is converted to its declared dtype; a value that does not
   parse ("abc" in an int column, "2024-13-45" or "2024-10-05 garbage" as a date) is a wrong-type
   problem for that row, and a cell holding a list, array or mapping (a Parquet list column) is
   refused as not a single value.
3. *Text* (:func:`.text_checks.text_problems`): ids, strings, categories and free text hold no control characters
   (NUL, CR, LF, tab, C1), line separators or bidirectional overrides, and are no longer than the
   column's ``max_length`` — such text could break CSV rows, hide itself or smuggle formulas. Ids
   (of disruptions, lines and groups) have no spaces around them: ids are matched exactly, so
   ``'SYN-D1 '`` beside ``'SYN-D1'`` would be two disruptions to the duplicate check; nor do
   ids, strings and categories hold an invisible character (``'SYN-L00\u200b1'``) anywhere.
4. *Rules* (``_label_problems``, ``_pandera_problems``, ``_rule_problems``): labels for training,
   then pandera for nullability, uniqueness, ranges, allowed categories, dates not in the future
   and ``max_column`` bounds (:mod:`.schema_checks`) — run lazily so pandera collects all
   failures — the config's cross-column rules, and the lines recorded with two different values
   of a ``per_line`` column (:mod:`.line_checks`). Failures become
   :class:`~resilience.errors.Problem` s naming file, column, the first offending rows (1-based,
   header not counted) and what was expected.

Nothing is written anywhere: the caller gets a typed frame or a :class:`ContractError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.errors import ContractError, Problem, first_few
from resilience.core.weeks import check_week, iso_week
from resilience.data.contract import DataContract, RuleSpec
from resilience.data.io import closest_name, printable_name, read_extract
from resilience.data.line_checks import line_conflicts
from resilience.data.parse import (
    EARLIEST,
    LARGEST_WHOLE,
    blank_cells,
    early_dates,
    huge_numbers,
    parse_column,
    written_as_dates,
)
from resilience.data.problems import row_problem
from resilience.data.schema_checks import SchemaFailure, schema_failures
from resilience.data.text_checks import missing_words, text_problems

log = logging.getLogger(__name__)

# what a cell holding several values arrives as (a Parquet list, struct or map column)
CONTAINERS = (list, tuple, set, dict, np.ndarray)
BINARY = (bytes, bytearray, memoryview)  # a Parquet binary column: bytes, not text


@dataclass
class ValidatedExtract:
    """A typed extract and the warnings (kept, not fatal) found while checking it."""

    frame: pd.DataFrame
    source: str
    warnings: list[Problem] = field(default_factory=list)

    @property
    def has_label(self) -> bool:
        return bool(self.frame.attrs.get("has_label", False))


def _rule_mask(
    frame: pd.DataFrame, rule: RuleSpec, refused: dict[str, pd.Series] | None = None
) -> pd.Series:
    """True where a row breaks a cross-column rule (rows with either side empty, or ``refused``
    already, are not judged: an unknown line type is one problem, not also a broken rule)."""

    def equals(col: str, value: object) -> pd.Series:
        series = frame[col]
        if pd.api.types.is_bool_dtype(series):
            return series.astype("boolean").eq(bool(value)).fillna(False).astype(bool)
        return series.astype(object).astype(str).eq(str(value)) & series.notna()

    known = frame[rule.column].notna() & frame[rule.other].notna()
    for name in (rule.column, rule.other):
        known &= ~(refused or {}).get(name, pd.Series(False, index=frame.index))
    a, b = equals(rule.column, rule.value), equals(rule.other, rule.other_value)
    broken = (a != b) if rule.kind == "iff" else (a & ~b)
    return broken & known


def _pandera_problems(
    failures: list[SchemaFailure], source: str, raw: pd.DataFrame
) -> list[Problem]:
    """The schema checks' failures (:mod:`.schema_checks`) as problems naming the offending values
    as the file has them."""
    return [
        row_problem(
            source,
            failure.column,
            failure.rule,
            failure.expected,
            failure.rows,
            raw[failure.column],
        )
        for failure in failures
    ]


def _refused_cells(
    index: pd.Index, unparsed: dict[str, pd.Series], failures: list[SchemaFailure]
) -> dict[str, pd.Series]:
    """Per column, the rows whose value is refused already (it did not parse, or broke one of the
    column's own checks): a cross-column rule does not judge them again."""
    refused = {name: mask.copy() for name, mask in unparsed.items()}
    for failure in failures:
        mask = refused.setdefault(failure.column, pd.Series(False, index=index))
        mask[index.isin(failure.rows)] = True
    return refused


def validate_frame(
    raw: pd.DataFrame,
    contract: DataContract,
    source: str = "extract",
    require_label: bool = False,
    today: pd.Timestamp | None = None,
    first_row: int = 1,
    scoring: bool = False,
) -> ValidatedExtract:
    """Check a raw frame against ``contract``; return it typed or raise :class:`ContractError`.

    Parameters
    ----------
    raw : frame as read from the file (CSV values as text)
    contract : the data contract to enforce
    source : the file name used in every message
    require_label : training needs the label in every row; scoring does not
    today : the day dates may not lie after (default: today)
    first_row : the data-row number of the frame's first row, for messages (chunks of a file)
    scoring : the extract is to be scored: a label column holding values is noted as unused
    """
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    # rows are numbered from first_row (a chunk of a streamed file starts where it starts)
    raw = raw.reset_index(drop=True)
    raw.index = raw.index + (first_row - 1)
    _check_shape(raw, source)
    problems, warned = _column_problems(raw, contract, source, require_label, scoring)
    if problems:
        raise ContractError(problems)
    present = [c for c in contract.column_names if c in raw.columns]
    frame, unparsed, problems = _typed(raw, contract, present, source)
    problems += text_problems(raw, contract, present, source, unparsed)
    warned += missing_words(raw, contract, present, source)
    problems += _label_problems(frame, raw, contract, source, unparsed, require_label)
    failures = schema_failures(frame, contract, present, unparsed, today)
    problems += _pandera_problems(failures, source, raw)
    refused_cells = _refused_cells(frame.index, unparsed, failures)
    broken, rule_warnings = _rule_problems(frame, raw, contract, source, refused_cells)
    refused = frozenset(p.column for p in problems + broken if p.column)
    conflicts, line_warnings = line_conflicts(frame, raw, contract, source, refused=refused)
    problems += broken + conflicts
    warned += rule_warnings + line_warnings
    if problems:
        order = {name: i for i, name in enumerate(contract.column_names)}
        problems.sort(key=lambda p: order.get(p.column, -1))
        raise ContractError(problems)
    for w in warned:
        log.warning("%s", w)
    return _validated(frame, contract, source, warned)


def _check_shape(raw: pd.DataFrame, source: str) -> None:
    """An empty extract, or one read as a single column because it is not comma-separated."""
    if len(raw) == 0:
        raise ContractError(
            [Problem(source, None, "the extract has no rows", "at least one data row")]
        )
    if len(raw.columns) == 1 and any(sep in str(raw.columns[0]) for sep in (";", "\t", "|")):
        raise ContractError(
            [
                Problem(
                    source,
                    None,
                    "the file has a single column, '" + str(raw.columns[0])[:60] + "...'",
                    "comma-separated values (this file looks separated by ';', tabs or '|': "
                    "save it as CSV with commas)",
                )
            ]
        )


def _column_problems(
    raw: pd.DataFrame, contract: DataContract, source: str, require_label: bool, scoring: bool
) -> tuple[list[Problem], list[Problem]]:
    """Columns given twice or missing (errors); columns the contract does not know, and a label
    holding values in an extract to be scored, as warnings."""
    problems = [
        Problem(source, printable_name(name), "column appears more than once", "each column once")
        for name in pd.Index(raw.columns)[pd.Index(raw.columns).duplicated()].unique()
    ]
    # derived columns (the record's age) are the toolkit's to compute: checked when given, never required
    optional = {*contract.derived_columns, *([] if require_label else [contract.label])}
    required = [c for c in contract.column_names if c not in optional]
    extra = [c for c in raw.columns if c not in contract.column_names]
    missing = [name for name in required if name not in raw.columns]
    if len(missing) > max(3, len(required) // 2):
        problems.append(_other_layout(raw, contract, source, required, missing))
        missing = []
    for name in missing:
        close = closest_name(name, extra)  # named, never renamed
        rule = f" (the file has '{close}': column names are matched exactly)" if close else ""
        problems.append(
            Problem(
                source,
                name,
                "missing required column" + rule,
                f"a column named '{name}' ({contract.column(name).expected()})",
            )
        )
    warned = []
    if extra:
        warned.append(
            Problem(
                source,
                None,
                f"unknown column(s) ignored: {', '.join(printable_name(c) for c in extra)}",
                "only the columns of data config " + repr(contract.name),
                severity="warning",
            )
        )
    label = contract.label
    if scoring and label in raw.columns and not blank_cells(raw[label]).all():
        warned.append(
            Problem(
                source,
                label,
                "the label column is present and is not used for scoring",
                "labels only in a training extract (scoring never reads them)",
                severity="warning",
            )
        )
    return problems, warned


def _other_layout(
    raw: pd.DataFrame, contract: DataContract, source: str, required: list, missing: list
) -> Problem:
    """Most required columns missing: one problem saying the file is laid out otherwise (another
    force's extract, another data config), not one line per missing column."""
    return Problem(
        source,
        None,
        f"the file has {len(required) - len(missing)} of the {len(required)} required columns of "
        f"data config '{contract.name}' (missing {first_few(repr(m) for m in missing)}; it has "
        f"{first_few(repr(printable_name(c)) for c in raw.columns)})",
        f"an extract laid out as data config '{contract.name}' says: an extract with other column "
        "names needs its own data config (data=<name>), and a model trained with it",
    )


def _typed(
    raw: pd.DataFrame, contract: DataContract, present: list[str], source: str
) -> tuple[pd.DataFrame, dict[str, pd.Series], list[Problem]]:
    """Every present column converted to its dtype; values that do not parse are problems."""
    typed: dict[str, pd.Series] = {}
    unparsed: dict[str, pd.Series] = {}
    problems = []
    for name in present:
        spec = contract.column(name)
        column, several, binary = _single_values(raw[name])
        typed[name], bad = parse_column(column, spec)
        early = bad & early_dates(column) if spec.dtype == "date" else bad & False
        no_day = bad & ~early & written_as_dates(column) if spec.dtype == "date" else bad & False
        huge = bad & huge_numbers(column, spec) if bad.any() else bad
        expected = spec.expected()
        limit = f", at most {LARGEST_WHOLE:,} (the largest held exactly)" * (spec.dtype == "int")
        refusals = [
            (
                several,
                "holds lists or arrays, not single values",
                f"one value in each cell: {expected}",
            ),
            (
                binary,
                "holds binary data (bytes), not text",
                f"a value written as text or a number (not bytes): {expected}",
            ),
            (
                early,
                f"date out of range (before {EARLIEST.date()})",
                f"a date from {EARLIEST.date()} on: {expected}",
            ),
            (huge, "number out of range (infinite, or too large)", f"{expected}, finite{limit}"),
            (
                no_day,
                "no such day in the calendar",
                "a date the calendar has, as YYYY-MM-DD (a month from 01 to 12, a day the month "
                "has)",
            ),
            (bad & ~early & ~no_day & ~huge, "wrong type", expected),
        ]
        problems += [
            row_problem(source, name, rule, wanted, raw.index[mask], raw[name])
            for mask, rule, wanted in refusals
            if mask.any()
        ]
        if (bad | several | binary).any():
            unparsed[name] = bad | several | binary
    return pd.DataFrame(typed, index=raw.index), unparsed, problems


def _single_values(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The column with cells holding several values (lists, arrays, mappings) or binary data
    emptied, and where each was: such a cell is refused, never read as the text ``'[1 2]'`` nor
    decoded as if it were text."""
    if raw.dtype != object or pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):
        none = pd.Series(False, index=raw.index)
        return raw, none, none
    several = raw.map(lambda value: isinstance(value, CONTAINERS)).astype(bool)
    binary = raw.map(lambda value: isinstance(value, BINARY)).astype(bool)
    return raw.where(~(several | binary), None), several, binary


def _label_problems(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    contract: DataContract,
    source: str,
    unparsed: dict[str, pd.Series],
    require_label: bool,
) -> list[Problem]:
    """Training needs a label in every row (rows whose label did not parse are already reported)."""
    label = contract.label
    if not require_label:
        return []
    missing = frame[label].isna() & ~unparsed.get(label, pd.Series(False, index=frame.index))
    if not missing.any():
        return []
    return [
        row_problem(
            source,
            label,
            "label missing",
            "true or false in every training row",
            frame.index[missing],
            raw[label],
        )
    ]


def _rule_problems(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    contract: DataContract,
    source: str,
    refused: dict[str, pd.Series],
) -> tuple[list[Problem], list[Problem]]:
    """Rows breaking the config's cross-column rules, their cells not ``refused`` already:
    (errors, warnings)."""
    errors, warned = [], []
    for rule in contract.rules:
        if rule.column in frame.columns and rule.other in frame.columns:
            broken = _rule_mask(frame, rule, refused)
            if broken.any():
                relation = "exactly when" if rule.kind == "iff" else "requires"
                found = row_problem(
                    source,
                    rule.column,
                    f"breaks rule '{rule.name}'",
                    f"{rule.column} = {rule.value} {relation} {rule.other} = {rule.other_value}",
                    frame.index[broken],
                    raw[rule.column],
                    severity=rule.severity,
                )
                (errors if rule.severity == "error" else warned).append(found)
    return errors, warned


def _validated(
    frame: pd.DataFrame, contract: DataContract, source: str, warned: list[Problem]
) -> ValidatedExtract:
    """The typed frame in the contract's column order, the label dropped when no row has one."""
    label = contract.label
    has_label = label in frame.columns and frame[label].notna().any()
    if not has_label and label in frame.columns:
        frame = frame.drop(columns=[label])
    frame = frame[[c for c in contract.column_names if c in frame.columns]].reset_index(drop=True)
    frame.attrs["has_label"] = bool(has_label)
    return ValidatedExtract(frame=frame, source=source, warnings=warned)


def load_extract(
    path: str | Path,
    contract: DataContract,
    require_label: bool = False,
    today: pd.Timestamp | None = None,
) -> ValidatedExtract:
    """Read and validate an extract file (CSV or Parquet)."""
    path = Path(path)
    raw = read_extract(path)
    return validate_frame(raw, contract, source=str(path), require_label=require_label, today=today)


def check_week_holds(week: str, latest_date, source: str = "extract") -> str:
    """The week a scored extract is filed under must be the ISO week of its latest disruption.

    The rule: a week's folder is named after the ISO week (Monday to Sunday) that holds the
    extract's **latest** disruption date, whether the week was given (``week=``) or not. A week
    that does not hold it (a typo such as ``2026-W46`` for W47's extract, or a week that does not
    exist) is refused with a clear error before anything is written, so a typo can never replace
    another week's folder. Returns the (checked) week name.
    """
    week = check_week(week)
    if latest_date is None or pd.isna(latest_date):
        raise ContractError(
            [
                Problem(
                    source,
                    None,
                    f"no disruption date to check week {week} against",
                    "at least one dated disruption",
                )
            ]
        )
    holds = iso_week(latest_date)
    if holds != week:
        raise ContractError(
            [
                Problem(
                    source,
                    None,
                    f"week={week} does not hold the extract's latest disruption date "
                    f"({pd.Timestamp(latest_date).date()}, in week {holds})",
                    f"week={holds} (a week is named after the ISO week of its latest disruption date), "
                    "or no week= at all",
                )
            ]
        )
    return week


def summarise(extract: ValidatedExtract, contract: DataContract) -> dict:
    """Rows, lines, date range and label rate: what ``resilience-validate`` prints."""
    frame = extract.frame
    dates = frame[contract.date_column]
    summary = {
        "source": extract.source,
        "rows": int(len(frame)),
        "lines": int(frame[contract.line_column].nunique()),
        "first_date": str(dates.min().date()) if dates.notna().any() else None,
        "last_date": str(dates.max().date()) if dates.notna().any() else None,
        "label_rate": None,
        "warnings": [str(w) for w in extract.warnings],
    }
    if extract.has_label:
        summary["label_rate"] = round(float(frame[contract.label].astype(float).mean()), 4)
    return summary
