"""Honest validation for recurring lines in a drifting world: split by line and by time.

::

    |<------------------------ labelled history ------------------------>|
    |    fit rows      | calibration |<- gap = horizon ->|   test period  |
    |  (early stopping folds inside) |  (no rows used)   | (most recent)  |
                                  train_end        test_start        test_end

* The **test period** is the most recent ``test_weeks`` of disruptions (a history too short for
  that uses its most recent fifth, at least 4 weeks, and says so).
* **Training** uses only disruptions whose outcome (``horizon_weeks`` later) was known before the
  test period began: ``date <= test_start - horizon``.
* **Lines on both sides**: a test-period disruption of a line that also has training rows is a
  *repeat* disruption. ``line_overlap="drop_from_test"`` leaves it out of the test set, so no line
  is on both sides; ``"keep"`` keeps it, so the test period holds the lines scoring meets (a scored
  week's extract holds repeat disruptions of lines the deployed model learned from: 62% of a
  default-world week, against 24-27% of a test period without them). Keeping them is not a
  leak: the earlier disruption's outcome was known before the test period began, as it is known
  when the week is scored. ``"drop_from_train"`` is offered but biased: a line that reappears in
  the test period must have persisted after its training disruptions, so dropping its training
  rows removes positives from the most recent training rows (the calibration slice) and
  miscalibrates the model. Early stopping's folds inside the training span stay line-disjoint.
* Inside the training span, the **calibration slice** is its most recent ``calibration_fraction``
  of rows, and early stopping / tuning use expanding-window folds ordered by time and grouped by
  line (:func:`time_ordered_group_folds`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.data.contract import DataContract

log = logging.getLogger(__name__)
LINE_OVERLAP = ("drop_from_test", "drop_from_train", "keep")


@dataclass(frozen=True)
class SplitConfig:
    """How to split a labelled history (see the module docstring)."""

    test_weeks: int = 26
    horizon_weeks: int = 12
    line_overlap: str = "drop_from_test"
    calibration_fraction: float = 0.15
    n_folds: int = 3
    min_test_rows: int = 50
    min_train_rows: int = 100
    min_train_to_test: float = 2.0  # fewer training than this many times the test rows: too short


@dataclass(frozen=True)
class SplitSummary:
    """What a split did, logged with every run and shown in model cards."""

    train_start: str
    train_end: str
    test_start: str
    test_end: str
    train_rows: int
    test_rows: int
    train_lines: int
    test_lines: int
    dropped_for_gap: int
    dropped_for_line_overlap: int
    test_weeks: int = 26
    # "final": one final record per disruption | "as they stood": weekly snapshots
    # (resilience.learn.records), per_disruption rows of each training disruption
    records: str = "final"
    per_disruption: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Split:
    """A labelled history split once: the rows every training step fits on and is judged on.

    Computed by the training pipeline (:func:`split_history`) and passed to each step, so the
    fit, the reason screen, the ranges and the segment comparison all see the same rows. Rebuilt
    from records as they stood (:mod:`resilience.learn.records`), it also holds every snapshot of
    the test disruptions (``test_by_age``) and each training disruption's latest record before
    the horizon (``train_latest``); None otherwise.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    summary: SplitSummary
    test_by_age: pd.DataFrame | None = None
    train_latest: pd.DataFrame | None = None


def split_history(history: pd.DataFrame, contract: DataContract, config: SplitConfig) -> Split:
    """:func:`split_by_line_and_time` on the contract's date and line columns, as frames.

    Examples
    --------
    >>> split = split_history(history, contract, SplitConfig())
    >>> len(split.train), len(split.test), split.summary.test_start
    """
    train_idx, test_idx, summary = split_by_line_and_time(
        history, contract.date_column, contract.line_column, config
    )
    return Split(history.loc[train_idx], history.loc[test_idx], summary)


def split_by_line_and_time(
    frame: pd.DataFrame, date_column: str, line_column: str, config: SplitConfig
) -> tuple[pd.Index, pd.Index, SplitSummary]:
    """Return (train index, test index, summary) for a labelled history.

    Examples
    --------
    >>> train_idx, test_idx, summary = split_by_line_and_time(history, "disruption_date", "line_id", SplitConfig())
    """
    if config.line_overlap not in LINE_OVERLAP:
        raise ResilienceError(
            f"split.line_overlap must be one of {', '.join(LINE_OVERLAP)}, not {config.line_overlap!r}"
        )
    try:
        return _split(frame, date_column, line_column, config)
    except ResilienceError:
        # A short history cannot afford the configured test period: use its most recent fifth
        # (at least 4 weeks) rather than refuse; the summary records what was used.
        dates = pd.to_datetime(frame[date_column])
        span_weeks = (dates.max() - dates.min()).days / 7
        shorter = max(4, int((span_weeks - config.horizon_weeks) * 0.2))
        if shorter >= config.test_weeks:
            raise
        log.warning(
            "history of %.0f weeks is too short for a %d-week test period; using %d weeks",
            span_weeks,
            config.test_weeks,
            shorter,
        )
        return _split(frame, date_column, line_column, replace(config, test_weeks=shorter))


def _split(
    frame: pd.DataFrame, date_column: str, line_column: str, config: SplitConfig
) -> tuple[pd.Index, pd.Index, SplitSummary]:
    dates = pd.to_datetime(frame[date_column])
    test_end = dates.max()
    test_start = test_end - pd.Timedelta(weeks=config.test_weeks) + pd.Timedelta(days=1)
    train_end = test_start - pd.Timedelta(weeks=config.horizon_weeks) - pd.Timedelta(days=1)
    in_test = dates >= test_start
    in_train = dates <= train_end
    gap_rows = int((~in_test & ~in_train).sum())
    lines = frame[line_column]
    test_lines = set(lines[in_test])
    if config.line_overlap == "drop_from_train":
        overlap = in_train & lines.isin(test_lines)
        in_train &= ~overlap
    elif config.line_overlap == "drop_from_test":
        overlap = in_test & lines.isin(set(lines[in_train]))
        in_test &= ~overlap
    else:  # keep: repeat disruptions stay in the test period, as they are in a scored week
        overlap = pd.Series(False, index=frame.index)
    train_idx, test_idx = frame.index[in_train], frame.index[in_test]
    if (
        len(test_idx) < config.min_test_rows
        or len(train_idx) < config.min_train_rows
        or len(train_idx) < config.min_train_to_test * len(test_idx)
    ):
        raise ResilienceError(
            f"the history is too short to split honestly: {len(train_idx)} training rows (need "
            f">= {config.min_train_rows} and >= {config.min_train_to_test:g}x the test rows) and "
            f"{len(test_idx)} test rows (need >= {config.min_test_rows}) "
            f"with a {config.test_weeks}-week test period and a {config.horizon_weeks}-week gap; "
            f"the history runs {dates.min().date()} to {test_end.date()}. Lower split.test_weeks or supply more history."
        )
    summary = SplitSummary(
        train_start=str(dates[in_train].min().date()),
        train_end=str(dates[in_train].max().date()),
        test_start=str(test_start.date()),
        test_end=str(test_end.date()),
        train_rows=len(train_idx),
        test_rows=len(test_idx),
        train_lines=int(lines[in_train].nunique()),
        test_lines=int(lines[in_test].nunique()),
        dropped_for_gap=gap_rows,
        dropped_for_line_overlap=int(overlap.sum()),
        test_weeks=config.test_weeks,
    )
    return train_idx, test_idx, summary


def calibration_slice(
    dates: pd.Series, fraction: float, groups: pd.Series | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (fit, calibration): calibration is the most recent ``fraction`` of rows by date.

    ``groups`` (a disruption's id per row) keeps each group whole: every row of a group with a
    row in the calibration slice is in it (a disruption's snapshots share its date and label).
    """
    order = np.argsort(pd.to_datetime(dates).to_numpy(), kind="stable")
    n_cal = int(round(len(order) * fraction))
    if fraction <= 0 or n_cal < 20:
        return order, order[:0]
    calibration = np.zeros(len(order), dtype=bool)
    calibration[order[-n_cal:]] = True
    if groups is not None:
        codes = pd.factorize(pd.Series(groups).astype(str))[0]
        calibration |= np.isin(codes, codes[calibration])
    return np.flatnonzero(~calibration), np.flatnonzero(calibration)


def time_ordered_group_folds(
    dates: pd.Series, lines: pd.Series, n_folds: int, gap_weeks: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds: each validates on a later block of time than it trains on.

    The span is cut into ``n_folds + 1`` blocks of equal row counts by date; fold ``k`` trains on
    blocks ``0..k`` (minus a ``gap_weeks`` gap before validation) and validates on block ``k+1``.
    Validation rows of lines that also have training rows in the fold are left out, so no line is
    on both sides (dropping the *training* rows instead would select on the outcome: see the
    module docstring). Yields positions (not labels) into ``dates``.
    """
    dates = pd.to_datetime(pd.Series(dates).reset_index(drop=True))
    lines = pd.Series(lines).reset_index(drop=True)
    order = np.argsort(dates.to_numpy(), kind="stable")
    bounds = np.linspace(0, len(order), n_folds + 2).astype(int)
    for k in range(n_folds):
        val = order[bounds[k + 1] : bounds[k + 2]]
        if len(val) == 0:
            continue
        val_start = dates.iloc[val].min()
        train = np.flatnonzero((dates < val_start - pd.Timedelta(weeks=gap_weeks)).to_numpy())
        val = val[~lines.iloc[val].isin(set(lines.iloc[train])).to_numpy()]
        if len(train) >= 20 and len(val) >= 20:
            yield train, np.sort(val)
