"""One guard in every command (issue 22, items 5 and 6): resilience-validate runs training's checks
of a labelled extract; as_of cannot be switched off or moved into the future unseen; a Parquet file
naming a column twice is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from test_cli import run, summary_of, valid_extract

from resilience.core.errors import ContractError, ResilienceError
from resilience.core.paths import config_dir
from resilience.data.asof import (
    AsOf,
    as_of_from_setting,
    check_training_extract,
    resolve_as_of,
)
from resilience.data.contract import DataContract
from resilience.data.io import iter_extract, read_extract
from resilience.data.validate import load_extract

TODAY = pd.Timestamp("2026-12-03")


@pytest.mark.parametrize("setting", [None, "none", "None", "null", "", "  "])
def test_an_as_of_of_none_is_refused_saying_how_to_switch_the_guard_off(setting, contract):
    with pytest.raises(ResilienceError) as caught:
        as_of_from_setting(setting, "x.csv", contract, today=TODAY)
    assert "as_of=unchecked" in str(caught.value) and "not an as-of date" in str(caught.value)


def test_an_as_of_after_today_is_refused(contract, tmp_path):
    with pytest.raises(ResilienceError, match=r"as_of=2030-01-01 \(2030-01-01\) is after today"):
        as_of_from_setting("2030-01-01", "x.csv", contract, today=TODAY)
    assert as_of_from_setting("2026-12-03", "x.csv", contract, today=TODAY).date == TODAY
    (tmp_path / "world.json").write_text(json.dumps({"end_date": "2027-06-01"}))
    with pytest.raises(ResilienceError, match="world.json: end_date .* is after today"):
        as_of_from_setting("auto", tmp_path / "history.parquet", contract, today=TODAY)


def test_unchecked_is_spelled_out_and_says_so(small_history, contract):
    as_of = as_of_from_setting("unchecked", "x.csv", contract, today=TODAY)
    assert as_of == AsOf(date=None, source="as_of=unchecked", unchecked=True, warning=as_of.warning)
    assert not as_of.checked and "12 weeks" in as_of.warning and "unchecked" in as_of.warning
    assert resolve_as_of("unchecked", "x.csv", contract, today=TODAY) is None
    young = small_history.copy()
    young.loc[young.index[-3:], contract.date_column] = TODAY - pd.Timedelta(weeks=1)
    check_training_extract(young, contract, as_of)  # the label-age check is off ...
    with pytest.raises(ContractError, match="12 weeks"):
        check_training_extract(young, contract, as_of_from_setting("auto", "x", contract, TODAY))
    recounted = small_history.copy()
    recounted["prior_disruptions"] = recounted.groupby("line_id")["line_id"].transform("size")
    with pytest.raises(ContractError, match="recounted"):  # ... the history counts are not
        check_training_extract(recounted, contract, as_of)


def test_resolve_as_of_still_gives_a_date(contract):
    assert resolve_as_of("2025-01-31", "x.csv", contract, today=TODAY) == pd.Timestamp("2025-01-31")
    assert as_of_from_setting("auto", "x.csv", contract, today=TODAY) == AsOf(
        date=TODAY, source="today"
    )


def carrying_as_of(contract: DataContract) -> DataContract:
    config = contract.to_dict()
    config["columns"]["extracted_on"] = {"dtype": "date", "role": "context"}
    config["as_of_column"] = "extracted_on"
    return DataContract.from_dict(config)


def test_an_extract_carrying_its_as_of_dates(small_history, contract):
    carried = carrying_as_of(contract)
    as_of = as_of_from_setting("auto", "x.csv", carried, today=TODAY)
    assert as_of.column == "extracted_on" and as_of.date is None and as_of.checked
    with pytest.raises(ResilienceError, match="reads each row's as-of date from column"):
        as_of_from_setting("2026-01-01", "x.csv", carried, today=TODAY)
    frame = small_history.copy()
    frame["extracted_on"] = pd.Timestamp("2026-11-22")
    check_training_extract(frame, carried, as_of, today=TODAY)
    frame.loc[frame.index[:2], "extracted_on"] = pd.Timestamp("2030-01-01")
    with pytest.raises(ContractError) as caught:
        check_training_extract(frame, carried, as_of, today=TODAY)
    problem = caught.value.problems[0]
    assert problem.column == "extracted_on" and problem.rows == (1, 2)
    assert "extraction date after today" in str(caught.value)


def test_a_parquet_file_naming_a_column_twice_is_one_line(tmp_path, contract):
    path = tmp_path / "twice.parquet"
    table = pa.table(
        [pa.array([1, 2]), pa.array([3, 4]), pa.array(["a", "b"])],
        names=["contacts", "contacts", "line_id"],
    )
    pq.write_table(table, path)
    for read in (
        read_extract,
        lambda p: list(iter_extract(p)),
        lambda p: load_extract(p, contract),
    ):
        with pytest.raises(ResilienceError) as caught:
            read(path)
        message = str(caught.value)
        assert len(message.splitlines()) == 1, message
        assert message.startswith(f"{path}: column 'contacts' appears more than once"), message
        assert "int64" not in message


def test_a_damaged_parquet_file_is_one_line(tmp_path):
    path = tmp_path / "damaged.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(ResilienceError) as caught:
        read_extract(path)
    assert len(str(caught.value).splitlines()) == 1
    assert str(caught.value).startswith(f"{path}: cannot be read as Parquet")


# -- the command --------------------------------------------------------------------------------


def young_extract() -> pd.DataFrame:
    """A labelled extract whose last three labels are one week old: training refuses it."""
    frame = valid_extract()
    week_ago = (pd.Timestamp.today().normalize() - pd.Timedelta(weeks=1)).date().isoformat()
    frame.loc[frame.index[-3:], "disruption_date"] = week_ago
    return frame


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_validate_refuses_what_training_refuses(workdir):
    young_extract().to_csv(workdir / "young.csv", index=False)
    result = run(workdir, "input=young.csv")  # labels present: the as-of check runs
    assert result.returncode == 2, result.stdout
    assert "young.csv: column 'disruption_date'" in result.stderr and "12 weeks" in result.stderr
    assert "Traceback" not in result.stderr
    result = run(workdir, "input=young.csv", "as_of=unchecked")
    assert result.returncode == 0, result.stderr
    assert "warning: as_of=unchecked" in result.stderr
    assert summary_of(result.stdout)["as_of"] == "unchecked (as_of=unchecked)"


def test_validate_refuses_as_of_none_and_a_future_as_of(workdir):
    valid_extract().to_csv(workdir / "extract.csv", index=False)
    result = run(workdir, "input=extract.csv", "as_of=none")
    assert result.returncode == 2 and "write as_of=unchecked" in result.stderr
    result = run(workdir, "input=extract.csv", "as_of=2999-01-01")
    assert result.returncode == 2 and "is after today" in result.stderr
    result = run(workdir, "input=extract.csv", "as_of=2024-06-30", "require_label=true")
    assert result.returncode == 0, result.stderr
    assert summary_of(result.stdout)["as_of"] == "2024-06-30 (as_of=2024-06-30)"


def test_validate_refuses_history_counts_recounted_at_extraction(workdir):
    frame = valid_extract()
    frame["prior_disruptions"] = "1"  # every row of a line says the same: counted at extraction
    frame.to_parquet(workdir / "recounted.parquet", index=False)
    result = run(workdir, "input=recounted.parquet")
    assert result.returncode == 2
    assert "column 'prior_disruptions'" in result.stderr and "recounted" in result.stderr


def test_validate_names_the_data_config_file_of_a_refused_feature(workdir, tmp_path):
    config = yaml.safe_load((config_dir() / "data" / "example_force.yaml").read_text())
    config["name"] = "careless_force"
    config["columns"]["ᴇᴛʜɴɪᴄɪᴛʏ"] = {"dtype": "category", "role": "feature", "describes": "line"}
    folder = tmp_path / "configs"
    (folder / "data").mkdir(parents=True)
    path = folder / "data" / "careless_force.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    valid_extract().to_csv(workdir / "extract.csv", index=False)
    result = run(
        workdir, "input=extract.csv", "data=careless_force", f"hydra.searchpath=[file://{folder}]"
    )
    assert result.returncode == 2
    assert str(path) in result.stderr or "careless_force.yaml" in result.stderr
    assert "column 'ᴇᴛʜɴɪᴄɪᴛʏ' may not be a feature" in result.stderr
    assert "reads as 'ethnicity' (race" in result.stderr and "Traceback" not in result.stderr
