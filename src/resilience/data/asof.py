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
2. the option ``as_of`` (``resilience-train as_of=2026-11-22``, ``resilience-validate ...``);
3. ``as_of: auto`` (the default): the ``end_date`` of ``world.json`` beside the input for a
   synthetic world, otherwise today (only labels that could not be known even today are refused;
   the run's log says so).

An as-of date after today is refused (an extract cannot have been taken in the future: such a
date would let every young label through), and so is an extraction date after today in the
``as_of_column``. The guard is switched off only when spelled out, ``as_of=unchecked``;
``none``, ``null`` and an empty value are refused with a message saying so. :func:`as_of_from_setting`
returns an :class:`AsOf` that says whether the guard is on, so a run, its model card and its
briefing can carry the warning. ``resilience-validate`` runs the same checks as training whenever
the extract carries labels, so an extract it passes is not refused by ``resilience-train``.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.errors import ContractError, Problem, ResilienceError
from resilience.data.contract import DataContract

log = logging.getLogger(__name__)
SHOWN_ROWS = 5


UNCHECKED = "unchecked"
_NOT_A_DATE = ("none", "null", "")


@dataclass(frozen=True)
class AsOf:
    """When the extract was taken, as the label-age guard uses it.

    Attributes
    ----------
    date : one as-of day for every row; None when it is read per row (``column``) or unchecked
    column : the data config's ``as_of_column``, read per row; None otherwise
    source : where the date came from, for messages (``as_of=2026-11-22``, ``world.json``, ...)
    unchecked : True only for ``as_of=unchecked``: labels are not checked for age
    warning : the sentence a training run, its model card and its briefing must carry when the
        guard is off (None when it is on)

    >>> AsOf(date=None, unchecked=True, warning="...").checked
    False
    """

    date: pd.Timestamp | None = None
    column: str | None = None
    source: str = ""
    unchecked: bool = False
    warning: str | None = None

    @property
    def checked(self) -> bool:
        return not self.unchecked

    def describe(self) -> str:
        """One phrase for summaries: what the labels' ages were checked against."""
        if self.unchecked:
            return "unchecked (as_of=unchecked)"
        if self.column:
            return f"per row, column '{self.column}'"
        return f"{self.date.date()} ({self.source})" if self.date is not None else "none"


def as_of_from_setting(
    setting: object,
    input_path: str | Path | None,
    contract: DataContract,
    today: pd.Timestamp | None = None,
) -> AsOf:
    """The extract's as-of date from the ``as_of`` option (see the module docstring).

    ``setting``: ``auto``, an ISO date or ``unchecked``; ``today``: the day after which an as-of
    date is refused (default: today). Raises :class:`ResilienceError` for ``none``/``null``/empty,
    a date that does not parse, a date after today, or a date given for a config whose extract
    carries its own (``as_of_column``).
    """
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today).normalize()
    text = "" if setting is None else str(setting).strip()
    if text.lower() in _NOT_A_DATE:
        raise ResilienceError(
            f"as_of={text or 'null'} is not an as-of date. Give the day the extract was taken "
            "(as_of=YYYY-MM-DD), or as_of=auto; to switch the label-age guard off write "
            "as_of=unchecked (the run, its model card and its briefing then say so)"
        )
    if text.lower() == UNCHECKED:
        return _as_of_unchecked(contract)
    if text.lower() != "auto":
        return _as_of_date(text, contract, today)
    return _as_of_auto(input_path, contract, today)


def _as_of_unchecked(contract: DataContract) -> AsOf:
    """``as_of=unchecked``: the guard is off, with the warning every output must carry."""
    return AsOf(
        unchecked=True,
        source="as_of=unchecked",
        warning=(
            "as_of=unchecked: the labels' ages were not checked against the day the extract "
            f"was taken, so outcomes not yet knowable (disruptions less than "
            f"{contract.horizon_weeks} weeks before it) may be among the labels"
        ),
    )


def _as_of_date(text: str, contract: DataContract, today: pd.Timestamp) -> AsOf:
    """``as_of=<date>``: an ISO date not after today, for a config without an ``as_of_column``."""
    try:
        date = pd.Timestamp(text).normalize()
    except ValueError as exc:
        raise ResilienceError(
            f"as_of must be an ISO date (YYYY-MM-DD), auto or unchecked, not {text!r}"
        ) from exc
    if contract.as_of_column:
        raise ResilienceError(
            f"as_of={text}: data config '{contract.name}' reads each row's as-of date from "
            f"column '{contract.as_of_column}'; use as_of=auto (or as_of=unchecked)"
        )
    return _not_future(AsOf(date=date, source=f"as_of={text}"), today, f"as_of={text}")


def _as_of_auto(input_path: str | Path | None, contract: DataContract, today: pd.Timestamp) -> AsOf:
    """``as_of=auto``: the config's ``as_of_column``, else the ``end_date`` of ``world.json``
    beside the input, else today (logged as a warning)."""
    if contract.as_of_column:
        return AsOf(column=contract.as_of_column, source=f"column '{contract.as_of_column}'")
    world = Path(input_path).parent / "world.json" if input_path else None
    if world is not None and world.is_file():
        try:
            date = pd.Timestamp(json.loads(world.read_text())["end_date"]).normalize()
        except (ValueError, KeyError, TypeError) as exc:
            raise ResilienceError(
                f"{world}: cannot read the world's end_date for as_of=auto: {exc}"
            ) from exc
        return _not_future(AsOf(date=date, source=str(world)), today, f"{world}: end_date")
    log.warning(
        "the extract's as-of date is unknown (no as_of_column in data config '%s', no as_of option): "
        "using today, %s; labels younger than %d weeks before today are refused",
        contract.name,
        today.date(),
        contract.horizon_weeks,
    )
    return AsOf(date=today, source="today")


def _not_future(as_of: AsOf, today: pd.Timestamp, what: str) -> AsOf:
    if as_of.date is not None and as_of.date > today:
        raise ResilienceError(
            f"{what} ({as_of.date.date()}) is after today ({today.date()}): an extract cannot "
            "have been taken in the future, and a later as-of date would let labels that cannot "
            "be known yet into training; give the day the extract was taken"
        )
    return as_of


def resolve_as_of(
    setting: object,
    input_path: str | Path | None,
    contract: DataContract,
    today: pd.Timestamp | None = None,
) -> pd.Timestamp | None:
    """The as-of date alone (:func:`as_of_from_setting`'s ``date``), for callers that pass a date.

    Returns None when the extract carries it (``as_of_column``: read per row) or for
    ``as_of=unchecked``; a caller that must tell the two apart (to carry the warning) uses
    :func:`as_of_from_setting`.
    """
    return as_of_from_setting(setting, input_path, contract, today).date


def _row_numbers(frame: pd.DataFrame, mask: np.ndarray) -> tuple[int, ...]:
    """1-based data-row numbers of the extract (the frame's index is its row position)."""
    index = frame.index[mask]
    if pd.api.types.is_integer_dtype(index):
        return tuple(int(i) + 1 for i in index)
    return tuple(int(i) + 1 for i in np.flatnonzero(mask))


def censored_problems(
    frame: pd.DataFrame,
    contract: DataContract,
    as_of: pd.Timestamp | AsOf | None,
    source: str,
    today: pd.Timestamp | None = None,
) -> list[Problem]:
    """Labelled rows disrupted less than the horizon before the as-of date (and, when the
    extract carries its as-of dates, rows extracted after today)."""
    if isinstance(as_of, AsOf):
        if as_of.unchecked:
            return []
        as_of = as_of.date
    label = frame[contract.label]
    dates = pd.to_datetime(frame[contract.date_column])
    if contract.as_of_column:
        taken = pd.to_datetime(frame[contract.as_of_column])
        where = f"the extraction date in column '{contract.as_of_column}'"
        future = _future_extractions(frame, contract, taken, source, today)
        if future:
            return future
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


def _future_extractions(
    frame: pd.DataFrame,
    contract: DataContract,
    taken: pd.Series,
    source: str,
    today: pd.Timestamp | None,
) -> list[Problem]:
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    bad = (taken > today).to_numpy()
    if not bad.any():
        return []
    return [
        Problem(
            source,
            contract.as_of_column,
            "an extraction date after today: an extract cannot have been taken in the future, "
            "and it would let labels that cannot be known yet into training",
            f"a date on or before {today.date()}",
            _row_numbers(frame, bad)[:SHOWN_ROWS],
            tuple(str(d.date()) for d in taken[bad].head(SHOWN_ROWS)),
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
    as_of: pd.Timestamp | AsOf | None,
    source: str = "training extract",
    today: pd.Timestamp | None = None,
) -> None:
    """Refuse a labelled extract with censored labels or history counts known only later.

    The one check of a labelled extract, run by ``resilience-train`` and ``resilience-validate``
    alike. ``as_of``: an :class:`AsOf` (``unchecked`` skips the label-age check only), a date, or
    None (the data config's ``as_of_column``, if any, is read per row).
    """
    problems = censored_problems(frame, contract, as_of, source, today) + history_count_problems(
        frame, contract, source
    )
    if problems:
        raise ContractError(problems)
