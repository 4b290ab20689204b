"""Parquet extracts whose column types are not the contract's, and dates beyond what the toolkit
can hold: each refused with one problem naming the file, the column, the rows and what was
expected, never a traceback and never a value silently converted. A CSV that is not UTF-8 is
named where it stops being so, in the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_validate import TODAY, valid_extract

from resilience.core.errors import ContractError, ResilienceError
from resilience.data.contract import load_data_contract
from resilience.data.io import read_extract
from resilience.data.validate import load_extract


@pytest.fixture(scope="module")
def contract():
    return load_data_contract("default")


def with_column(tmp_path, name: str, values: pa.Array):
    """The valid extract as Parquet, one column replaced by ``values`` (a pyarrow array)."""
    table = pa.Table.from_pandas(valid_extract(), preserve_index=False)
    table = table.set_column(table.schema.get_field_index(name), name, values)
    path = tmp_path / "extract.parquet"
    pq.write_table(table, path)
    return path


def only_problem(path, contract):
    with pytest.raises(ContractError) as caught:
        load_extract(path, contract, today=TODAY)
    assert len(caught.value.problems) == 1, str(caught.value)
    problem = caught.value.problems[0]
    assert str(problem).startswith(f"{path}: column '{problem.column}': ")
    return problem


def dates(*days: str) -> pa.Array:
    """Second-resolution timestamps (as pyarrow writes dates pandas' nanoseconds cannot hold)."""
    return pa.array(np.array(list(days), dtype="datetime64[s]"), pa.timestamp("s"))


def test_a_date_after_2262_is_a_date_in_the_future_not_a_crash(tmp_path, contract):
    path = with_column(tmp_path, "disruption_date", dates(*["2023-01-05"] * 19, "9000-01-01"))
    problem = only_problem(path, contract)
    assert (problem.column, problem.rule, problem.rows) == (
        "disruption_date",
        "date in the future",
        (20,),
    )


@pytest.mark.parametrize("day", ["1500-01-01", "0001-01-01"])
def test_a_date_before_1677_is_out_of_range_not_a_crash(tmp_path, contract, day):
    path = with_column(tmp_path, "disruption_date", dates(day, *["2023-01-05"] * 19))
    problem = only_problem(path, contract)
    assert problem.rule == "date out of range (before 1677-09-22)" and problem.rows == (1,)
    assert problem.expected.startswith("a date from 1677-09-22 on")


@pytest.mark.parametrize("day", ["1677-01-01", "0001-01-01"])
def test_an_iso_date_before_1677_in_a_csv_is_out_of_range_not_a_wrong_type(tmp_path, contract, day):
    frame = valid_extract()
    frame.loc[2, "disruption_date"] = day
    path = tmp_path / "early.csv"
    frame.to_csv(path, index=False)
    problem = only_problem(path, contract)
    assert problem.rule == "date out of range (before 1677-09-22)"
    assert problem.rows == (3,) and problem.values == (day,)


def test_a_binary_column_is_refused_not_decoded(tmp_path, contract):
    path = with_column(tmp_path, "policing_area", pa.array([b"\xff\xfe"] * 20, pa.binary()))
    problem = only_problem(path, contract)
    assert problem.rule == "holds binary data (bytes), not text" and problem.count == 20


def test_a_column_of_dates_is_no_count(tmp_path, contract):
    """A timestamp column where a count belongs was read as its microseconds since 1970."""
    stamps = pa.array([pd.Timestamp("2023-01-01")] * 20, pa.timestamp("us"))
    problem = only_problem(with_column(tmp_path, "contacts", stamps), contract)
    assert (problem.column, problem.rule, problem.count) == ("contacts", "wrong type", 20)


def test_a_column_of_durations_is_no_number(tmp_path, contract):
    weeks = pa.array([pd.Timedelta(weeks=3).to_pytimedelta()] * 20, pa.duration("us"))
    problem = only_problem(with_column(tmp_path, "weeks_since_last_disruption", weeks), contract)
    assert problem.rule == "wrong type" and problem.count == 20


def test_dates_within_range_at_any_resolution_and_zone_still_pass(tmp_path, contract):
    zoned = pa.array(
        [pd.Timestamp("2023-01-05 23:30", tz="Europe/London")] * 20,
        pa.timestamp("ms", "Europe/London"),
    )
    typed = load_extract(with_column(tmp_path, "disruption_date", zoned), contract, today=TODAY)
    assert (typed.frame["disruption_date"] == pd.Timestamp("2023-01-05")).all()


# -- text that is not UTF-8 ------------------------------------------------------------------------


def test_a_latin1_byte_deep_in_a_file_is_named_where_it_is(tmp_path):
    """pandas reports the byte's place in its own buffer (byte 4115 of a 10 MB file's last row):
    the message names the file's byte and line instead."""
    path = tmp_path / "latin1.csv"
    body = "a,b\n" + "1,2\n" * 400_000 + "Caf\u00e9,3\n"
    path.write_bytes(body.encode("latin-1"))
    with pytest.raises(ResilienceError) as caught:
        read_extract(path)
    assert str(caught.value) == (
        f"{path}: not valid UTF-8 text (byte 1,600,007, 0xe9, on line 400,002 of the file: "
        "Latin-1 or Windows-1252 text?); save the extract as UTF-8 CSV"
    )


def test_a_utf16_file_is_named_as_utf16(tmp_path):
    path = tmp_path / "utf16.csv"
    valid_extract().to_csv(path, index=False, encoding="utf-16")
    with pytest.raises(
        ResilienceError, match="UTF-16 text .* not UTF-8; save the extract as UTF-8"
    ):
        read_extract(path)
