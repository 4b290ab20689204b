"""A small fixed sample of the labelled records a model learnt from, kept with its evidence, to
tell later whether another extract holds the same records.

The champion rule replaces a champion only when a challenger is at least as good on the same
held-out period *of the same data*. A challenger trained on another force's extract, or on
another synthetic world, can be compared with the champion on its own rows and win there,
because it learnt that population. So each training run keeps a sample of its labelled records
(:func:`sample_of`: the ``size`` records whose keys hash lowest, a uniform sample that any later
extract of the same data draws identically) and the rule asks how many of the champion's sampled
records dated within the new extract's span are in it with the same line, date and outcome
(:func:`held_in`). An extract that holds the champion's records is the same data, extended or cut
to a later window; one that does not is another population, and a person decides.

A record's key is its disruption id, line id, date and outcome: a record corrected since (an
outcome changed) counts as not held, which is what it is for the comparison.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from resilience.data.contract import DataContract
from resilience.data.parse import wall_clock

SAMPLE_SIZE = 400  # records kept with a model's evidence (about 14 KB of JSON)
SAME_SHARE = 0.9  # an extract holding at least this share of the sampled records is the same data
MIN_RECORDS = 30  # fewer sampled records within the extract's span than this: cannot tell


def _dates(frame: pd.DataFrame, contract: DataContract) -> pd.Series:
    """Each row's disruption date as ``YYYY-MM-DD`` (a zoned date is its own wall-clock day)."""
    return wall_clock(pd.to_datetime(frame[contract.date_column], errors="coerce")).dt.strftime(
        "%Y-%m-%d"
    )


def keyed_records(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """Each labelled row's ``key`` (a 16-hex-digit hash of its disruption id, line id, date and
    outcome) and ``date`` (rows without an outcome or a date are left out; the index is new)."""
    dates = _dates(frame, contract).reset_index(drop=True)
    label = frame[contract.label].reset_index(drop=True)
    kept = (label.notna() & dates.notna()).to_numpy()
    ids = frame[contract.id_column].astype(str).to_numpy()[kept]
    lines = frame[contract.line_column].astype(str).to_numpy()[kept]
    outcomes = label[kept].astype(int).astype(str).to_numpy()
    days = dates[kept].to_numpy()
    keys = [
        hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()
        for parts in zip(ids, lines, days, outcomes)
    ]
    return pd.DataFrame({"key": keys, "date": days})


def sample_of(frame: pd.DataFrame, contract: DataContract, size: int = SAMPLE_SIZE) -> dict:
    """The ``size`` labelled records of ``frame`` whose keys hash lowest, each as ``[key, date]``,
    with how many labelled records there were (what a model's evidence keeps)."""
    records = keyed_records(frame, contract)
    lowest = records.sort_values("key", kind="stable").head(size)
    return {"records": lowest.to_numpy().tolist(), "labelled_rows": len(records)}


@dataclass(frozen=True)
class Held:
    """How many of a sample's records dated within an extract's span it holds."""

    held: int
    within_span: int

    @property
    def known(self) -> bool:
        """Enough sampled records fall within the extract's span to tell."""
        return self.within_span >= MIN_RECORDS

    @property
    def same_data(self) -> bool:
        """The extract holds the sample's records (True when it cannot tell)."""
        return not self.known or self.held >= SAME_SHARE * self.within_span


def held_in(sample: dict, frame: pd.DataFrame, contract: DataContract) -> Held:
    """How many of ``sample``'s records dated within ``frame``'s labelled span ``frame`` holds with
    the same disruption id, line, date and outcome."""
    records = keyed_records(frame, contract)
    if records.empty or not sample.get("records"):
        return Held(0, 0)
    first, last = records["date"].min(), records["date"].max()
    within = [key for key, date in sample["records"] if first <= date <= last]
    present = set(records["key"])
    return Held(sum(key in present for key in within), len(within))
