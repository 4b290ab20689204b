"""Validation of extracts against the data contract (resilience.data.validate / resilience.data.io).

Every rule of ../shared/DATA_CONTRACT.md has a test with a bad extract proving that the
ContractError names the file, the column, the 1-based data row(s) and what was expected.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from resilience.core.errors import ContractError, Problem, ResilienceError
from resilience.data.contract import DataContract, load_data_contract
from resilience.data.io import read_extract
from resilience.data.validate import ValidatedExtract, load_extract, summarise, validate_frame

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "data" / "default.yaml"
VALIDATE_BIN = Path(sys.executable).parent / "resilience-validate"
TODAY = pd.Timestamp("2025-06-30")  # fixed "today" so date rules do not depend on the clock


def extract_columns(contract: DataContract) -> list[str]:
    """The contract's columns an extract carries: all but the derived ones (the record's age)."""
    return [c for c in contract.column_names if c not in contract.derived_columns]


HUBS = ["london", "birmingham", "liverpool", "manchester", "other_hub", "local"]
COMMODITIES = ["heroin_crack", "crack", "heroin", "cocaine", "cannabis"]
CLOSURES = ["type1", "type2", "none"]
GRADES = ["minor", "moderate", "major"]
AREAS = ["Northmoor", "Eastvale", "Westbrook", "Southfield"]

INT_COLUMNS = [
    "line_age_weeks",
    "deal_numbers",
    "contacts",
    "runners",
    "exploited_children",
    "exploited_adults",
    "cuckooed_addresses",
    "violence_12m",
    "linked_lines",
    "prior_disruptions",
    "runners_arrested",
    "handsets_seized",
    "closure_orders",
    "ancillary_orders",
    "safeguarding_referrals",
]
FLOAT_COLUMNS = [
    "bulk_texts_per_day",
    "weeks_since_last_disruption",
    "drugs_seized_gbp",
    "cash_seized_gbp",
]
BOOL_COLUMNS = [
    "weapons_linked",
    "ocg_linked",
    "holder_arrested",
    "ddtro",
    "sustained_operation",
    "persisted_12w",
]
CATEGORY_COLUMNS = [
    "policing_area",
    "line_type",
    "origin_hub",
    "commodity",
    "closure_type",
    "disruption_grade",
]
STRING_COLUMNS = ["disruption_id", "line_id"]
BOOL_EXPECTED = "true/false, yes/no, t/f, y/n or 1/0 (any case)"
DATE_EXPECTED = "an ISO date (YYYY-MM-DD, or with a time: YYYY-MM-DDTHH:MM:SS+01:00)"


def valid_extract(n: int = 20) -> pd.DataFrame:
    """A valid training extract, every value as text (as a CSV reads). Covers both line types,
    every hub, every category, both boolean values, and empty ``weeks_since_last_disruption``."""
    rows = []
    for i in range(n):
        hub = HUBS[i // 2 % len(HUBS)]  # one hub, type and area per line (two rows each)
        closure = CLOSURES[i % len(CLOSURES)]
        runners = i % 5 + 1
        rows.append(
            {
                "disruption_id": f"SYN-D{i:05d}",
                "line_id": f"SYN-L{i // 2:04d}",
                "ocg_id": f"SYN-G{i % 4:05d}" if i % 3 == 0 else "",  # only lines linked to a group
                "disruption_date": f"2023-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
                "policing_area": AREAS[i // 2 % len(AREAS)],
                "line_type": "home_grown" if hub == "local" else "imported",
                "origin_hub": hub,
                "line_age_weeks": str(i * 3),
                "deal_numbers": str(i % 4 + 1),
                "contacts": str(i * 17),
                "bulk_texts_per_day": f"{i * 2.5:.1f}",
                "runners": str(runners),
                "exploited_children": str(i % 3),
                "exploited_adults": str(i % 2),
                "cuckooed_addresses": str(i % 4),
                "violence_12m": str(i % 6),
                "weapons_linked": ["true", "false"][i % 2],
                "ocg_linked": ["false", "true"][i % 3 == 0],
                "linked_lines": str(i % 7),
                "prior_disruptions": str(i % 3),
                "weeks_since_last_disruption": "" if i % 3 == 0 else f"{i * 1.5:.1f}",
                "commodity": COMMODITIES[i % len(COMMODITIES)],
                "holder_arrested": "true" if closure == "type1" else ["true", "false"][i % 2],
                "closure_type": closure,
                "runners_arrested": str(runners // 2),
                "handsets_seized": str(i % 5),
                "ddtro": ["true", "false"][i % 2 == 0],
                "closure_orders": str(i % 2),
                "ancillary_orders": str(i % 3),
                "safeguarding_referrals": str(i % 4),
                "drugs_seized_gbp": f"{i * 120.5:.2f}",
                "cash_seized_gbp": f"{i * 300:.2f}",
                "sustained_operation": ["true", "false"][i % 4 == 0],
                "disruption_grade": GRADES[(i // 2) % len(GRADES)],
                "persisted_12w": ["true", "false"][i % 3 == 1],
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return load_data_contract(DEFAULT_CONFIG)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def fail(
    tmp_path: Path, frame: pd.DataFrame, contract: DataContract, name: str = "extract.csv", **kwargs
) -> tuple[ContractError, str]:
    """Write ``frame`` as CSV, load it, and return the ContractError and the file name used."""
    path = write_csv(frame, tmp_path / name)
    with pytest.raises(ContractError) as info:
        load_extract(path, contract, today=TODAY, **kwargs)
    return info.value, str(path)


def only_problem(err: ContractError) -> Problem:
    assert len(err.problems) == 1, str(err)
    return err.problems[0]


def assert_names(
    err: ContractError, source: str, column: str | None, rows: list[int], expected: str
) -> None:
    """The message names the file, the column, every row given and what was expected."""
    text = str(err)
    assert source in text
    if column is not None:
        assert f"column '{column}'" in text
    for r in rows:
        assert f"row {r}" in text
    assert f"expected {expected}" in text


# --------------------------------------------------------------------------------------------
# The valid extract itself
# --------------------------------------------------------------------------------------------


def test_helper_extract_covers_every_value_and_is_valid(tmp_path, contract):
    frame = valid_extract()
    assert 15 <= len(frame) <= 30
    assert set(frame["line_type"]) == {"imported", "home_grown"}
    assert set(frame["origin_hub"]) == set(HUBS)
    assert set(frame["commodity"]) == set(COMMODITIES)
    assert set(frame["closure_type"]) == set(CLOSURES)
    assert set(frame["disruption_grade"]) == set(GRADES)
    assert (frame["weeks_since_last_disruption"] == "").any()
    assert list(frame.columns) == extract_columns(contract)

    result = load_extract(
        write_csv(frame, tmp_path / "ok.csv"), contract, require_label=True, today=TODAY
    )
    assert isinstance(result, ValidatedExtract)
    assert result.warnings == []
    assert result.has_label
    assert len(result.frame) == len(frame)
    assert (
        result.frame["weeks_since_last_disruption"].isna().sum()
        == (frame["weeks_since_last_disruption"] == "").sum()
    )


def test_typed_frame_has_the_declared_dtypes(contract):
    typed = validate_frame(valid_extract(), contract, today=TODAY).frame
    assert list(typed.columns) == extract_columns(contract)
    for name in INT_COLUMNS:
        assert typed[name].dtype == np.dtype("int64"), name
    for name in FLOAT_COLUMNS:
        assert typed[name].dtype == np.dtype("float64"), name
    for name in BOOL_COLUMNS:
        assert typed[name].dtype == np.dtype("bool"), name
    for name in CATEGORY_COLUMNS:
        assert isinstance(typed[name].dtype, pd.CategoricalDtype), name
    assert typed["disruption_date"].dtype == np.dtype("datetime64[ns]")
    for name in STRING_COLUMNS:
        assert typed[name].map(type).eq(str).all(), name
    # every declared dtype an extract carries is covered by the lists above (not the derived ones)
    declared = {c.name: c.dtype for c in contract.columns if c.derived is None}
    assert {n for n, d in declared.items() if d == "int"} == set(INT_COLUMNS)
    assert {n for n, d in declared.items() if d == "float"} == set(FLOAT_COLUMNS)
    assert {n for n, d in declared.items() if d == "bool"} == set(BOOL_COLUMNS)
    assert {n for n, d in declared.items() if d == "category"} == set(CATEGORY_COLUMNS)


def test_typed_values_are_right(contract):
    raw = valid_extract()
    typed = validate_frame(raw, contract, today=TODAY).frame
    assert typed.loc[3, "contacts"] == 51
    assert typed.loc[4, "bulk_texts_per_day"] == pytest.approx(10.0)
    assert typed.loc[0, "disruption_date"] == pd.Timestamp("2023-01-01")
    assert (
        bool(typed.loc[0, "weapons_linked"]) is True
        and bool(typed.loc[1, "weapons_linked"]) is False
    )
    assert np.isnan(typed.loc[0, "weeks_since_last_disruption"])
    assert typed.loc[0, "disruption_id"] == "SYN-D00000"


def test_scoring_extract_without_label_is_valid(contract):
    raw = valid_extract().drop(columns=["persisted_12w"])
    result = validate_frame(raw, contract, today=TODAY)
    assert not result.has_label
    assert "persisted_12w" not in result.frame.columns


def test_scoring_extract_with_empty_label_column_drops_it(contract):
    raw = valid_extract()
    raw["persisted_12w"] = ""
    result = validate_frame(raw, contract, today=TODAY)
    assert not result.has_label
    assert "persisted_12w" not in result.frame.columns


def test_summary_reports_rows_lines_dates_and_label_rate(contract):
    raw = valid_extract()
    result = validate_frame(raw, contract, source="x.csv", today=TODAY)
    summary = summarise(result, contract)
    assert summary["rows"] == 20
    assert summary["lines"] == 10
    assert summary["first_date"] == "2023-01-01"
    assert summary["last_date"] == "2023-12-12"
    assert summary["label_rate"] == pytest.approx((raw["persisted_12w"] == "true").mean(), abs=1e-4)


# --------------------------------------------------------------------------------------------
# One test per contract rule
# --------------------------------------------------------------------------------------------


def test_missing_required_column(tmp_path, contract):
    err, source = fail(tmp_path, valid_extract().drop(columns=["contacts"]), contract)
    p = only_problem(err)
    assert (p.column, p.rule) == ("contacts", "missing required column")
    assert_names(err, source, "contacts", [], "a column named 'contacts' (a whole number >= 0)")


def test_several_missing_columns_are_all_named(tmp_path, contract):
    err, _ = fail(
        tmp_path, valid_extract().drop(columns=["contacts", "commodity", "line_id"]), contract
    )
    assert sorted(p.column for p in err.problems) == ["commodity", "contacts", "line_id"]
    assert all(p.rule == "missing required column" for p in err.problems)


@pytest.mark.parametrize("value", ["2023-02-29", "2024-13-45", "2024-04-31T10:00:00Z"])
def test_a_date_the_calendar_does_not_have_is_named_as_such(tmp_path, contract, value):
    """'2023-02-29' is written as the contract asks: 'wrong type; expected an ISO date' sent the
    reader looking for a format problem that is not there."""
    frame = valid_extract()
    frame.loc[6, "disruption_date"] = value
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows, p.values) == (
        "disruption_date",
        "no such day in the calendar",
        (7,),
        (value,),
    )
    assert p.expected.startswith("a date the calendar has, as YYYY-MM-DD")


@pytest.mark.parametrize(
    ("column", "row", "value", "expected"),
    [
        ("contacts", 3, "abc", "a whole number >= 0"),
        ("bulk_texts_per_day", 4, "x", "a number >= 0"),
        ("ddtro", 5, "maybe", BOOL_EXPECTED),
        ("disruption_date", 6, "05/10/2024", DATE_EXPECTED),
        ("contacts", 7, "1.5", "a whole number >= 0"),
    ],
    ids=["int-abc", "float-x", "bool-maybe", "date-05/10/2024", "int-1.5"],
)
def test_wrong_type(tmp_path, contract, column, row, value, expected):
    frame = valid_extract()
    frame.loc[row, column] = value
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows, p.values, p.count) == (
        column,
        "wrong type",
        (row + 1,),
        (value,),
        1,
    )
    assert p.expected == expected
    assert_names(err, source, column, [row + 1], expected)
    assert f"row {row + 1} ({value!r})" in str(err)


@pytest.mark.parametrize(
    ("column", "row", "value", "expected"),
    [
        ("contacts", 2, "-1", "a whole number >= 0"),
        ("deal_numbers", 5, "0", "a whole number >= 1"),
        ("bulk_texts_per_day", 8, "-0.5", "a number >= 0"),
        ("weeks_since_last_disruption", 1, "-3", "a number >= 0"),
    ],
    ids=["negative-contacts", "deal_numbers-0", "negative-float", "negative-nullable-float"],
)
def test_value_out_of_range(tmp_path, contract, column, row, value, expected):
    frame = valid_extract()
    frame.loc[row, column] = value
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows, p.values) == (
        column,
        "value out of range",
        (row + 1,),
        (value,),
    )
    assert_names(err, source, column, [row + 1], expected)


def test_runners_arrested_may_not_exceed_runners(tmp_path, contract):
    frame = valid_extract()
    frame.loc[7, "runners"] = "2"
    frame.loc[7, "runners_arrested"] = "3"
    frame.loc[12, "runners_arrested"] = "99"
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows) == ("runners_arrested", "value out of range", (8, 13))
    assert p.values == ("3", "99")
    assert_names(err, source, "runners_arrested", [8, 13], "a whole number >= 0 and <= runners")
    assert "no larger than runners in the same row" in str(err)


def test_a_negative_runners_is_one_problem_not_also_runners_arrested_above_it(contract):
    """The bound is judged between two values that pass their own checks: a runners of -3 made
    the row's runners_arrested (1) 'out of range' too, two problems for one bad cell."""
    frame = valid_extract()
    frame.loc[2, "runners"] = "-3"
    frame.loc[4, "runners_arrested"] = "-1"  # and its bound (runners 5) is fine
    frame.loc[7, "runners"] = "2"
    frame.loc[7, "runners_arrested"] = "3"  # still above a valid bound
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, today=TODAY)
    found = [(p.column, p.rows) for p in info.value.problems]
    assert found == [("runners", (3,)), ("runners_arrested", (8,)), ("runners_arrested", (5,))]


@pytest.mark.parametrize(
    ("column", "value"),
    [("line_type", "HOME_GROWN"), ("origin_hub", "Local"), ("holder_arrested", "maybe")],
)
def test_a_refused_value_does_not_also_break_a_rule_with_it(contract, column, value):
    """'HOME_GROWN' is an unknown line type: one problem, not also 'breaks rule local exactly
    when home-grown' for a row whose hub is local (and likewise for the rule's other side)."""
    frame = valid_extract()
    row = 10  # a home-grown line from the local hub: made a type 1 closure, its holder arrested
    assert frame.loc[row, "origin_hub"] == "local"
    frame.loc[row, ["closure_type", "holder_arrested"]] = ["type1", "true"]
    frame.loc[row, column] = value
    frame.loc[row, "line_id"] = "SYN-L9999"  # a line of one row: no other record contradicts it
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, today=TODAY)
    problem = only_problem(info.value)
    assert (problem.column, problem.rows) == (column, (row + 1,))
    assert not problem.rule.startswith("breaks rule")


def test_runners_arrested_equal_to_runners_is_fine(contract):
    frame = valid_extract()
    frame["runners_arrested"] = frame["runners"]
    validate_frame(frame, contract, today=TODAY)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("commodity", "meth"),
        ("origin_hub", "Leeds"),
        ("closure_type", "type3"),
        ("disruption_grade", "<script>"),
    ],
)
def test_unknown_category(tmp_path, contract, column, value):
    frame = valid_extract()
    frame.loc[9, column] = value
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows, p.values) == (column, "unknown category", (10,), (value,))
    allowed = ", ".join(contract.column(column).allowed)
    assert_names(err, source, column, [10], f"one of {allowed}")


def test_category_is_case_sensitive_and_the_refusal_names_what_was_meant(contract):
    """'Crack' is not 'crack' (a category is matched exactly), and the message says which value
    was probably meant, case and spelling aside; a value like none of them gets no guess."""
    frame = valid_extract()
    frame.loc[1, "commodity"] = "Crack"
    frame.loc[2, "commodity"] = "heroin crack"
    frame.loc[3, "commodity"] = "meth"
    with pytest.raises(ContractError, match="unknown category") as info:
        validate_frame(frame, contract, today=TODAY)
    message = str(info.value)
    assert "did you mean 'crack' for 'Crack', 'heroin_crack' for 'heroin crack'?" in message
    assert "for 'meth'" not in message


def test_category_surrounding_spaces_are_stripped(contract):
    frame = valid_extract()
    frame.loc[1, "commodity"] = "  crack "
    typed = validate_frame(frame, contract, today=TODAY).frame
    assert typed.loc[1, "commodity"] == "crack"


def test_duplicate_disruption_id_names_both_rows(tmp_path, contract):
    frame = valid_extract()
    frame.loc[9, "disruption_id"] = frame.loc[2, "disruption_id"]
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows, p.count) == ("disruption_id", "duplicate value", (3, 10), 2)
    assert p.values == ("SYN-D00002", "SYN-D00002")
    assert_names(err, source, "disruption_id", [3, 10], "every value unique")


def test_repeated_line_id_is_allowed(contract):
    frame = valid_extract()
    frame["line_id"] = "SYN-L0001"
    for column in ("line_type", "origin_hub", "policing_area"):  # one line: one of each
        frame[column] = frame.loc[0, column]
    assert validate_frame(frame, contract, today=TODAY).frame["line_id"].nunique() == 1


def test_header_only_extract_is_empty(tmp_path, contract):
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(contract.column_names) + "\n", encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_extract(path, contract, today=TODAY)
    p = only_problem(info.value)
    assert p.column is None and p.rule == "the extract has no rows"
    assert str(path) in str(info.value) and "expected at least one data row" in str(info.value)


def test_zero_byte_file_is_empty(tmp_path, contract):
    path = tmp_path / "nothing.csv"
    path.write_bytes(b"")
    with pytest.raises(ContractError) as info:
        load_extract(path, contract, today=TODAY)
    assert str(path) in str(info.value)
    assert "empty" in str(info.value)


def test_label_column_missing_in_training_extract(tmp_path, contract):
    err, source = fail(
        tmp_path, valid_extract().drop(columns=["persisted_12w"]), contract, require_label=True
    )
    p = only_problem(err)
    assert (p.column, p.rule) == ("persisted_12w", "missing required column")
    assert_names(
        err, source, "persisted_12w", [], f"a column named 'persisted_12w' ({BOOL_EXPECTED})"
    )


def test_label_empty_in_some_training_rows(tmp_path, contract):
    frame = valid_extract()
    frame.loc[[3, 11], "persisted_12w"] = ""
    err, source = fail(tmp_path, frame, contract, require_label=True)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows) == ("persisted_12w", "label missing", (4, 12))
    assert_names(err, source, "persisted_12w", [4, 12], "true or false in every training row")


def test_label_empty_is_fine_when_scoring(contract):
    frame = valid_extract()
    frame.loc[[3, 11], "persisted_12w"] = ""
    result = validate_frame(frame, contract, today=TODAY)
    assert result.has_label
    assert result.frame["persisted_12w"].isna().sum() == 2


@pytest.mark.parametrize("require_label", [True, False], ids=["training", "scoring"])
def test_label_not_boolean(tmp_path, contract, require_label):
    frame = valid_extract()
    frame.loc[3, "persisted_12w"] = "perhaps"
    err, source = fail(tmp_path, frame, contract, require_label=require_label)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows, p.values) == (
        "persisted_12w",
        "wrong type",
        (4,),
        ("perhaps",),
    )
    assert_names(err, source, "persisted_12w", [4], BOOL_EXPECTED)


def test_date_in_the_future(tmp_path, contract):
    frame = valid_extract()
    frame.loc[10, "disruption_date"] = "2025-07-01"  # TODAY + 1 day
    frame.loc[11, "disruption_date"] = "2025-06-30"  # TODAY itself is fine
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows, p.values) == (
        "disruption_date",
        "date in the future",
        (11,),
        ("2025-07-01",),
    )
    assert_names(err, source, "disruption_date", [11], "a date not after 2025-06-30")


def test_date_in_the_future_uses_today_by_default(contract):
    frame = valid_extract()
    frame.loc[0, "disruption_date"] = str((pd.Timestamp.today() + pd.Timedelta(days=400)).date())
    with pytest.raises(ContractError, match="date in the future"):
        validate_frame(frame, contract)


def test_far_future_date_is_reported_as_in_the_future(tmp_path, contract):
    frame = valid_extract()
    frame.loc[10, "disruption_date"] = "2999-01-01"
    err, _ = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule) == ("disruption_date", "date in the future")


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        (0, "origin_hub", "local"),  # imported line from the "local" hub
        (10, "line_type", "imported"),  # row 10 is local: imported + local
        (10, "origin_hub", "london"),
    ],  # home-grown line from london
)
def test_local_exactly_when_home_grown(tmp_path, contract, row, column, value):
    frame = valid_extract()
    assert frame.loc[10, "origin_hub"] == "local" and frame.loc[0, "origin_hub"] == "london"
    frame.loc[row, column] = value
    frame.loc[row, "line_id"] = "SYN-L9999"  # a line of one row: no other record contradicts it
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert p.column == "origin_hub"
    assert p.rule == "breaks rule 'local exactly when home-grown'"
    assert p.rows == (row + 1,)
    assert_names(
        err,
        source,
        "origin_hub",
        [row + 1],
        "origin_hub = local exactly when line_type = home_grown",
    )


def test_warning_rule_is_reported_but_kept(contract):
    frame = valid_extract()
    assert frame.loc[0, "closure_type"] == "type1"
    frame.loc[0, "holder_arrested"] = "false"
    result = validate_frame(frame, contract, source="w.csv", today=TODAY)
    assert len(result.frame) == len(frame)
    assert len(result.warnings) == 1
    w = result.warnings[0]
    assert w.severity == "warning" and w.column == "closure_type" and w.rows == (1,)
    assert "a type 1 closure means the holder was arrested" in str(w)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("line_id", "a non-empty string"),
        ("disruption_id", "a non-empty string"),
        ("contacts", "a whole number >= 0"),
        ("bulk_texts_per_day", "a number >= 0"),
        ("commodity", "one of heroin_crack, crack, heroin, cocaine, cannabis"),
        ("ddtro", BOOL_EXPECTED),
        ("disruption_date", DATE_EXPECTED),
    ],
)
def test_empty_value_in_non_nullable_column(tmp_path, contract, column, expected):
    frame = valid_extract()
    frame.loc[[11, 14], column] = ["", "   "]
    err, source = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert (p.column, p.rule, p.rows) == (column, "empty value", (12, 15))
    assert_names(err, source, column, [12, 15], expected)


def test_many_offending_rows_are_counted_and_truncated(tmp_path, contract):
    frame = valid_extract()
    frame.loc[:, "contacts"] = "-1"
    err, _ = fail(tmp_path, frame, contract)
    p = only_problem(err)
    assert p.count == 20 and p.rows == (1, 2, 3, 4, 5)
    assert "20 offending rows" in str(err) and "and 15 more" in str(err)


def test_every_problem_is_reported_at_once(tmp_path, contract):
    frame = valid_extract()
    frame.loc[1, "contacts"] = "abc"  # wrong type
    frame.loc[2, "deal_numbers"] = "0"  # out of range
    frame.loc[3, "commodity"] = "meth"  # unknown category
    frame.loc[4, "disruption_id"] = "SYN-D00005"  # duplicate of row 6
    frame.loc[6, "disruption_date"] = "2030-01-01"  # in the future
    frame.loc[0, "origin_hub"] = "local"  # rule: local exactly when home-grown
    frame.loc[8, "line_id"] = ""  # empty value
    frame.loc[9, "ddtro"] = "maybe"  # wrong type (bool)
    frame.loc[10, "runners_arrested"] = "50"  # larger than runners
    err, source = fail(tmp_path, frame, contract)
    found = {(p.column, p.rule, p.rows) for p in err.problems}
    assert found == {
        ("contacts", "wrong type", (2,)),
        ("deal_numbers", "value out of range", (3,)),
        ("commodity", "unknown category", (4,)),
        ("disruption_id", "duplicate value", (5, 6)),
        ("disruption_date", "date in the future", (7,)),
        ("origin_hub", "breaks rule 'local exactly when home-grown'", (1,)),
        ("line_id", "empty value", (9,)),
        ("ddtro", "wrong type", (10,)),
        ("runners_arrested", "value out of range", (11,)),
    }
    assert len(err.problems) == 9
    assert str(err).startswith("9 problems with the extract:")
    assert str(err).count(source) == 9
    # problems come in the contract's column order
    order = [contract.column_names.index(p.column) for p in err.problems]
    assert order == sorted(order)


def test_unknown_extra_columns_are_ignored_with_a_warning(tmp_path, contract):
    frame = valid_extract()
    frame["officer_notes"] = "free text, never a feature"
    frame.insert(0, "holder_ethnicity", "x")
    path = write_csv(frame, tmp_path / "extra.csv")
    result = load_extract(path, contract, today=TODAY)
    assert "officer_notes" not in result.frame.columns
    assert "holder_ethnicity" not in result.frame.columns
    assert list(result.frame.columns) == extract_columns(contract)
    assert len(result.warnings) == 1
    w = result.warnings[0]
    assert w.severity == "warning"
    assert "holder_ethnicity" in str(w) and "officer_notes" in str(w) and str(path) in str(w)


def test_duplicated_column_is_refused(contract):
    frame = valid_extract()
    frame = pd.concat([frame, frame[["contacts"]]], axis=1)
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, source="dup.csv", today=TODAY)
    assert "column 'contacts': column appears more than once" in str(info.value)


def test_row_numbers_ignore_the_frame_index(contract):
    frame = valid_extract()
    frame.index = range(100, 120)
    frame.loc[103, "contacts"] = "abc"
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, today=TODAY)
    assert only_problem(info.value).rows == (4,)


# --------------------------------------------------------------------------------------------
# Known bugs with huge integers and time zones (see the report)
# --------------------------------------------------------------------------------------------


def test_huge_integer_next_to_an_empty_cell_is_a_contract_error(contract):
    frame = valid_extract()
    frame.loc[0, "contacts"] = "1e30"
    frame.loc[1, "contacts"] = ""
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, today=TODAY)
    found = [(p.column, p.rule, p.rows) for p in info.value.problems]
    assert found == [("contacts", TOO_LARGE, (1,)), ("contacts", "empty value", (2,))]


def test_huge_integer_is_never_silently_wrapped():
    # without a lower bound nothing else objects to 1e30: it must still be refused as beyond the
    # range an integer column holds exactly, not wrapped to a negative or rounded number
    config = load_data_contract(DEFAULT_CONFIG).to_dict()
    config["columns"]["contacts"].pop("min", None)
    loose = DataContract.from_dict(config)
    frame = valid_extract()
    frame.loc[0, "contacts"] = "1e30"
    with pytest.raises(ContractError) as info:
        validate_frame(frame, loose, today=TODAY)
    problem = only_problem(info.value)
    assert (problem.column, problem.rule, problem.rows, problem.values) == (
        "contacts",
        TOO_LARGE,
        (1,),
        ("1e30",),
    )


TOO_LARGE = "number out of range (infinite, or too large)"


@pytest.mark.parametrize(
    ("column", "value", "bound"),
    [
        ("contacts", "99999999999999999999999999", "at most 9,007,199,254,740,992"),
        ("contacts", "1e18", "at most 9,007,199,254,740,992"),
        ("contacts", "inf", "finite"),
        ("cash_seized_gbp", "1e400", "finite"),
        ("cash_seized_gbp", "-Infinity", "finite"),
    ],
)
def test_a_number_too_large_to_hold_is_out_of_range_not_a_wrong_type(
    contract, column, value, bound
):
    """'99999999999999999999999999' is a whole number: the message says it is too large, not that
    it is no number (a float column's 1e400 was 'wrong type' too: pandas reads it as missing)."""
    frame = valid_extract()
    frame.loc[2, column] = value
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, today=TODAY)
    problem = only_problem(info.value)
    assert (problem.column, problem.rule, problem.rows, problem.values) == (
        column,
        TOO_LARGE,
        (3,),
        (value,),
    )
    assert bound in problem.expected


def test_a_parquet_int64_beyond_the_exact_range_is_out_of_range(tmp_path, contract):
    frame = valid_extract().astype({"contacts": "int64"})
    frame.loc[3, "contacts"] = np.iinfo(np.int64).max
    path = tmp_path / "huge.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(ContractError) as info:
        load_extract(path, contract, today=TODAY)
    problem = only_problem(info.value)
    assert (problem.rule, problem.rows) == (TOO_LARGE, (4,))


def test_huge_runners_gives_one_problem_only(contract):
    frame = valid_extract()
    frame.loc[0, "runners"] = str(2**70)
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, today=TODAY)
    assert [p.column for p in info.value.problems] == ["runners"]


def test_mixed_time_zone_dates_keep_the_calendar_day_as_written(contract):
    frame = valid_extract()
    frame.loc[0, "disruption_date"] = "2023-01-01T10:00:00+05:00"  # 05:00 UTC the same day
    frame.loc[1, "disruption_date"] = "2023-02-02T23:30:00-08:00"  # the next day in UTC
    frame.loc[2, "disruption_date"] = "2023-03-03T00:30:00Z"
    typed = validate_frame(frame, contract, today=TODAY).frame["disruption_date"]
    assert [str(d.date()) for d in typed[:3]] == ["2023-01-01", "2023-02-02", "2023-03-03"]
    assert str(typed.dtype) == "datetime64[ns]"


# --------------------------------------------------------------------------------------------
# Hostile text: control characters, bidi overrides, overlong values (issue 15.1)
# --------------------------------------------------------------------------------------------

HOSTILE = {
    "NUL": "SYN-D\x00001",
    "CR then a formula": "SYN-L000095\r=cmd|' /C calc'!A0",
    "LF": "SYN-D\n00001",
    "tab": "SYN\tD00001",
    "C1 next line": "SYN-D\x8500001",
    "escape": "SYN-D\x1b[31m",
    "right-to-left override": "SYN-D\u202e10000",
    "left-to-right isolate": "SYN-D\u206600001\u2069",
}


@pytest.mark.parametrize("column", ["disruption_id", "line_id", "policing_area"])
@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_control_characters_are_refused_in_ids_strings_and_categories(
    contract, tmp_path, column, what
):
    frame = valid_extract()
    frame.loc[3, column] = HOSTILE[what]
    source = str(tmp_path / "hostile.csv")
    frame.to_csv(source, index=False, quoting=csv.QUOTE_ALL)  # the value arrives whole, CR and all
    with pytest.raises(ContractError) as info:
        load_extract(source, contract, today=TODAY)
    err = info.value
    problem = next(p for p in err.problems if p.rule == "control character")
    assert (problem.column, problem.rows) == (column, (4,))
    assert_names(err, source, column, [4], "")
    assert "control characters (NUL, CR, LF" in str(err) and "bidirectional overrides" in str(err)
    assert "\r" not in str(err) and "\u202e" not in str(err), "the message shows the value escaped"


def test_control_characters_are_refused_in_free_text(tmp_path):
    contract = load_data_contract("example_force")
    frame = pd.DataFrame(
        [
            {
                "ref": "R1",
                "line_ref": "L1",
                "date_of_action": "2024-01-01",
                "lpa": "North",
                "line_kind": "imported",
                "customer_count": "3",
                "deal_lines": "1",
                "runner_count": "2",
                "children_exploited": "0",
                "previous_actions": "0",
                "controller_arrested": "false",
                "runners_detained": "1",
                "ddtro_obtained": "false",
                "referrals": "0",
                "operation_sustained": "true",
                "officer_notes": "seen at the station\u202eevil",
                "active_after_12w": "",
            }
        ]
    )
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, source="force.csv", today=TODAY)
    problem = only_problem(info.value)
    assert (problem.column, problem.rule, problem.rows) == (
        "officer_notes",
        "control character",
        (1,),
    )
    # notes run over lines, as real notes do: line breaks and tabs are free text's own (a whole
    # extract was refused for a note written on two lines); an escape is still refused
    notes = "seen at the station\r\nwith two runners;\n\tone known"
    typed = validate_frame(frame.assign(officer_notes=notes), contract, today=TODAY).frame
    assert typed.loc[0, "officer_notes"] == notes
    with pytest.raises(ContractError, match="control character"):
        validate_frame(frame.assign(officer_notes="red\x1b[31m"), contract, today=TODAY)


def test_ordinary_punctuation_and_accents_are_accepted(contract):
    frame = valid_extract()
    frame.loc[0, "disruption_id"] = 'SYN-D 0001 "quoted", with commas; and \' apostrophes'
    frame.loc[1, "policing_area"] = "Ynys M\u00f4n \u2014 \u00c9tang"
    typed = validate_frame(frame, contract, today=TODAY).frame
    assert typed.loc[0, "disruption_id"] == 'SYN-D 0001 "quoted", with commas; and \' apostrophes'
    assert typed.loc[1, "policing_area"] == "Ynys M\u00f4n \u2014 \u00c9tang"


def test_overlong_ids_are_refused(contract, tmp_path):
    frame = valid_extract()
    frame.loc[5, "disruption_id"] = "SYN-" + "D" * 100_000
    err, source = fail(tmp_path, frame, contract)
    problem = only_problem(err)
    assert (problem.column, problem.rule, problem.rows) == ("disruption_id", "value too long", (6,))
    assert_names(err, source, "disruption_id", [6], "at most 256 characters")
    assert len(str(err)) < 1_000, "the message shows a short excerpt, not the whole value"


def test_max_length_from_the_config_is_enforced():
    config = load_data_contract(DEFAULT_CONFIG).to_dict()
    config["columns"]["line_id"]["max_length"] = 9
    strict = DataContract.from_dict(config)
    frame = valid_extract()
    frame.loc[2, "line_id"] = "SYN-L00001"  # 10 characters; the others have 9
    with pytest.raises(ContractError) as info:
        validate_frame(frame, strict, today=TODAY)
    problem = only_problem(info.value)
    assert (problem.column, problem.rule, problem.rows, problem.expected) == (
        "line_id",
        "value too long",
        (3,),
        "at most 9 characters",
    )
    frame.loc[2, "line_id"] = "SYN-L0001"
    assert validate_frame(frame, strict, today=TODAY).frame.loc[2, "line_id"] == "SYN-L0001"


# --------------------------------------------------------------------------------------------
# A column twice in a CSV header (pandas would rename the second contacts.1) (issue 15.6)
# --------------------------------------------------------------------------------------------


def test_a_csv_with_two_contacts_columns_is_refused(contract, tmp_path):
    path = tmp_path / "twice.csv"
    frame = valid_extract()
    frame.insert(5, "contacts_copy", frame["contacts"])
    text = frame.to_csv(index=False).replace("contacts_copy", "contacts", 1)
    path.write_text(text)
    with pytest.raises(ContractError) as info:
        load_extract(path, contract, today=TODAY)
    problem = only_problem(info.value)
    assert (problem.source, problem.column) == (str(path), "contacts")
    assert "appears more than once" in str(info.value) and "contacts.1" not in str(info.value)


def test_duplicate_header_is_refused_when_streaming_too(contract, tmp_path):
    from resilience.data.io import iter_extract

    path = tmp_path / "twice.csv"
    path.write_text("disruption_id,contacts, contacts\nA,1,2\n")
    with pytest.raises(ContractError, match="column 'contacts': column appears more than once"):
        next(iter_extract(path))


def test_hostile_header_names_are_printed_escaped(contract, tmp_path):
    path = tmp_path / "escape.csv"
    frame = valid_extract()
    frame["\x1b]0;owned\x07"] = "1"
    frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    extract = load_extract(path, contract, today=TODAY)
    message = str(extract.warnings[0])
    assert (
        "unknown column(s) ignored" in message
        and "\\x1b]0;owned\\x07" in message
        and "\x1b" not in message
    )
    twice = tmp_path / "twice.csv"
    twice.write_text('"\u202ecol","\u202ecol"\n1,2\n')
    with pytest.raises(ContractError) as info:
        load_extract(twice, contract, today=TODAY)
    assert "\u202e" not in str(info.value) and "\\u202ecol" in str(info.value)


def test_quoted_header_names_with_commas_are_not_duplicates(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('"a,b",a\n1,2\n')
    assert list(read_extract(path).columns) == ["a,b", "a"]


# --------------------------------------------------------------------------------------------
# Warnings are not silenced wholesale (issue 10)
# --------------------------------------------------------------------------------------------


def test_load_extract_does_not_silence_warnings(contract, tmp_path, monkeypatch):
    import warnings

    import resilience.data.validate as validate_module

    def noisy(frame, *args, **kwargs):
        warnings.warn("a warning from the validator", UserWarning, stacklevel=2)
        return ValidatedExtract(frame=frame, source="x")

    monkeypatch.setattr(validate_module, "validate_frame", noisy)
    path = write_csv(valid_extract(), tmp_path / "ok.csv")
    with pytest.warns(UserWarning, match="a warning from the validator"):
        validate_module.load_extract(path, contract, today=TODAY)


def test_validating_a_bad_extract_raises_no_library_warnings(contract, tmp_path):
    import warnings

    frame = valid_extract()
    frame.loc[0, "contacts"] = "abc"
    frame.loc[1, "weeks_since_last_disruption"] = "-1"
    frame.loc[2, "origin_hub"] = "paris"
    path = write_csv(frame, tmp_path / "bad.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ContractError):
            load_extract(path, contract, today=TODAY)


# --------------------------------------------------------------------------------------------
# Nothing written
# --------------------------------------------------------------------------------------------


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_failing_validation_in_process_writes_nothing(tmp_path, contract, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = valid_extract()
    frame.loc[3, "contacts"] = "abc"
    path = write_csv(frame, tmp_path / "bad.csv")
    before = _listing(tmp_path)
    with pytest.raises(ContractError):
        load_extract(path, contract, today=TODAY)
    assert _listing(tmp_path) == before


def test_failing_resilience_validate_run_writes_nothing(tmp_path):
    frame = valid_extract()
    frame.loc[3, "contacts"] = "abc"
    frame.loc[4, "commodity"] = "meth"
    write_csv(frame, tmp_path / "bad.csv")
    before = _listing(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "RESILIENCE_HOME"}
    run = subprocess.run(
        [str(VALIDATE_BIN), "input=bad.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode != 0
    assert "contacts" in run.stderr and "commodity" in run.stderr
    assert _listing(tmp_path) == before


# --------------------------------------------------------------------------------------------
# Reading robustness
# --------------------------------------------------------------------------------------------


def test_bom_crlf_quotes_and_boolean_spellings_read_and_validate(tmp_path, contract):
    frame = valid_extract()
    frame.loc[0, "policing_area"] = 'Eastvale, "North" sector'
    frame.loc[1, "line_id"] = 'SYN-L,"quoted"'
    spellings = ["TRUE", "False", "1", "0", "true", "FALSE", "True", "false"]
    for i in range(len(frame)):
        frame.loc[i, "weapons_linked"] = spellings[i % len(spellings)]
        frame.loc[i, "persisted_12w"] = spellings[(i + 3) % len(spellings)]
    text = frame.to_csv(index=False, lineterminator="\r\n")
    path = tmp_path / "windows.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    raw = path.read_bytes()
    assert (
        raw.startswith(b"\xef\xbb\xbf")
        and b"\r\n" in raw
        and b'"Eastvale, ""North"" sector"' in raw
    )

    result = load_extract(path, contract, require_label=True, today=TODAY)
    typed = result.frame
    assert typed.columns[0] == "disruption_id"  # the BOM is not part of the first name
    assert typed.loc[0, "policing_area"] == 'Eastvale, "North" sector'
    assert typed.loc[1, "line_id"] == 'SYN-L,"quoted"'
    truth = {"true": True, "1": True, "false": False, "0": False}
    assert typed["weapons_linked"].tolist() == [truth[s.lower()] for s in frame["weapons_linked"]]
    assert typed["persisted_12w"].tolist() == [truth[s.lower()] for s in frame["persisted_12w"]]
    assert typed["weapons_linked"].dtype == np.dtype("bool")
    # no stray \r in the last column
    assert typed["persisted_12w"].dtype == np.dtype("bool")


def test_na_like_text_is_not_empty(contract):
    frame = valid_extract()
    frame.loc[0, "disruption_id"] = "NA"
    frame.loc[1, "line_id"] = "null"
    typed = validate_frame(frame, contract, today=TODAY).frame
    assert typed.loc[0, "disruption_id"] == "NA" and typed.loc[1, "line_id"] == "null"


def test_csv_na_like_id_survives_reading(tmp_path, contract):
    frame = valid_extract()
    frame.loc[0, "disruption_id"] = "NA"
    result = load_extract(write_csv(frame, tmp_path / "na.csv"), contract, today=TODAY)
    assert result.frame.loc[0, "disruption_id"] == "NA"


def test_txt_suffix_is_read_as_csv(tmp_path, contract):
    path = tmp_path / "extract.txt"
    valid_extract().to_csv(path, index=False)
    assert len(load_extract(path, contract, today=TODAY).frame) == 20


def _typed_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def test_parquet_validates_to_the_same_frame_as_csv(tmp_path, contract):
    raw = valid_extract()
    from_csv = load_extract(write_csv(raw, tmp_path / "e.csv"), contract, today=TODAY)
    # a Parquet written with real types (ints, floats with NaN, bools, dates, categories)
    parquet = _typed_parquet(from_csv.frame, tmp_path / "e.parquet")
    from_parquet = load_extract(parquet, contract, today=TODAY)
    assert list(from_parquet.frame.columns) == list(from_csv.frame.columns)
    pd.testing.assert_frame_equal(
        from_parquet.frame, from_csv.frame, check_dtype=False, check_categorical=False
    )
    assert from_parquet.has_label == from_csv.has_label


def test_parquet_of_text_values_validates_to_the_exact_csv_frame(tmp_path, contract):
    raw = valid_extract()
    from_csv = load_extract(write_csv(raw, tmp_path / "e.csv"), contract, today=TODAY)
    from_parquet = load_extract(_typed_parquet(raw, tmp_path / "e.parquet"), contract, today=TODAY)
    pd.testing.assert_frame_equal(from_parquet.frame, from_csv.frame)


def test_parquet_with_date32_column(tmp_path, contract):
    typed = validate_frame(valid_extract(), contract, today=TODAY).frame.copy()
    typed["disruption_date"] = typed["disruption_date"].dt.date  # stored as Parquet date32
    result = load_extract(_typed_parquet(typed, tmp_path / "d.parquet"), contract, today=TODAY)
    assert result.frame["disruption_date"].dtype == np.dtype("datetime64[ns]")
    assert result.frame.loc[0, "disruption_date"] == pd.Timestamp("2023-01-01")


def test_parquet_problems_name_file_column_and_row(tmp_path, contract):
    typed = validate_frame(valid_extract(), contract, today=TODAY).frame.copy()
    typed.loc[4, "contacts"] = -7
    path = _typed_parquet(typed, tmp_path / "bad.parquet")
    with pytest.raises(ContractError) as info:
        load_extract(path, contract, today=TODAY)
    p = only_problem(info.value)
    assert (p.column, p.rule, p.rows, p.values) == ("contacts", "value out of range", (5,), ("-7",))
    assert str(path) in str(info.value)


def test_parquet_bool_columns_are_numpy_bool(tmp_path, contract):
    typed = validate_frame(valid_extract(), contract, today=TODAY).frame
    result = load_extract(_typed_parquet(typed, tmp_path / "b.parquet"), contract, today=TODAY)
    for name in BOOL_COLUMNS:
        assert result.frame[name].dtype == np.dtype("bool"), name


def test_parquet_empty_value_message_shows_no_na_marker(tmp_path, contract):
    typed = validate_frame(valid_extract(), contract, today=TODAY).frame.copy()
    typed["contacts"] = typed["contacts"].astype("Int64")
    typed.loc[0, "contacts"] = pd.NA
    path = _typed_parquet(typed, tmp_path / "na.parquet")
    with pytest.raises(ContractError) as info:
        load_extract(path, contract, today=TODAY)
    p = only_problem(info.value)
    assert (p.column, p.rule, p.rows) == ("contacts", "empty value", (1,))
    assert "<NA>" not in str(info.value)


def test_non_utf8_file_names_the_file(tmp_path, contract):
    path = tmp_path / "latin1.csv"
    text = valid_extract().to_csv(index=False).replace("Northmoor", "Nörthmoor")
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ResilienceError) as info:
        load_extract(path, contract, today=TODAY)
    assert str(path) in str(info.value)
    assert "UTF-8" in str(info.value)


def test_missing_file_names_the_file(tmp_path, contract):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(ResilienceError) as info:
        load_extract(path, contract, today=TODAY)
    assert str(path) in str(info.value) and "no such file" in str(info.value)


def test_folder_is_not_a_file(tmp_path, contract):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(ResilienceError, match="is not a file"):
        load_extract(folder, contract, today=TODAY)


@pytest.mark.parametrize("suffix", [".xlsx", ".json", ""])
def test_unknown_suffix_names_the_file(tmp_path, contract, suffix):
    path = tmp_path / f"extract{suffix}"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ResilienceError) as info:
        load_extract(path, contract, today=TODAY)
    assert str(path) in str(info.value) and "unknown extract format" in str(info.value)


def test_corrupt_parquet_names_the_file(tmp_path, contract):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(ResilienceError) as info:
        load_extract(path, contract, today=TODAY)
    assert str(path) in str(info.value) and "Parquet" in str(info.value)


def test_read_extract_keeps_csv_values_as_text(tmp_path):
    raw = read_extract(write_csv(valid_extract(), tmp_path / "e.csv"))
    assert (raw.dtypes == object).all()  # noqa: E721 - comparing dtypes, not types
    assert raw.loc[0, "weeks_since_last_disruption"] == ""


# --------------------------------------------------------------------------------------------
# Property-based: random corruptions only ever give a ValidatedExtract or a ContractError
# --------------------------------------------------------------------------------------------

_INT64_SAFE = 2**62


def _beyond_int64(text: str) -> bool:
    """Values that parse as numbers beyond int64 trigger a known bug (tested above, xfail)."""
    try:
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        return False
    return np.isfinite(value) and abs(value) >= _INT64_SAFE


CELL_VALUES = st.one_of(
    st.text(max_size=12).filter(lambda s: not _beyond_int64(s)),
    st.none(),
    st.just(""),
    st.integers(-(10**6), -1),
    st.integers(-(10**6), -1).map(str),
    st.floats(-1e6, -1e-3).map(lambda f: f"{f:.3f}"),
    st.integers(10**9, _INT64_SAFE),
    st.integers(10**9, _INT64_SAFE).map(str),
    st.sampled_from(["1e300", "inf", "-inf", "nan", "NaN", "NA", "null", "1e400"]),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "<script>",
            "Ωmega",
            "日本語",
            "🚀",
            "١٢٣",
            "\u00a0",
            "½",
            "'; DROP TABLE lines; --",
            "true",
            "FALSE",
            "2024-13-45",
            "2023-02-29",
            "0",
            "-0",
        ]
    ),
)


def _hits_known_int64_bug(value: object, column: str) -> bool:
    """ "1e300" in an int column would hit the known int64 overflow bug (xfail tests above)."""
    return column in INT_COLUMNS and value == "1e300"


@st.composite
def corrupted_extracts(draw):
    frame = valid_extract().astype(object)
    columns = list(frame.columns)
    # replace random cells
    for _ in range(draw(st.integers(0, 8))):
        row = draw(st.integers(0, len(frame) - 1))
        column = draw(st.sampled_from(columns))
        value = draw(CELL_VALUES)
        if _hits_known_int64_bug(value, column):
            value = "1e12"
        frame.at[row, column] = value
    # duplicate random rows
    duplicates = draw(st.lists(st.integers(0, len(frame) - 1), max_size=3))
    if duplicates:
        frame = pd.concat([frame, frame.iloc[duplicates]], ignore_index=True)
    # drop random columns
    dropped = draw(st.lists(st.sampled_from(columns), max_size=3, unique=True))
    frame = frame.drop(columns=dropped)
    # shuffle column order
    order = draw(st.permutations(list(frame.columns)))
    return frame[list(order)]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=corrupted_extracts(), require_label=st.booleans())
def test_random_corruptions_give_a_typed_extract_or_a_contract_error(
    contract, frame, require_label
):
    try:
        result = validate_frame(
            frame, contract, source="random.csv", require_label=require_label, today=TODAY
        )
    except ContractError as exc:
        event("ContractError")
        assert exc.problems
        for problem in exc.problems:
            assert problem.source == "random.csv"
            assert problem.column is None or problem.column in contract.column_names
            assert all(1 <= r <= len(frame) for r in problem.rows)
        return
    event("ValidatedExtract")
    assert isinstance(result, ValidatedExtract)
    assert len(result.frame) == len(frame)
    assert set(result.frame.columns) <= set(contract.column_names)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(list(valid_extract().columns)))
def test_column_order_does_not_matter(contract, order):
    shuffled = valid_extract()[list(order)]
    result = validate_frame(shuffled, contract, today=TODAY)
    assert list(result.frame.columns) == extract_columns(contract)


def test_semicolon_separated_file_gets_a_specific_hint(tmp_path, contract):
    from resilience.data.validate import load_extract

    path = tmp_path / "semicolons.csv"
    valid_extract().to_csv(path, index=False, sep=";")
    with pytest.raises(ContractError, match="looks separated by ';'"):
        load_extract(path, contract, today=TODAY)


def test_an_extract_laid_out_for_another_data_config_is_one_problem_not_one_per_column(
    tmp_path, contract
):
    """Another force's extract (the example_force columns) scored or checked against the default
    contract was 34 lines of 'missing required column', one per column."""
    other = load_data_contract("example_force")
    frame = pd.DataFrame({name: ["x"] for name in extract_columns(other)})
    with pytest.raises(ContractError) as info:
        validate_frame(frame, contract, source="force.csv", today=TODAY)
    problem = only_problem(info.value)
    assert problem.rule.startswith(
        "the file has 0 of the 34 required columns of data config 'default' (missing "
        "'disruption_id', 'line_id', 'ocg_id', 'disruption_date', 'policing_area' and 29 more; "
        "it has 'ref', 'line_ref', "
    )
    assert "needs its own data config (data=<name>)" in problem.expected


def test_a_missing_value_written_as_text_is_warned_of_where_a_cell_may_be_empty(tmp_path, contract):
    """R, pandas and spreadsheets write 'NA', 'null' or 'None' for "no value". In a column that
    may be empty (the crime group) such a word is kept as a value of that name, so every line
    exported without a group would count as one crime group "NA" in the briefing: a warning names
    the column and the rows and says to leave the cell empty."""
    frame = valid_extract()
    empty = frame["ocg_id"] == ""
    frame.loc[empty, "ocg_id"] = ["NA", "null"] * (int(empty.sum()) // 2) + ["NA"] * (
        int(empty.sum()) % 2
    )
    extract = load_extract(write_csv(frame, tmp_path / "extract.csv"), contract, today=TODAY)
    (warning,) = [w for w in extract.warnings if "written where the cell may be empty" in w.rule]
    assert warning.column == "ocg_id" and warning.count == int(empty.sum())
    assert "'NA'" in warning.rule and "'null'" in warning.rule and warning.severity == "warning"
    assert "an empty cell for no value" in str(warning)
    assert set(extract.frame.loc[empty.to_numpy(), "ocg_id"].astype(str)) == {"NA", "null"}
    # a column that may not be empty holds real values only: no such warning
    assert not [w for w in extract.warnings if w.column != "ocg_id" and "written where" in w.rule]
