"""Validation by line and time: no line on both sides, no training outcome unknown at test start."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from resilience.core.errors import ResilienceError
from resilience.learn.split import (
    SplitConfig,
    calibration_slice,
    split_by_line_and_time,
    time_ordered_group_folds,
)


def random_history(seed: int, rows: int, lines: int, weeks: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    return pd.DataFrame(
        {
            "line_id": [f"L{i}" for i in rng.integers(0, lines, rows)],
            "disruption_date": start + pd.to_timedelta(rng.integers(0, weeks * 7, rows), unit="D"),
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(400, 3000),
    lines=st.integers(50, 2000),
    test_weeks=st.integers(4, 30),
    horizon=st.integers(0, 16),
    overlap=st.sampled_from(["drop_from_test", "drop_from_train"]),
)
def test_split_is_honest(seed, rows, lines, test_weeks, horizon, overlap):
    history = random_history(seed, rows, lines, weeks=150)
    config = SplitConfig(
        test_weeks=test_weeks,
        horizon_weeks=horizon,
        line_overlap=overlap,
        min_test_rows=1,
        min_train_rows=1,
        min_train_to_test=0,
    )
    try:
        train, test, summary = split_by_line_and_time(history, "disruption_date", "line_id", config)
    except ResilienceError as error:
        # Refusing is the honest answer only when a side is empty (every recent line recurs, say);
        # such an example checks nothing else, so hypothesis is told to draw another.
        assert "too short to split honestly" in str(error)
        assert "0 training rows" in str(error) or "and 0 test rows" in str(error), str(error)
        assume(False)
    assert len(train) and len(test)
    train_rows, test_rows = history.loc[train], history.loc[test]
    assert not set(train_rows["line_id"]) & set(test_rows["line_id"]), "a line is on both sides"
    test_start = pd.Timestamp(summary.test_start)
    # every training outcome (date + horizon) was known before the test period began
    assert (train_rows["disruption_date"] + pd.Timedelta(weeks=horizon) < test_start).all()
    # the test period is the most recent span
    assert test_rows["disruption_date"].min() >= test_start
    assert pd.Timestamp(summary.test_end) == history["disruption_date"].max()


def test_too_short_history_is_refused_with_advice():
    history = random_history(0, 100, 20, weeks=10)
    with pytest.raises(ResilienceError, match="too short to split honestly.*test_weeks"):
        split_by_line_and_time(history, "disruption_date", "line_id", SplitConfig())


def test_default_overlap_does_not_select_on_the_outcome(small_history, contract):
    """Dropping a recurring line's *training* rows removes positives from the latest training
    rows (a line seen again must have persisted); the default drops from the test side instead."""
    _, _, summary = split_by_line_and_time(
        small_history, contract.date_column, contract.line_column, SplitConfig()
    )
    train, _, _ = split_by_line_and_time(
        small_history, contract.date_column, contract.line_column, SplitConfig()
    )
    train_biased, _, _ = split_by_line_and_time(
        small_history,
        contract.date_column,
        contract.line_column,
        SplitConfig(line_overlap="drop_from_train"),
    )
    late = pd.Timestamp(summary.train_end) - pd.Timedelta(weeks=13)
    rate = lambda idx: (
        small_history.loc[idx].loc[lambda d: d[contract.date_column] > late, contract.label].mean()
    )
    assert rate(train) > rate(train_biased)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), folds=st.integers(1, 5), gap=st.integers(0, 12))
def test_folds_are_time_ordered_and_line_disjoint(seed, folds, gap):
    history = random_history(seed, 2000, 300, weeks=120)
    found = list(
        time_ordered_group_folds(history["disruption_date"], history["line_id"], folds, gap)
    )
    assume(found)  # an example without a fold checks nothing
    for train, val in found:
        assert history["disruption_date"].iloc[train].max() < history["disruption_date"].iloc[
            val
        ].min() - pd.Timedelta(weeks=gap) + pd.Timedelta(days=1)
        assert not set(history["line_id"].iloc[train]) & set(history["line_id"].iloc[val])


def test_calibration_slice_is_the_most_recent():
    dates = pd.Series(pd.date_range("2024-01-01", periods=200, freq="D")).sample(
        frac=1, random_state=0
    )
    fit, cal = calibration_slice(dates, 0.2)
    assert len(cal) == 40 and len(fit) == 160
    assert dates.iloc[cal].min() > dates.iloc[fit].max()


def test_a_short_history_uses_a_shorter_test_period():
    history = random_history(0, 3000, 2500, weeks=40)
    train, test, summary = split_by_line_and_time(
        history, "disruption_date", "line_id", SplitConfig(test_weeks=26)
    )
    assert summary.test_weeks < 26 and len(test) >= 50 and len(train) >= 100
