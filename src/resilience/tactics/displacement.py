"""Displacement, as context: what became of a group's other lines after one of its lines closed.

Where the data config names an organised crime group column (role ``group``), each disruption
after which the line was no longer active (the label false: a **closure**) of a line whose group
has other lines on record is taken in turn, and the group's *other* lines are counted in the
horizon before and after it: their disruptions, how many of those lines were still active at
the horizon, and lines of the group appearing on record for the first time. Description only:
the record shows where police looked, so a group's lines seen more often after a closure may be
lines police now look for. It is never a tactic's effect and never feeds an estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.data.contract import DataContract


def _around(data: pd.DataFrame, horizon: pd.Timedelta) -> np.ndarray:
    """Summed (before, after) x (disruptions, still active, new lines) over every closure: each
    closure joined to its group's other lines' disruptions."""
    closures = data.loc[~data["label"], ["group", "line", "date"]]
    pairs = closures.merge(data, on="group", suffixes=("_closed", ""))
    pairs = pairs[pairs["line"] != pairs["line_closed"]]
    offset = pairs["date"] - pairs["date_closed"]
    first = pairs["line"].map(data.groupby("line")["date"].min())
    first_offset = first - pairs["date_closed"]
    totals = np.zeros((2, 3), dtype=int)
    for side, inside in enumerate(
        (
            (offset >= -horizon) & (offset < pd.Timedelta(0)),
            (offset >= pd.Timedelta(0)) & (offset < horizon),
        )
    ):
        new = inside & (first_offset == offset)  # the line's first disruption on record is this one
        totals[side] = (int(inside.sum()), int(pairs.loc[inside, "label"].sum()), int(new.sum()))
    return totals


def displacement(frame: pd.DataFrame, contract: DataContract) -> dict | None:
    """Before/after counts around every closure of a line with other lines in its group, or None
    when the data config names no group column or no such closure is on record."""
    if contract.group_column is None:
        return None
    data = pd.DataFrame(
        {
            "group": frame[contract.group_column].astype("string"),
            "line": frame[contract.line_column].astype(str),
            "date": pd.to_datetime(frame[contract.date_column]),
            "label": frame[contract.label].astype("boolean"),
        }
    ).dropna(subset=["group", "label"])
    data["label"] = data["label"].astype(bool)
    data = data[data.groupby("group")["line"].transform("nunique") > 1]
    closures = data[~data["label"]]
    if closures.empty:
        return None
    horizon = pd.Timedelta(weeks=contract.horizon_weeks)
    totals = _around(data, horizon)
    keys = ("disruptions", "still_active", "new_lines")
    return {
        "closures": int(len(closures)),
        "groups": int(closures["group"].nunique()),
        "weeks": int(contract.horizon_weeks),
        "before": dict(zip(keys, totals[0].tolist())),
        "after": dict(zip(keys, totals[1].tolist())),
    }
