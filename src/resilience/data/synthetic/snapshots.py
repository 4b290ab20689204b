"""Weekly extracts that behave like real ones: the disruptions still open each week, with the
disruption package as recorded by then (counts grow and yes/no fields switch on over the weeks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resilience.core.weeks import iso_weeks
from resilience.data.synthetic.config import WorldConfig


@dataclass(frozen=True)
class WorldCalendar:
    """The world's days, counted from ``start_date`` (day 0).

    ``end_day`` is the world's "today"; a disruption's outcome is known ``horizon_days`` after it,
    so the labelled history ends at ``history_last``. Each exported ISO week is extracted on its
    ``as_of`` day (its Sunday, or ``end_day`` for the current week) and holds the disruptions still
    open then: ``as_of - horizon_days < day <= as_of``.
    """

    start: pd.Timestamp
    end_day: int
    horizon_days: int
    mondays: tuple[int, ...]

    @classmethod
    def of(cls, cfg: WorldConfig) -> WorldCalendar:
        end_day = int((cfg.end_day - cfg.start_day).days)
        end_monday = end_day - cfg.end_day.weekday()
        mondays = tuple(end_monday - 7 * k for k in reversed(range(cfg.weekly_extract_weeks)))
        return cls(cfg.start_day, end_day, 7 * cfg.horizon_weeks, mondays)

    @property
    def history_last(self) -> int:
        return self.end_day - self.horizon_days

    @property
    def as_of(self) -> tuple[int, ...]:
        return tuple(min(monday + 6, self.end_day) for monday in self.mondays)

    @property
    def first_open_day(self) -> int:
        """The earliest disruption day that is open in some exported week."""
        return self.as_of[0] - self.horizon_days + 1

    @property
    def weeks(self) -> list[str]:
        return list(
            iso_weeks(pd.DatetimeIndex([self.start + pd.Timedelta(days=d) for d in self.mondays]))
        )


@dataclass(frozen=True)
class Recording:
    """When the units of one disruption-package field are recorded (an **assumption**: no public
    source gives recording delays). Each unit (an arrested runner, a referral, an order; or the
    one event of a yes/no field) is recorded on the day of the disruption with chance ``on_day``,
    otherwise on a day drawn uniformly from ``first`` to ``last`` days after it. Every delay is
    capped so the last weekly extract that holds a disruption shows its final package."""

    on_day: float
    first: int
    last: int


# Package fields that accrue week by week (counts grow, yes/no fields switch on), in draw order.
RECORDING: dict[str, Recording] = {
    "holder_arrested": Recording(
        on_day=0.6, first=1, last=56
    ),  # arrested on the day or in the operation
    "runners_arrested": Recording(on_day=0.65, first=1, last=56),
    "handsets_seized": Recording(on_day=0.8, first=1, last=56),  # most at the arrests
    "safeguarding_referrals": Recording(on_day=0.4, first=1, last=42),
    "closure_orders": Recording(on_day=0.0, first=2, last=28),  # notice, then a magistrates' order
    "ddtro": Recording(on_day=0.0, first=7, last=56),  # an application to court
    "ancillary_orders": Recording(
        on_day=0.2, first=7, last=70
    ),  # interim orders on the day; CBOs, STPOs take weeks
}
# closure_type: type1 is recorded when the arrested holder is charged, 0 to this many days after the
# arrest; type2 (number deactivated) from TYPE2_DAYS after the disruption. Seizure values
# (drugs_seized_gbp, cash_seized_gbp): the day's seizure, then with chance FOLLOW_UP_CHANCE a
# follow-up seizure worth FOLLOW_UP_SHARE of the final value within FOLLOW_UP_DAYS. Assumptions.
CHARGE_DAYS = 28
TYPE2_DAYS = (3, 42)
FOLLOW_UP_CHANCE = 0.4
FOLLOW_UP_SHARE = (0.2, 0.6)
FOLLOW_UP_DAYS = (1, 56)
SEIZURE_COLUMNS = ("drugs_seized_gbp", "cash_seized_gbp")
ACCRUING_COLUMNS: tuple[str, ...] = (*RECORDING, "closure_type", *SEIZURE_COLUMNS)


def _recording_days(
    frame: pd.DataFrame, rng: np.random.Generator, cap: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Draw when each unit of each accruing field is recorded: field -> (row of unit, day after)."""
    days: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column, rec in RECORDING.items():
        units = frame[column].to_numpy().astype(np.int64)
        row = np.repeat(np.arange(units.size), units)
        later = rng.integers(rec.first, rec.last + 1, size=row.size)
        days[column] = (row, np.minimum(np.where(rng.random(row.size) < rec.on_day, 0, later), cap))
    n = len(frame)
    holder_day = np.full(n, cap)
    holder_day[days["holder_arrested"][0]] = days["holder_arrested"][1]
    charged = np.minimum(holder_day + rng.integers(0, CHARGE_DAYS + 1, size=n), cap)
    deactivated = np.minimum(rng.integers(TYPE2_DAYS[0], TYPE2_DAYS[1] + 1, size=n), cap)
    closure = frame["closure_type"].to_numpy(dtype=object)
    days["closure_type"] = (np.arange(n), np.where(closure == "type1", charged, deactivated))
    for column in SEIZURE_COLUMNS:
        follow_up = rng.random(n) < FOLLOW_UP_CHANCE
        share = follow_up * rng.uniform(*FOLLOW_UP_SHARE, size=n)
        when = np.minimum(rng.integers(FOLLOW_UP_DAYS[0], FOLLOW_UP_DAYS[1] + 1, size=n), cap)
        days[column] = (share, when)
    return days


def _as_recorded(
    frame: pd.DataFrame,
    elapsed: np.ndarray,
    days: dict[str, tuple[np.ndarray, np.ndarray]],
    rows: np.ndarray,
) -> pd.DataFrame:
    """The ``rows`` of ``frame`` as recorded ``elapsed`` days after each disruption (the final values
    once every unit is in)."""
    out = frame.loc[rows].reset_index(drop=True)
    n = len(frame)
    for column in RECORDING:
        unit_row, day = days[column]
        count = np.bincount(unit_row[day <= elapsed[unit_row]], minlength=n)[rows]
        out[column] = (
            count > 0 if frame[column].dtype == bool else count.astype(frame[column].dtype)
        )
    _, day = days["closure_type"]
    closure = frame["closure_type"].to_numpy(dtype=object)
    out["closure_type"] = pd.array(np.where(day <= elapsed, closure, "none")[rows], dtype="str")
    for column in SEIZURE_COLUMNS:
        share, day = days[column]
        out[column] = np.round(frame[column].to_numpy() * (1.0 - share * (elapsed < day)), -1)[rows]
    return out


def weekly_extracts(
    cal: WorldCalendar, frame: pd.DataFrame, day: np.ndarray, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """ISO week -> the disruptions open on that week's extraction day, as recorded by then.

    ``frame`` holds every disruption open in some exported week (final package values, no label),
    ``day`` its disruption day. A disruption is in ``horizon_weeks`` consecutive weekly extracts
    under the same ids; its package fields grow towards the final values the history holds.
    """
    days = _recording_days(frame, rng, cap=max(cal.horizon_days - 7, 0))
    weekly = {}
    for week, as_of in zip(cal.weeks, cal.as_of):
        open_rows = (day > as_of - cal.horizon_days) & (day <= as_of)
        weekly[week] = _as_recorded(frame, as_of - day, days, open_rows)
    return weekly
