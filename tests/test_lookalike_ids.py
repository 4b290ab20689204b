"""Ids that look like other ids (a Cyrillic ``С`` or a Greek ``Ο`` in place of a Latin letter) are
refused, each pair in one message naming the file, the column, the rows, both ids and the
lookalike characters; one id mixing Latin, Cyrillic and Greek letters is refused too, while ids
written wholly in Cyrillic or Greek still pass (resilience.data.lookalikes)."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from conftest import run_command
from test_hostile_input import model_ref, tiny_model, week_extract
from test_validate import TODAY, valid_extract

from resilience.core.errors import ContractError
from resilience.data.contract import DataContract, load_data_contract
from resilience.data.lookalikes import LOOKALIKES, lookalike_problems, skeleton
from resilience.data.validate import load_extract, validate_frame
from resilience.governance.outcomes import read_labels
from resilience.weekly.score import score_week

ES = "\u0421"  # CYRILLIC CAPITAL LETTER ES, looks like C
OMICRON = "\u039f"  # GREEK CAPITAL LETTER OMICRON, looks like O


@pytest.fixture(scope="module")
def contract():
    return load_data_contract("default")


def refusal(frame: pd.DataFrame, contract: DataContract) -> ContractError:
    with pytest.raises(ContractError) as caught:
        validate_frame(frame, contract, source="week.csv", today=TODAY)
    return caught.value


def test_a_line_id_with_a_cyrillic_letter_beside_its_latin_twin_is_refused(tmp_path, contract):
    frame = valid_extract()
    frame["line_id"] = frame["line_id"].str.replace("SYN-L", "SYN-LC")
    twin = frame.loc[5, "line_id"].replace("C", ES)  # rows 5 and 6 are line SYN-LC0002
    frame.loc[5, "line_id"] = twin
    path = tmp_path / "week.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ContractError) as caught:
        load_extract(path, contract, today=TODAY)
    (problem,) = caught.value.problems
    line = str(problem)
    assert line.startswith(f"{path}: column 'line_id': two ids that look the same, ")
    assert f"'SYN-LC0002' and '{twin}'" in line
    assert "U+0421 CYRILLIC CAPITAL LETTER ES (looks like 'C')" in line
    assert problem.rows == (6, 5) and problem.values == (twin, "SYN-LC0002")
    assert "expected each id spelt one way: an id with a Cyrillic or Greek letter" in line


def test_a_duplicate_disruption_hidden_by_a_greek_omicron_is_caught(tmp_path, contract):
    frame = valid_extract()
    frame.loc[7, "disruption_id"] = "SYN-D" + OMICRON + "0003"  # looks like row 4's SYN-D00003
    path = tmp_path / "week.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(ContractError) as caught:
        load_extract(path, contract, today=TODAY)
    (problem,) = caught.value.problems
    assert problem.column == "disruption_id" and problem.rows == (8, 4)
    assert "'SYN-D00003' and 'SYN-DΟ0003'" in problem.rule
    assert "U+039F GREEK CAPITAL LETTER OMICRON" in problem.rule


def test_one_id_mixing_scripts_is_refused_with_its_letters_named(contract):
    frame = valid_extract()
    frame.loc[2, "ocg_id"] = "SYN-G\u04150001"  # CYRILLIC CAPITAL LETTER IE: no twin in the file
    frame.loc[3, "line_id"] = frame.loc[2, "line_id"] = "\u0405YN-L9999"  # CYRILLIC DZE for S
    problems = refusal(frame, contract).problems
    assert [(p.column, p.rows) for p in problems] == [("line_id", (3, 4)), ("ocg_id", (3,))]
    assert problems[0].rule.startswith("letters of Latin and Cyrillic in one id: ")
    assert "U+0405 CYRILLIC CAPITAL LETTER DZE (looks like 'S')" in problems[0].rule
    assert "U+0415 CYRILLIC CAPITAL LETTER IE (looks like 'E')" in problems[1].rule
    assert "an id written in one script" in problems[1].expected


@pytest.mark.parametrize(
    ("disruption", "line"),
    [
        ("СИН-Д0001", "СИН-Л0001"),  # all Cyrillic
        ("ΔΙΑΚ-0001", "ΓΡΑΜΜΗ-01"),  # all Greek
        ("SYN-D\u00e90001", "SYN-\u00d1001"),  # Latin with accents
        ("SYN-D0001", "SYN-LOOO1"),  # an O where the file's other ids have 0s: both ASCII
        ("SYN-D2", "線-0001"),  # another script beside Latin digits
    ],
)
def test_ids_in_one_script_are_accepted(contract, disruption, line):
    frame = valid_extract()
    frame.loc[0, "disruption_id"] = disruption
    frame.loc[0:1, "line_id"] = line
    typed = validate_frame(frame, contract, today=TODAY).frame
    assert typed.loc[0, "disruption_id"] == disruption and typed.loc[1, "line_id"] == line


def test_all_cyrillic_id_that_looks_like_a_latin_one_is_a_twin(contract):
    frame = valid_extract()
    frame.loc[0:1, "line_id"] = "BOX-1"
    frame.loc[2:3, "line_id"] = "\u0412\u041e\u0425-1"  # ВОХ-1, all Cyrillic
    (problem,) = refusal(frame, contract).problems
    assert problem.rows == (3, 4, 1, 2) and "'BOX-1' and 'ВОХ-1'" in problem.rule


def test_a_composed_and_a_decomposed_accent_are_one_id(contract):
    frame = valid_extract()
    frame.loc[0, "disruption_id"] = "SYN-D\u00e9"
    frame.loc[1, "disruption_id"] = "SYN-De\u0301"
    (problem,) = refusal(frame, contract).problems
    assert problem.rows == (2, 1)
    assert "U+00E9 LATIN SMALL LETTER E WITH ACUTE, U+0301 COMBINING ACUTE ACCENT" in problem.rule


def test_the_id_columns_come_from_the_data_config_roles(contract):
    """A force's own id column (role id) is checked; a category is not an id (it may be Greek)."""
    config = contract.to_dict()
    config["columns"]["case_ref"] = config["columns"].pop("disruption_id")
    renamed = DataContract.from_dict(config)
    frame = valid_extract().rename(columns={"disruption_id": "case_ref"})
    frame.loc[5, "case_ref"] = "SYN-D0000" + "\u0417"  # CYRILLIC ZE looks like the 3 of row 4
    (problem,) = refusal(frame, renamed).problems
    assert problem.column == "case_ref" and "'SYN-D00003' and 'SYN-D0000З'" in problem.rule


def test_many_pairs_are_five_messages_and_one_for_the_rest(contract):
    frame = valid_extract(40)
    frame.loc[20:39, "disruption_id"] = [f"SYN-D{i:05d}".replace("S", "\u0405") for i in range(20)]
    problems = refusal(frame, contract).problems
    assert len(problems) == 6
    assert problems[-1].rule.startswith("15 more pairs of ids that look the same: ")
    assert problems[-1].count == 15


def test_the_table_maps_each_lookalike_to_a_letter_or_digit_of_another_script():
    for prototype, chars in LOOKALIKES.items():
        assert prototype.isascii() and prototype.isalnum()
        for ch in chars:
            assert ch != prototype and skeleton(ch) == skeleton(prototype), (ch, prototype)
    assert skeleton("ＳＹＮ-𝐋0001") == skeleton("SYN-L0001")  # fullwidth and mathematical forms


def test_a_hundred_thousand_ids_with_one_twin_are_checked_quickly():
    ids = pd.Series([f"SYN-L{i:06d}" for i in range(100_000)])
    ids[99_999] = "SYN-L00" + OMICRON + "042"
    start = time.perf_counter()
    (problem,) = lookalike_problems(ids, "line_id", "week.csv", ids)
    assert time.perf_counter() - start < 2.0  # about 0.15 s here
    assert problem.rows == (100_000, 43)


def test_resilience_validate_says_it_in_one_line_and_exits_non_zero(tmp_path):
    frame = valid_extract()
    frame.loc[5, "line_id"] = "SYN-L" + OMICRON + "002"
    path = tmp_path / "week.csv"
    frame.to_csv(path, index=False)
    done = run_command("resilience-validate", f"input={path}", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "two ids that look the same, 'SYN-L0002' and 'SYN-LΟ002'" in done.stderr
    assert "U+039F GREEK CAPITAL LETTER OMICRON" in done.stderr


@pytest.fixture(scope="module")
def model(contract):
    return tiny_model(contract)


def _refused_in_chunks(frame, model, tmp_path) -> ContractError:
    """Score ``frame`` as a CSV read four rows a chunk; the refusal it must give."""
    path = tmp_path / "week.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ContractError) as caught:
        score_week(path, model, model_ref(), tmp_path / "out", today=TODAY, chunk_rows=4)
    return caught.value


def test_twins_in_two_chunks_of_a_scored_week_are_caught(model, contract, tmp_path):
    """Scoring reads a large extract in chunks, each validated on its own: a line id in the first
    chunk and its Greek-Omicron twin in the last are still one message, and nothing is written."""
    frame = week_extract(12)
    frame.loc[11, "line_id"] = frame.loc[1, "line_id"].replace("0", OMICRON, 1)
    caught = _refused_in_chunks(frame, model, tmp_path)
    (problem,) = caught.problems
    assert problem.column == "line_id" and problem.rows == (12, 1, 2)
    assert "U+039F GREEK CAPITAL LETTER OMICRON" in problem.rule
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_area_twins_in_two_chunks_of_a_scored_week_are_caught(model, contract, tmp_path):
    """An area in the first chunk and its twin with a Cyrillic letter in the last would be two
    places in every count by area; each chunk alone holds one of them."""
    frame = week_extract(12)
    frame["policing_area"] = "Northmoor"
    frame.loc[frame["line_id"] == frame.loc[1, "line_id"], "policing_area"] = "Eastvale"
    assert set(frame.index[frame["policing_area"] == "Eastvale"]) <= {0, 1, 2, 3}  # chunk 1
    frame.loc[11, "policing_area"] = "\u0415astvale"  # CYRILLIC CAPITAL LETTER IE
    frame.loc[11, "line_id"] = "SYN-L-NEW-AREA"  # its own line: no line holds two areas
    caught = _refused_in_chunks(frame, model, tmp_path)
    (problem,) = [p for p in caught.problems if p.column == "policing_area"]
    assert 12 in problem.rows and "CYRILLIC" in problem.rule, problem
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_pair_inside_one_chunk_is_named_once(model, contract, tmp_path):
    frame = week_extract(12)
    frame.loc[3, "line_id"] = frame.loc[1, "line_id"].replace("0", OMICRON, 1)
    caught = _refused_in_chunks(frame, model, tmp_path)
    assert len(caught.problems) == 1


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("SYN-D" + OMICRON + "2", "two ids that look the same, 'SYN-D02' and 'SYN-DΟ2'"),
        (
            "SYN-\u04142",
            "letters of Latin and Cyrillic in one id: U+0414 CYRILLIC CAPITAL LETTER DE",
        ),
        ("SYN-D\u200b3", "invisible character U+200B ZERO WIDTH SPACE in the id"),
    ],
)
def test_a_labels_extract_with_a_lookalike_id_is_refused_not_dropped(tmp_path, written, said):
    """resilience-outcomes matches labels to scored disruptions by id: an id that only looks like
    one matched none and its outcome was dropped without a word."""
    contract = load_data_contract("default")
    path = tmp_path / "labels.csv"
    ids = ["SYN-D01", "SYN-D02", written]
    pd.DataFrame({"disruption_id": ids, "persisted_12w": [True, False, True]}).to_csv(
        path, index=False
    )
    with pytest.raises(ContractError) as caught:
        read_labels(path, contract, as_of="unchecked")
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{path}: column 'disruption_id': {said}")
    assert 3 in problem.rows


def test_two_areas_that_look_the_same_are_refused_but_a_name_may_mix_scripts(contract):
    """'Еastvale' with a Cyrillic Е beside 'Eastvale' would be two areas in every count by area
    (the briefing's places, the fairness check); a name, unlike an id, may mix scripts."""
    frame = valid_extract()
    assert frame.loc[2, "policing_area"] == "Eastvale"
    frame.loc[6:7, "policing_area"] = "\u0415astvale "  # line SYN-L0003's two rows
    (problem,) = refusal(frame, contract).problems
    assert problem.column == "policing_area" and problem.rows[:3] == (7, 8, 3)
    assert problem.rule.startswith("two values that look the same, 'Eastvale' and 'Еastvale': ")
    assert "so one place or category would count as two" in problem.expected
    frame.loc[6:7, "policing_area"] = "Москва North"
    assert validate_frame(frame, contract, today=TODAY).frame.loc[6, "policing_area"] == (
        "Москва North"
    )


def test_two_ascii_ids_beside_their_lookalike_are_not_called_twins_of_each_other(contract):
    frame = valid_extract()
    frame.loc[0:1, "line_id"] = "BOX-10"
    frame.loc[2:3, "line_id"] = "BOX-1O"  # ASCII O: the force's own spelling
    frame.loc[4:5, "line_id"] = "BOX-1" + OMICRON
    (problem,) = refusal(frame, contract).problems
    assert "'BOX-1O' and 'BOX-1Ο'" in problem.rule and problem.rows == (5, 6, 3, 4)
