"""Censoring and as-of guards: labels not yet knowable and history counts known only later are refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_WORLD

from resilience.core.errors import ConfigError, ContractError, ResilienceError
from resilience.data.asof import (
    check_training_extract,
    history_count_problems,
    recounted_rows,
    resolve_as_of,
)
from resilience.data.contract import DataContract

END = pd.Timestamp(SMALL_WORLD.end_date)


def test_the_synthetic_history_passes(small_history, contract):
    check_training_extract(small_history, contract, END)


def test_labels_younger_than_the_horizon_are_refused_with_their_rows(
    small_history, small_world, contract
):
    week = small_world.weekly[sorted(small_world.weekly)[-1]].head(7).copy()
    week[contract.label] = False  # "not persisted", written days after the disruption
    frame = pd.concat([small_history, week], ignore_index=True)
    with pytest.raises(ContractError) as caught:
        check_training_extract(frame, contract, END, source="extract.csv")
    problem = caught.value.problems[0]
    first = len(small_history) + 1
    assert problem.column == contract.date_column and problem.count == 7
    assert problem.rows == tuple(range(first, first + 5))
    text = str(caught.value)
    assert (
        "extract.csv" in text
        and "12 weeks" in text
        and contract.label in text
        and f"row {first}" in text
    )


def test_an_unlabelled_young_row_is_fine(small_history, small_world, contract):
    week = small_world.weekly[sorted(small_world.weekly)[-1]].head(3).copy()
    week[contract.label] = None
    check_training_extract(pd.concat([small_history, week], ignore_index=True), contract, END)


def test_the_extract_can_carry_its_as_of_date(small_history, contract):
    config = contract.to_dict()
    config["columns"]["extracted_on"] = {"dtype": "date", "role": "context"}
    config["as_of_column"] = "extracted_on"
    carried = DataContract.from_dict(config)
    frame = small_history.copy()
    frame["extracted_on"] = END
    check_training_extract(frame, carried, None)
    frame.loc[frame.index[-4:], "extracted_on"] = frame[contract.date_column].iloc[
        -4:
    ] + pd.Timedelta(weeks=2)
    with pytest.raises(ContractError, match="extracted_on") as caught:
        check_training_extract(frame, carried, None)
    assert caught.value.problems[0].rows == tuple(range(len(frame) - 3, len(frame) + 1))


def recount(history: pd.DataFrame, contract) -> pd.DataFrame:
    """Every row's prior_disruptions recounted on the day of extraction (the line's rows so far)."""
    out = history.copy()
    out["prior_disruptions"] = (
        out.groupby(contract.line_column)[contract.line_column].transform("size") - 1
    )
    return out


def test_history_counts_recounted_at_extraction_are_flagged(small_history, contract):
    recounted = recount(small_history, contract)
    bad = recounted_rows(recounted, contract, "prior_disruptions")
    repeat_lines = (
        small_history.groupby(contract.line_column)[contract.line_column].transform("size") > 1
    )
    assert bad.any() and not bad[~repeat_lines.to_numpy()].any()
    # every line with several rows is caught: all its rows but the last carry a count from the future
    caught_lines = set(recounted.loc[bad, contract.line_column])
    assert caught_lines == set(small_history.loc[repeat_lines, contract.line_column])
    problems = history_count_problems(recounted, contract, "extract.csv")
    assert problems[0].column == "prior_disruptions" and problems[0].count == int(bad.sum())
    assert problems[0].rows[0] == int(np.flatnonzero(bad)[0]) + 1
    with pytest.raises(ContractError, match="recounted"):
        check_training_extract(recounted, contract, END)


def test_counts_of_disruptions_before_the_extract_are_fine(contract):
    """A line first seen with 3 earlier disruptions (before the extract began) rising by one is fine;
    the same count twice on two dates is not; two rows on one day may share the count."""
    frame = pd.DataFrame(
        {
            "line_id": ["A", "A", "A", "B", "B", "C", "C", "C"],
            "disruption_date": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-05-01",
                    "2024-09-01",
                    "2024-01-01",
                    "2024-06-01",
                    "2024-01-01",
                    "2024-01-01",
                    "2024-06-01",
                ]
            ),
            "prior_disruptions": [3, 4, 6, 2, 2, 0, 1, 2],
        }
    )
    assert (
        recounted_rows(frame, contract, "prior_disruptions").tolist()
        == [False] * 3 + [True, False] + [False] * 3
    )


def test_resolve_as_of(tmp_path, contract):
    (tmp_path / "world.json").write_text(json.dumps({"end_date": "2026-11-22"}))
    assert resolve_as_of("auto", tmp_path / "disruptions.parquet", contract) == pd.Timestamp(
        "2026-11-22"
    )
    assert resolve_as_of("2025-01-31", tmp_path / "x.csv", contract) == pd.Timestamp("2025-01-31")
    assert (
        resolve_as_of("auto", tmp_path / "elsewhere" / "x.csv", contract)
        == pd.Timestamp.today().normalize()
    )
    with pytest.raises(ResilienceError, match="ISO date"):
        resolve_as_of("last tuesday", tmp_path / "x.csv", contract)


def test_contract_keys_round_trip_and_are_checked(contract):
    assert contract.history_counts == ("prior_disruptions",)
    assert DataContract.from_dict(contract.to_dict()) == contract
    config = contract.to_dict()
    config["as_of_column"] = "line_id"
    with pytest.raises(ConfigError, match="as_of_column"):
        DataContract.from_dict(config)
    config = contract.to_dict()
    config["history_counts"] = ["policing_area"]
    with pytest.raises(ConfigError, match="history_counts"):
        DataContract.from_dict(config)
