"""Extracts a QA tester built to slip past validation, each refused with a message naming the file,
the column, the row and what was expected (or, for a label when scoring, noted), while the values
the contract documents as valid still pass.

Scoring cases use the five-tree fixture model of ``test_hostile_input`` (well under a second).
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from test_hostile_input import model_ref, tiny_model, week_extract
from test_validate import TODAY, valid_extract

from resilience.core.errors import ContractError, ResilienceError
from resilience.data.contract import DataContract, load_data_contract
from resilience.data.contract_specs import ColumnSpec
from resilience.data.io import iter_extract, read_extract
from resilience.data.parse import FALSE_WORDS, TRUE_WORDS
from resilience.data.validate import load_extract, validate_frame
from resilience.weekly.score import score_week


@pytest.fixture(scope="module")
def contract():
    return load_data_contract("default")


@pytest.fixture(scope="module")
def model(contract):
    return tiny_model(contract)


def refused(path, contract, **kwargs) -> ContractError:
    with pytest.raises(ContractError) as caught:
        load_extract(path, contract, today=TODAY, **kwargs)
    return caught.value


def assert_one_line_naming(err: ContractError, path, column: str | None, row, expected: str):
    """One problem, naming the file, the column (or the extract), the data row (if any) and what
    was expected."""
    assert len(err.problems) == 1, str(err)
    line = str(err.problems[0])
    assert "\n" not in line
    assert line.startswith(f"{path}: {f'column {column!r}' if column else 'extract'}: "), line
    assert row is None or f"row {row} " in line, line
    assert f"expected {expected}" in line, line


# -- 1. dates: the whole cell must be an ISO date or date-time ----------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2023-10-05 garbage",
        "2023-11-05Tjunk",
        "2023-10-05T",
        "2023-10-05x",
        "2023-10-05 25:00",
        "2023-10-05T10:00:00 +05:00",
        "2023-10-05T10:00:00+05:00junk",
    ],
)
def test_a_date_followed_by_other_text_is_refused(tmp_path, contract, value):
    frame = valid_extract()
    frame.loc[3, "disruption_date"] = value
    path = tmp_path / "dates.csv"
    frame.to_csv(path, index=False)
    err = refused(path, contract)
    assert_one_line_naming(err, path, "disruption_date", 4, "an ISO date (YYYY-MM-DD")
    assert err.problems[0].rule == "wrong type" and err.problems[0].values == (value,)


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2023-10-05", "2023-10-05"),
        (" 2023-10-05 ", "2023-10-05"),
        ("2023-10-05 00:00:00", "2023-10-05"),
        ("2023-10-05T10:30", "2023-10-05"),
        ("2023-10-05T10:30:00.123456", "2023-10-05"),
        ("2023-10-05T23:30:00-08:00", "2023-10-05"),
        ("2023-10-05T00:30:00Z", "2023-10-05"),
        ("2023-10-05T10:00:00+0530", "2023-10-05"),
    ],
)
def test_iso_dates_and_date_times_still_pass_and_keep_the_day_as_written(contract, value, day):
    frame = valid_extract()
    frame.loc[3, "disruption_date"] = value
    typed = validate_frame(frame, contract, today=TODAY).frame["disruption_date"]
    assert str(typed[3].date()) == day


def test_a_date_with_trailing_text_is_refused_in_a_parquet_of_text_too(tmp_path, contract):
    frame = valid_extract()
    frame.loc[0, "disruption_date"] = "2023-10-05 garbage"
    path = tmp_path / "dates.parquet"
    frame.to_parquet(path, index=False)
    assert_one_line_naming(refused(path, contract), path, "disruption_date", 1, "an ISO date")


# -- 2. a Parquet column of lists ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "cell"),
    [("line_id", [1, 2]), ("disruption_id", ["a", "b"]), ("contacts", [3, 4])],
    ids=["text-of-ints", "text-of-text", "int-of-ints"],
)
def test_a_parquet_column_of_lists_is_refused(tmp_path, contract, column, cell):
    frame = valid_extract()
    frame[column] = [cell] * len(frame)
    path = tmp_path / "lists.parquet"
    frame.to_parquet(path, index=False)
    err = refused(path, contract)
    assert_one_line_naming(err, path, column, 1, "one value in each cell")
    problem = err.problems[0]
    assert problem.rule == "holds lists or arrays, not single values"
    assert problem.count == len(frame) and "and 15 more" in str(problem)


def test_a_parquet_column_of_mappings_is_refused(tmp_path, contract):
    frame = valid_extract()
    frame["policing_area"] = [{"name": "Northmoor"}] * len(frame)
    path = tmp_path / "structs.parquet"
    frame.to_parquet(path, index=False)
    err = refused(path, contract)
    assert_one_line_naming(err, path, "policing_area", 1, "one value in each cell")


def test_one_array_cell_among_text_is_refused_on_its_row(contract):
    frame = valid_extract().astype(object)
    frame.at[6, "line_id"] = np.array(["SYN-L0001", "SYN-L0002"])
    with pytest.raises(ContractError) as caught:
        validate_frame(frame, contract, source="mixed.parquet", today=TODAY)
    assert_one_line_naming(caught.value, "mixed.parquet", "line_id", 7, "one value in each cell")


def test_a_list_column_is_never_scored(model, tmp_path):
    frame = week_extract(6)
    frame["line_id"] = [[1, 2]] * len(frame)
    path = tmp_path / "week.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(ContractError, match="column 'line_id': holds lists or arrays"):
        score_week(path, model, model_ref(), tmp_path / "out", today=TODAY)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("20*"))


# -- 3. ids differing only by surrounding spaces --------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("disruption_id", "SYN-D00004 "),
        ("disruption_id", " SYN-D00099"),
        ("line_id", "SYN-L0002\u00a0"),
        ("ocg_id", "\u3000SYN-G00001"),
    ],
)
def test_an_id_with_surrounding_spaces_is_refused(tmp_path, contract, column, value):
    frame = valid_extract()
    frame.loc[5, column] = value
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    err = refused(path, contract)
    assert_one_line_naming(err, path, column, 6, "an id without surrounding spaces")
    assert err.problems[0].values == (value,)


def test_a_duplicate_id_hidden_by_a_trailing_space_is_caught(tmp_path, contract):
    frame = valid_extract()
    frame.loc[5, "disruption_id"] = frame.loc[4, "disruption_id"] + " "
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    assert "SYN-D00004 " in str(refused(path, contract))


def test_spaces_inside_an_id_and_around_a_category_still_pass(contract):
    frame = valid_extract()
    frame.loc[0, "disruption_id"] = "SYN D 00000"
    frame.loc[1, "policing_area"] = " Eastvale "
    typed = validate_frame(frame, contract, today=TODAY).frame
    assert typed.loc[0, "disruption_id"] == "SYN D 00000"
    assert typed.loc[1, "policing_area"] == "Eastvale"


# -- 3b. ids and categories holding an invisible character --------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("line_id", "SYN-L00\u200b01", "U+200B ZERO WIDTH SPACE"),
        ("disruption_id", "SYN-D\ufeff00005", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("disruption_id", "SYN-D\u00ad00005", "U+00AD SOFT HYPHEN"),
        ("ocg_id", "SYN-G0000\u20601", "U+2060 WORD JOINER"),
        ("line_id", "SYN-L0002\u200d", "U+200D ZERO WIDTH JOINER"),
        ("line_id", "SYN-L\u31640002", "U+3164 HANGUL FILLER"),
        ("policing_area", "Eastvale\u200b", "U+200B ZERO WIDTH SPACE"),
    ],
)
def test_an_invisible_character_in_an_id_or_category_is_refused(
    tmp_path, contract, column, value, named
):
    frame = valid_extract()
    frame.loc[5, column] = value
    path = tmp_path / "invisible.csv"
    frame.to_csv(path, index=False)
    err = refused(path, contract)
    expected = f"{contract.column(column).expected()} without invisible characters"
    assert_one_line_naming(err, path, column, 6, expected)
    assert f"invisible character {named} in the " in str(err.problems[0])
    assert err.problems[0].values == (value,)


def test_a_duplicate_id_hidden_by_a_zero_width_space_is_caught(tmp_path, contract):
    frame = valid_extract()
    frame.loc[5, "disruption_id"] = "SYN-D\u200b00004"  # looks like row 5's SYN-D00004
    frame.loc[7, "disruption_id"] = "SYN-D0000\u200c6"
    path = tmp_path / "ids.parquet"
    frame.to_parquet(path, index=False)
    (problem,) = refused(path, contract).problems
    assert problem.rows == (6, 8) and problem.count == 2
    assert "U+200B ZERO WIDTH SPACE, U+200C ZERO WIDTH NON-JOINER" in problem.rule


def test_a_control_character_is_not_also_named_invisible(contract):
    """A bidi override is a control character (and category Cf): one problem, not two."""
    frame = valid_extract()
    frame.loc[2, "line_id"] = "SYN-L\u202e0001"
    with pytest.raises(ContractError) as caught:
        validate_frame(frame, contract, today=TODAY)
    assert [p.rule for p in caught.value.problems] == ["control character"]


def test_free_text_may_hold_joiners_and_soft_hyphens():
    """An emoji sequence or a hyphenation point is text, not a hidden id: free text keeps them."""
    config = load_data_contract("default").to_dict()
    config["columns"]["notes"] = {"dtype": "text", "role": "context", "nullable": True}
    contract = DataContract.from_dict(config)
    frame = valid_extract().assign(notes="")
    frame.loc[0, "notes"] = "seen at the flat \U0001f468\u200d\U0001f467 with a pass\u00adword"
    typed = validate_frame(frame, contract, today=TODAY).frame
    assert typed.loc[0, "notes"] == frame.loc[0, "notes"]


# -- 4. a header-only extract given to scoring -----------------------------------------------------


def test_a_header_only_extract_is_one_problem_when_scoring(model, tmp_path):
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(week_extract(1).columns) + "\n", encoding="utf-8")
    assert list(iter_extract(path)) == []
    with pytest.raises(ContractError) as caught:
        score_week(path, model, model_ref(), tmp_path / "out", today=TODAY)
    assert str(caught.value).startswith(f"{path}: "), str(caught.value)  # one problem, one line
    assert "\n" not in str(caught.value)
    assert_one_line_naming(caught.value, path, None, None, "at least one data row")


# -- 5. a missing column whose near miss is in the file -----------------------------------------


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("Contacts", "Contacts"),
        ("CONTACTS", "CONTACTS"),
        ("contacts\u200b", "contacts\\u200b"),
        ("\ufeffcontacts", "\\ufeffcontacts"),
        ("contact", "contact"),
    ],
)
def test_a_missing_column_names_its_near_miss_in_the_file(tmp_path, contract, written, shown):
    path = tmp_path / "near.csv"
    valid_extract().rename(columns={"contacts": written}).to_csv(path, index=False)
    err = refused(path, contract)
    assert len(err.problems) == 1, str(err)
    line = str(err.problems[0])
    assert line.startswith(f"{path}: column 'contacts': missing required column ")
    assert f"(the file has '{shown}': column names are matched exactly)" in line
    assert "expected a column named 'contacts'" in line


def test_a_missing_column_without_a_near_miss_says_only_that(tmp_path, contract):
    path = tmp_path / "far.csv"
    valid_extract().rename(columns={"contacts": "officer_notes"}).to_csv(path, index=False)
    (problem,) = refused(path, contract).problems
    assert problem.rule == "missing required column"


def test_surrounding_spaces_in_a_header_name_are_not_part_of_it(tmp_path, contract):
    """As before: header names are read without the spaces around them (documented)."""
    path = tmp_path / "spaced.csv"
    valid_extract().rename(columns={"contacts": " contacts "}).to_csv(path, index=False)
    assert "contacts" in load_extract(path, contract, today=TODAY).frame.columns


# -- 6. ragged CSV rows ---------------------------------------------------------------------------


def _lines_with(tmp_path, change) -> tuple:
    path = tmp_path / "ragged.csv"
    valid_extract().to_csv(path, index=False)
    lines = path.read_text(encoding="utf-8").splitlines()
    change(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(lines[0].split(","))


def test_a_row_with_a_field_too_many_names_the_row_and_both_counts(tmp_path, contract):
    path, fields = _lines_with(tmp_path, lambda lines: lines.__setitem__(5, lines[5] + ",extra"))
    for read in (read_extract, lambda p: list(iter_extract(p, chunk_rows=2))):
        with pytest.raises(ContractError) as caught:
            read(path)
        assert_one_line_naming(caught.value, path, None, 5, f"{fields} fields in every row")
        assert f"row 5 ('{fields + 1} fields')" in str(caught.value)
        assert "tokenizing" not in str(caught.value)


def test_a_row_with_fields_missing_is_refused_not_padded(tmp_path, contract):
    path, fields = _lines_with(
        tmp_path, lambda lines: lines.__setitem__(9, lines[9].rsplit(",", 2)[0])
    )
    err = refused(path, contract)
    assert_one_line_naming(err, path, None, 9, f"{fields} fields in every row")
    assert f"row 9 ('{fields - 2} fields')" in str(err)


def test_every_row_with_a_field_too_many_is_refused_not_shifted(tmp_path, contract):
    """pandas would take the first field of each row as the index and shift every value left."""

    def widen(lines):
        lines[1:] = [line + ",x" for line in lines[1:]]

    path, fields = _lines_with(tmp_path, widen)
    err = refused(path, contract)
    assert err.problems[0].count == 20 and "and 15 more" in str(err)
    assert f"expected {fields} fields in every row" in str(err)


@pytest.mark.parametrize("rows", [20, 3000])
def test_a_double_quote_left_open_names_its_line_not_a_row_count(model, tmp_path, rows):
    """A quote opened at the start of row 2 runs to the end of the file: pandas said 'Error
    tokenizing data. C error: EOF inside string', scoring blamed row 1 for holding '1 field', and
    past 131,072 characters the scan gave up without a word."""
    frame = week_extract(rows)
    path = tmp_path / "open_quote.csv"
    frame.to_csv(path, index=False)
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[2] = '"' + lines[2]
    shown = lines[2][:37] + "..."
    path.write_text("\n".join(lines), encoding="utf-8")
    for read in (
        read_extract,
        lambda p: score_week(p, model, model_ref(), tmp_path / "out", today=TODAY),
    ):
        with pytest.raises(ContractError) as caught:
            read(path)
        assert str(caught.value) == (
            f"{path}: extract: a double quote opened on line 3 of the file is not closed on its "
            "line (the lines after it were read as one value); expected a closing double quote "
            'for each opening one (a double quote inside a quoted value is written twice: ""); '
            f"1 offending row: row 2 ({shown!r})"
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_value_too_long_for_the_csv_module_is_not_called_an_open_quote(tmp_path, contract):
    frame = valid_extract()
    frame.loc[2, "policing_area"] = "A" * 200_000
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    (problem,) = refused(path, contract).problems
    assert (problem.column, problem.rule, problem.rows) == ("policing_area", "value too long", (3,))


def test_ragged_rows_are_numbered_as_data_rows(tmp_path, contract):
    """A quoted value spanning two lines and a blank line do not shift the row number."""
    frame = valid_extract()
    frame.loc[1, "policing_area"] = "North\nmoor"
    path = tmp_path / "multi.csv"
    frame.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    text = path.read_text(encoding="utf-8").split("\n")
    # text[0] header, text[1] row 1, text[2:4] row 2 (two lines), "" blank, then row 3 onwards
    text.insert(4, "")
    text[6] += ',"extra"'  # data row 4
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        read_extract(path)
    assert caught.value.problems[0].rows == (4,)


def test_blank_and_all_space_lines_are_no_rows(tmp_path, contract):
    path, _ = _lines_with(tmp_path, lambda lines: lines.__setitem__(slice(3, 3), ["", "   "]))
    assert len(load_extract(path, contract, today=TODAY).frame) == 20


def test_an_unclosed_quote_is_named_with_its_row_and_line(tmp_path, contract):
    path = tmp_path / "quote.csv"
    path.write_text('disruption_id,line_id\nA,B\n"C,D\nE,F\n', encoding="utf-8")
    err = refused(path, contract)
    assert_one_line_naming(err, path, None, 2, "a closing double quote for each opening one")
    assert "a double quote opened on line 3 of the file" in str(err)
    assert "row 2 ('\"C,D')" in str(err)


# -- 7. the yes/no message lists what is accepted ------------------------------------------------


def test_the_yes_no_message_lists_every_accepted_spelling(tmp_path, contract):
    expected = ColumnSpec(name="ddtro", dtype="bool", role="feature").expected()
    for word in TRUE_WORDS | FALSE_WORDS:
        if "." not in word:  # 1.0 and 0.0 are the numbers 1 and 0
            assert word in expected.replace("/", " ").replace(",", " ").split(), word
    frame = valid_extract()
    frame.loc[2, "ddtro"] = "maybe"
    path = tmp_path / "bool.csv"
    frame.to_csv(path, index=False)
    assert_one_line_naming(
        refused(path, contract), path, "ddtro", 3, "true/false, yes/no, t/f, y/n or 1/0"
    )


@pytest.mark.parametrize("word", ["yes", "No", "Y", "n", "T", "f", "1.0"])
def test_every_listed_spelling_is_accepted(contract, word):
    frame = valid_extract()
    frame.loc[2, "ddtro"] = word
    assert validate_frame(frame, contract, today=TODAY).frame.loc[2, "ddtro"] in (True, False)


# -- 8. a label in a scoring extract -------------------------------------------------------------


def test_a_label_holding_values_is_noted_when_scoring(contract):
    result = validate_frame(valid_extract(), contract, source="w.csv", today=TODAY, scoring=True)
    assert [str(w) for w in result.warnings] == [
        "w.csv: column 'persisted_12w': the label column is present and is not used for "
        "scoring; expected labels only in a training extract (scoring never reads them)"
    ]


def test_no_label_note_for_training_checks_or_an_empty_label_column(contract):
    """resilience-validate and training read the label; an empty one is how a week may carry it."""
    assert validate_frame(valid_extract(), contract, today=TODAY).warnings == []
    training = validate_frame(valid_extract(), contract, require_label=True, today=TODAY)
    assert training.warnings == []
    empty = valid_extract()
    empty["persisted_12w"] = ""
    assert validate_frame(empty, contract, today=TODAY, scoring=True).warnings == []


def test_scoring_a_labelled_week_says_once_that_the_label_is_not_used(model, tmp_path):
    path = tmp_path / "week.csv"
    valid_extract(6).to_csv(path, index=False)
    result = score_week(path, model, model_ref(), tmp_path / "out", today=TODAY, chunk_rows=2)
    notes = [w for w in result.manifest["warnings"] if "label column is present" in w]
    assert len(notes) == 1 and "column 'persisted_12w'" in notes[0]
    assert "persisted_12w" not in pd.read_csv(result.folder / "scores.csv").columns


# -- 9. dates with a time zone, scored -------------------------------------------------------------


def test_a_week_whose_dates_carry_a_time_zone_is_scored_like_the_same_week_written_plain(
    model, tmp_path
):
    """Validation reads a zoned date as the calendar day written; the week's as-of date and each
    record's age were read from the raw column, zoned, and subtracting the two crashed scoring."""
    plain = week_extract(8)
    days = pd.to_datetime(plain["disruption_date"])
    files = {
        "plain.csv": plain,
        "zoned.parquet": plain.assign(disruption_date=days.dt.tz_localize("Europe/London")),
        "offset.csv": plain.assign(disruption_date=plain["disruption_date"] + "T23:30:00-08:00"),
    }
    scored = {}
    for name, frame in files.items():
        path = tmp_path / name
        frame.to_parquet(path, index=False) if name.endswith(".parquet") else frame.to_csv(
            path, index=False
        )
        result = score_week(path, model, model_ref(), tmp_path / f"out-{name}", today=TODAY)
        scored[name] = (result.week, pd.read_parquet(result.folder / "scores.parquet"))
    week, scores = scored["plain.csv"]
    for name in ("zoned.parquet", "offset.csv"):
        assert scored[name][0] == week, name
        pd.testing.assert_frame_equal(scored[name][1], scores)


# -- 10. a file that is not what its name says --------------------------------------------------


def _workbook(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")


@pytest.mark.parametrize(
    ("name", "write", "said"),
    [
        (
            "book.csv",
            _workbook,
            "a zip file (an Excel .xlsx workbook?), not CSV text; save it as CSV UTF-8",
        ),
        (
            "week.csv",
            lambda p: valid_extract().to_parquet(p, index=False),
            "a Parquet file, not CSV text; name it .parquet",
        ),
        (
            "week.parquet",
            lambda p: valid_extract().to_csv(p, index=False, lineterminator="\r\n"),
            "comma-separated text, not a Parquet file; name it .csv",
        ),
    ],
)
def test_a_file_that_is_not_what_its_name_says_is_named_for_what_it_is(tmp_path, name, write, said):
    """A workbook saved as .csv was 'not valid UTF-8 text (... Latin-1 or Windows-1252 text?)',
    and a CSV named .parquet 'Parquet magic bytes not found in footer'."""
    path = tmp_path / name
    write(path)
    for read in (read_extract, lambda p: list(iter_extract(p))):
        with pytest.raises(ResilienceError) as caught:
            read(path)
        assert str(caught.value) == f"{path}: {said}"
