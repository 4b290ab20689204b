"""Censoring and as-of guards: training only on what could be known when the extract was taken.

Two facts about a labelled extract are checked before training (both declared in the data
config, so nothing here knows a particular extract):

**Censoring.** A label says whether the line was still active ``horizon_weeks`` after its
disruption. A row disrupted less than ``horizon_weeks`` before the extract was taken (its
*as-of* date) cannot have a known outcome: a "not persisted" written one week after a disruption
is a guess, and training on it teaches the model that lines fold. Such rows are **refused**
(:func:`censored_problems`). The as-of date comes, in this order, from

1. the data config's ``as_of_column``: a date column the extract carries (the day each row was
   extracted);
2. the training option ``as_of`` (``resilience-train as_of=2026-11-22``);
3. ``as_of: auto`` (the default): the ``end_date`` of ``world.json`` beside the input for a
   synthetic world, otherwise today (only labels that could not be known even today are refused;
   the run's log says so).

**History counts as of the disruption date.** Columns listed under the data config's
``history_counts`` count the line's *earlier* disruptions as they stood on the disruption date
(e.g. ``prior_disruptions``). A count recounted on the day of extraction carries disruptions that
happened later, which the model cannot have at scoring time (on a test world it made calibration
error jump from 0.03 to 0.21). The extract may not hold a line's whole history (disruptions
before it starts), but along a line's rows ordered by date the count must rise by at least the
number of the line's disruptions in between: ``count - (earlier rows of the line in the
extract)`` never falls. A line whose rows all carry the same count (e.g. its total number of
rows) breaks this and is reported (:func:`history_count_problems`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.errors import ContractError, Problem, ResilienceError
from resilience.data.contract import DataContract

log = logging.getLogger(__name__)
SHOWN_ROWS = 5


def resolve_as_of(
    setting: str | None, input_path: str | Path | None, contract: DataContract
) -> pd.Timestamp | None:
    """The extract's as-of date from a training option (see the module docstring).

    Returns None when the extract carries it (``as_of_column``): it is then read per row.
    """
    if contract.as_of_column:
        return None
    if setting not in (None, "auto", "none", "null", ""):
        try:
            return pd.Timestamp(str(setting)).normalize()
        except ValueError as exc:
            raise ResilienceError(
                f"as_of must be an ISO date (YYYY-MM-DD) or auto, not {setting!r}"
            ) from exc
    if setting in ("none", "null"):
        return None
    world = Path(input_path).parent / "world.json" if input_path else None
    if world is not None and world.is_file():
        try:
            return pd.Timestamp(json.loads(world.read_text())["end_date"]).normalize()
        except (ValueError, KeyError, TypeError) as exc:
            raise ResilienceError(
                f"{world}: cannot read the world's end_date for as_of=auto: {exc}"
            ) from exc
    today = pd.Timestamp.today().normalize()
    log.warning(
        "the extract's as-of date is unknown (no as_of_column in data config '%s', no as_of option): "
        "using today, %s; labels younger than %d weeks before today are refused",
        contract.name,
        today.date(),
        contract.horizon_weeks,
    )
    return today


def _row_numbers(frame: pd.DataFrame, mask: np.ndarray) -> tuple[int, ...]:
    """1-based data-row numbers of the extract (the frame's index is its row position)."""
    index = frame.index[mask]
    if pd.api.types.is_integer_dtype(index):
        return tuple(int(i) + 1 for i in index)
    return tuple(int(i) + 1 for i in np.flatnonzero(mask))


def censored_problems(
    frame: pd.DataFrame, contract: DataContract, as_of: pd.Timestamp | None, source: str
) -> list[Problem]:
    """Labelled rows disrupted less than the horizon before the as-of date."""
    label = frame[contract.label]
    dates = pd.to_datetime(frame[contract.date_column])
    if contract.as_of_column:
        taken = pd.to_datetime(frame[contract.as_of_column])
        where = f"the extraction date in column '{contract.as_of_column}'"
    elif as_of is not None:
        taken = pd.Series(pd.Timestamp(as_of), index=frame.index)
        where = f"the extract's as-of date {pd.Timestamp(as_of).date()}"
    else:
        return []
    horizon = pd.Timedelta(weeks=contract.horizon_weeks)
    bad = (label.notna() & (dates > taken - horizon)).to_numpy()
    if not bad.any():
        return []
    rows = _row_numbers(frame, bad)
    values = tuple(str(d.date()) for d in dates[bad].head(SHOWN_ROWS))
    return [
        Problem(
            source,
            contract.date_column,
            f"a labelled disruption less than {contract.horizon_weeks} weeks before {where}: its outcome "
            f"('{contract.label}') cannot be known yet, so it is refused for training",
            f"disruptions on or before {(taken - horizon).min().date()} when labelled (or an empty label)",
            rows[:SHOWN_ROWS],
            values,
            int(bad.sum()),
        )
    ]


def recounted_rows(frame: pd.DataFrame, contract: DataContract, column: str) -> np.ndarray:
    """Mask of rows whose count of earlier disruptions could only be known later.

    Per line and date, ``unseen = count - earlier rows of the line in the extract`` (disruptions
    the extract does not hold) must not fall from one date to the next; the rows of the earlier
    date of each fall are marked (their count includes disruptions still to come).
    """
    lines = frame[contract.line_column].astype(str).to_numpy()
    dates = pd.to_datetime(frame[contract.date_column]).to_numpy()
    count = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    table = pd.DataFrame(
        {"line": lines, "date": dates, "count": count, "pos": np.arange(len(frame))}
    )
    table = table.dropna(subset=["count"]).sort_values(["line", "date"], kind="stable")
    table["earlier"] = table.groupby("line")["date"].rank(method="min").to_numpy() - 1
    table["unseen"] = table["count"] - table["earlier"]
    per_date = table.groupby(["line", "date"], sort=True)["unseen"].min().reset_index()
    later = per_date.groupby("line")["unseen"].shift(-1)
    falls = per_date[later.notna() & (later < per_date["unseen"])]
    mask = np.zeros(len(frame), dtype=bool)
    if len(falls):
        marked = table.merge(falls[["line", "date"]], on=["line", "date"])["pos"].to_numpy()
        mask[marked] = True
    return mask


def history_count_problems(
    frame: pd.DataFrame, contract: DataContract, source: str
) -> list[Problem]:
    """Rows of declared history counts that include disruptions after the row's own date."""
    problems = []
    for column in contract.history_counts:
        bad = recounted_rows(frame, contract, column)
        if not bad.any():
            continue
        lines = frame.loc[bad, contract.line_column].astype(str)
        problems.append(
            Problem(
                source,
                column,
                f"'{column}' counts the line's earlier disruptions as of the disruption date, but along "
                f"{lines.nunique()} line(s) ordered by date it does not rise by the disruptions in between "
                "(it includes disruptions that happened later: recounted as of extraction?)",
                "a count that rises by at least one with each later disruption of the line",
                _row_numbers(frame, bad)[:SHOWN_ROWS],
                tuple(
                    f"{line}: {int(v)}"
                    for line, v in zip(
                        lines.head(SHOWN_ROWS), frame.loc[bad, column].head(SHOWN_ROWS)
                    )
                ),
                int(bad.sum()),
            )
        )
    return problems


def check_training_extract(
    frame: pd.DataFrame,
    contract: DataContract,
    as_of: pd.Timestamp | None,
    source: str = "training extract",
) -> None:
    """Refuse a labelled extract with censored labels or history counts known only later."""
    problems = censored_problems(frame, contract, as_of, source) + history_count_problems(
        frame, contract, source
    )
    if problems:
        raise ContractError(problems)
