"""Contradictory records of one line in one extract (``per_line`` in the data config): a line
recorded with two values of a column set to ``error`` (a force's choice; here its line type and
origin hub) is refused, one set to ``warning`` (the default config's, such as two policing areas)
is reported and kept; each message names the file, the column, the line, its values and the
rows. Streamed scoring catches a line whose rows disagree across chunks as well."""

from __future__ import annotations

import pandas as pd
import pytest
from test_hostile_input import model_ref, tiny_model, week_extract
from test_validate import TODAY, valid_extract

from resilience.core.errors import ConfigError, ContractError
from resilience.data.contract import DataContract, load_data_contract
from resilience.data.line_checks import conflicting_lines
from resilience.data.validate import load_extract, validate_frame
from resilience.weekly.score import score_week


@pytest.fixture(scope="module")
def contract():
    return load_data_contract("default")


@pytest.fixture(scope="module")
def strict(contract):
    """The default contract with a line's type and origin hub refused when they change."""
    config = contract.to_dict()
    for name in ("line_type", "origin_hub"):
        config["columns"][name]["per_line"] = "error"
    return DataContract.from_dict(config)


@pytest.fixture(scope="module")
def model(strict):
    return tiny_model(strict)


def refused(path, contract) -> ContractError:
    with pytest.raises(ContractError) as caught:
        load_extract(path, contract, today=TODAY)
    return caught.value


def test_the_default_config_declares_which_columns_describe_the_line(contract):
    assert {name: contract.column(name).per_line for name in contract.per_line_columns} == {
        "ocg_id": "warning",
        "policing_area": "warning",
        "line_type": "warning",
        "origin_hub": "warning",
    }
    frame = valid_extract()  # so two line types of one line are reported, the extract kept
    frame.loc[9, ["line_type", "origin_hub"]] = ["home_grown", "local"]
    result = validate_frame(frame, contract, source="types.csv", today=TODAY)
    assert [w.column for w in result.warnings] == ["line_type", "origin_hub"]


def test_a_line_recorded_with_two_line_types_is_refused(tmp_path, strict):
    frame = valid_extract()  # rows 9 and 10 are line SYN-L0004 (other_hub, imported)
    frame.loc[9, ["line_type", "origin_hub"]] = ["home_grown", "local"]
    path = tmp_path / "two_types.csv"
    frame.to_csv(path, index=False)
    err = refused(path, strict)
    lines = [str(p) for p in err.problems]
    assert [p.column for p in err.problems] == ["line_type", "origin_hub"], lines
    assert lines[0] == (
        f"{path}: column 'line_type': line 'SYN-L0004' is recorded with 2 different values "
        "('imported', 'home_grown'); expected one line_type for every disruption of a line "
        "(Line type describes the line, not the disruption: data config 'default', per_line: "
        "error); 2 offending rows: row 9 ('imported'), row 10 ('home_grown')"
    )
    assert "line 'SYN-L0004' is recorded with 2 different values ('other_hub', 'local')" in lines[1]


def test_every_line_in_conflict_is_counted_and_the_first_few_named(tmp_path, strict):
    frame = valid_extract()
    for row in (1, 3, 5, 7, 9):  # the second row of lines 0-4 moves hub (all imported hubs)
        frame.loc[row, "origin_hub"] = (
            "other_hub" if frame.loc[row, "origin_hub"] != "other_hub" else "london"
        )
    path = tmp_path / "hubs.parquet"
    frame.to_parquet(path, index=False)
    (problem,) = refused(path, strict).problems
    assert problem.rule.startswith("line 'SYN-L0000' is recorded with 2 different values")
    assert (
        "; so are 4 other lines: 'SYN-L0001', 'SYN-L0002', 'SYN-L0003' and 1 more" in problem.rule
    )
    assert problem.rows[:2] == (1, 2) and problem.count == 10


def test_a_line_in_two_policing_areas_is_a_warning_and_kept(contract):
    frame = valid_extract()
    frame.loc[1, "policing_area"] = "Westbrook"  # line SYN-L0000 was in Northmoor on row 1
    result = validate_frame(frame, contract, source="areas.csv", today=TODAY)
    (warning,) = result.warnings
    assert warning.severity == "warning" and warning.column == "policing_area"
    assert str(warning).startswith(
        "areas.csv: column 'policing_area': line 'SYN-L0000' is recorded with 2 different values "
        "('Northmoor', 'Westbrook')"
    )
    assert result.frame.loc[1, "policing_area"] == "Westbrook"


def test_empty_values_and_spacing_contradict_nothing(contract):
    frame = valid_extract()
    frame.loc[1, "ocg_id"] = "SYN-G00000"  # row 0 of the line has it, row 1 had none: no conflict
    frame.loc[2, "ocg_id"] = ""
    frame.loc[3, "line_type"] = " imported "  # one category, as the contract reads it
    assert validate_frame(frame, contract, today=TODAY).warnings == []


def test_a_value_already_refused_is_one_problem_not_two(tmp_path, strict):
    frame = valid_extract()
    frame.loc[9, "origin_hub"] = "Leeds"
    path = tmp_path / "leeds.csv"
    frame.to_csv(path, index=False)
    assert [p.rule for p in refused(path, strict).problems] == ["unknown category"]


def test_conflicting_lines_keeps_the_order_of_first_appearance():
    lines = pd.Series(["B", "A", "B", "A", "C", "C"])
    values = pd.Series(["x", "y", "z", None, "w", "w"])
    assert conflicting_lines(lines, values) == {"B": ["x", "z"]}


@pytest.mark.parametrize(
    ("setting", "column", "says"),
    [
        (True, "line_type", "per_line must be 'error'"),
        ("refuse", "line_type", "per_line must be 'error'"),
        ("error", "handsets_seized", "per_line marks a fact about the line"),
        ("error", "line_id", "per_line marks a fact about the line"),
    ],
)
def test_a_per_line_setting_that_cannot_work_is_refused(contract, setting, column, says):
    config = contract.to_dict()
    config["columns"][column]["per_line"] = setting
    with pytest.raises(ConfigError, match=says) as caught:
        DataContract.from_dict(config)
    assert f"column '{column}'" in str(caught.value)


def test_per_line_travels_with_the_model_contract(strict):
    again = DataContract.from_dict(strict.to_dict())
    assert again.column("line_type").per_line == "error"
    assert again == strict


# -- scoring, chunk by chunk ------------------------------------------------------------------------


def test_scoring_refuses_a_line_whose_type_changes_between_chunks(model, tmp_path):
    frame = week_extract(8)  # rows 3 and 4 are different lines; make row 4 line SYN-L0001's
    frame.loc[4, "line_id"] = "SYN-L0001"  # SYN-L0001: birmingham, imported (rows 3-4)
    frame.loc[4, ["line_type", "origin_hub"]] = ["home_grown", "local"]
    path = tmp_path / "week.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ContractError) as caught:
        score_week(path, model, model_ref(), tmp_path / "out", today=TODAY, chunk_rows=4)
    lines = [str(p) for p in caught.value.problems]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}: column 'line_type': line 'SYN-L0001' is recorded with 2")
    assert "rows: row 3 ('imported'), row 4 ('imported'), row 5 ('home_grown')" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("20*"))


def test_scoring_notes_once_a_line_seen_in_two_areas_across_chunks(model, tmp_path):
    frame = week_extract(8)
    frame.loc[4, "line_id"] = "SYN-L0001"
    frame.loc[4, ["line_type", "origin_hub"]] = frame.loc[3, ["line_type", "origin_hub"]].tolist()
    path = tmp_path / "week.csv"
    frame.to_csv(path, index=False)
    result = score_week(path, model, model_ref(), tmp_path / "out", today=TODAY, chunk_rows=4)
    notes = [w for w in result.manifest["warnings"] if "column 'policing_area'" in w]
    assert len(notes) == 1 and "line 'SYN-L0001' is recorded with 2 different values" in notes[0]
