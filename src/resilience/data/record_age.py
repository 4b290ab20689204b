"""The record's age: whole weeks from a disruption to the day the extract holding its record was
taken, the one input the toolkit derives rather than reads (``derived: record_age`` in the data
config, :attr:`~resilience.data.contract.DataContract.record_age_column`).

A disruption's package is keyed in over the weeks after it (the line holder's charge, runner
arrests, referrals, orders), so a young record holds less than will be on record: "holder not
arrested" may mean "not recorded yet". A model that knows each record's age can learn how much
a young record still lacks; training derives it for every weekly snapshot of a labelled record
(:mod:`resilience.data.snapshots`), scoring for the week's extract, with the same rule.

**The extract's as-of date** (:func:`extract_as_of`): the data config's ``as_of_column`` when the
extract carries it (each row's own extraction day; the extract's date is the latest of them),
else the **latest disruption date in the extract**: an extract cannot be older than its newest
record, and this is also the date a scored week is named after (the ISO week holding it). A
weekly extract taken on a Sunday whose newest disruption is on Saturday is thus dated Saturday,
one day early; training and scoring use the same rule, so their ages agree.

**Record age** (:func:`record_age_weeks`) = ``floor((as-of date - disruption date) / 7 days)``,
never below 0. A record no snapshot holds (a labelled history's final record) counts as complete:
age ``horizon_weeks`` (:func:`complete_record_age`).

>>> import pandas as pd
>>> record_age_weeks(pd.Series(pd.to_datetime(["2026-11-01", "2026-11-20"])), pd.Timestamp("2026-11-21")).tolist()
[2, 0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.data.contract import DataContract
from resilience.data.io import read_columns
from resilience.data.parse import parse_column


def record_age_weeks(dates: pd.Series, as_of) -> np.ndarray:
    """Whole weeks from each disruption date to ``as_of`` (a date, or one per row), at least 0
    (a date that does not parse counts 0: validation refuses it)."""
    gap = pd.to_datetime(as_of) - pd.to_datetime(pd.Series(dates), errors="coerce")
    days = pd.Series(gap).dt.days.fillna(0).to_numpy(dtype=np.int64)
    return np.maximum(np.floor_divide(days, 7), 0).astype(np.int64)


def extract_as_of(frame: pd.DataFrame, contract: DataContract) -> pd.Timestamp | None:
    """The day an extract was taken: the latest of its ``as_of_column`` when it carries one, else
    its latest disruption date (None for an extract without a date)."""
    column = contract.as_of_column
    name = column if column and column in frame.columns else contract.date_column
    # read as validation reads it: the calendar day as written, a zoned date never moved a day
    # nor left zoned (a week's rows are compared with it after validation made them naive)
    latest = _days(frame, contract, name).max()
    return None if pd.isna(latest) else pd.Timestamp(latest).normalize()


def extract_file_as_of(path, contract: DataContract) -> pd.Timestamp | None:
    """:func:`extract_as_of` of an extract file, reading only its date (and as-of) column."""
    names = [contract.date_column, *([contract.as_of_column] if contract.as_of_column else [])]
    frame = read_columns(path, names)
    return extract_as_of(frame, contract) if contract.date_column in frame.columns else None


def complete_record_age(contract: DataContract) -> int:
    """The age a final record counts as (it is complete): the outcome horizon."""
    return int(contract.horizon_weeks)


def as_complete_records(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """``frame``'s rows as final records: the record-age column (when the contract has one and
    ``frame`` lacks it) at :func:`complete_record_age`. A labelled history's rows are complete;
    a model that learnt from records as they stood reads their age like any other input."""
    column = contract.record_age_column
    if column is None or column in frame.columns:
        return frame
    return frame.assign(**{column: complete_record_age(contract)})


def with_record_age(
    frame: pd.DataFrame, contract: DataContract, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """``frame`` with the contract's record-age column derived (a copy; unchanged when the
    contract has none).

    Each row's age is counted to ``as_of`` when given (the week's as-of date, found once for a
    whole extract), else to the row's own ``as_of_column`` when the contract has one and the frame
    carries it, else to the frame's as-of date (:func:`extract_as_of`).
    """
    column = contract.record_age_column
    if column is None:
        return frame
    out = frame.copy()
    out[column] = ages(frame, contract, as_of)
    return out


def ages(frame: pd.DataFrame, contract: DataContract, as_of=None) -> np.ndarray:
    """Each row's record age: to ``as_of`` when given, else to the row's own ``as_of_column`` when
    the frame carries it, else to the frame's as-of date (:func:`extract_as_of`)."""
    per_row = contract.as_of_column if contract.as_of_column in frame.columns else None
    if as_of is None and per_row:
        reference = _days(frame, contract, per_row).to_numpy()
    else:
        reference = as_of if as_of is not None else extract_as_of(frame, contract)
    return record_age_weeks(_days(frame, contract, contract.date_column), reference)


def _days(frame: pd.DataFrame, contract: DataContract, name: str) -> pd.Series:
    """A date column as validation reads it, typed or raw (a zoned Parquet date, an ISO text with
    an offset): each calendar day as written, never zoned, so raw and typed dates compare."""
    return parse_column(frame[name], contract.column(name))[0]


def require_record_age(
    frame: pd.DataFrame, contract: DataContract, features, source: str
) -> pd.DataFrame:
    """The frame a model that reads the record's age can score: the column as given, else derived
    from the contract's ``as_of_column`` (each row's extraction day); otherwise a clear error.

    Used where rows arrive without a whole extract around them (the pyfunc, a Spark partition), so
    the extract's own as-of date cannot be found from its rows.
    """
    column = contract.record_age_column
    if column is None or column not in features or column in frame.columns:
        return frame
    if contract.as_of_column and contract.as_of_column in frame.columns:
        return with_record_age(frame, contract)
    extract_date = (
        f"or the extraction date '{contract.as_of_column}'"
        if contract.as_of_column
        else f"(data config '{contract.name}' declares no as_of_column to derive it from)"
    )
    raise ResilienceError(
        f"{source}: the model reads '{column}' (whole weeks from the disruption to the day the "
        f"extract was taken); give that column {extract_date}. resilience-score derives it from "
        "the week's extract itself"
    )
