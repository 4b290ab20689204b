"""Weekly extracts that behave like real ones: the disruptions still open each week, with the
disruption package as recorded by then (counts grow and yes/no fields switch on over the weeks).

Method. Every unit of every accruing field (an arrested runner, a referral, an order; the one
event of a yes/no field) gets a recording delay in days, drawn once per world from its own random
stream (:func:`record_package`): 0 with chance ``on_day``, otherwise ``scale x U{first..last}``
(:class:`~resilience.data.synthetic.recording.RecordingDelays`; the same uniform draws at any scale,
so a world with doubled delays records each unit exactly twice as late). A week's extract shows,
for each disruption open on its extraction day, the units whose delay is at most the days elapsed
(:class:`WeeklyExtracts`, built one week at a time, so a whole history of extracts never sits in
memory). A field whose scaled delays all end within the horizon is capped at ``7 x horizon - 7``
days, so the last extract holding a disruption shows its final value; a field whose delays reach
past the horizon is not, so that extract can still lack some of it. Orders made on conviction
(``conviction_orders_rate``) are recorded only after the outcome is known, so no extract holds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from resilience.core.weeks import iso_weeks
from resilience.data.synthetic.config import WorldConfig
from resilience.data.synthetic.recording import Recording, RecordingDelays


@dataclass(frozen=True)
class WorldCalendar:
    """The world's days, counted from ``start_date`` (day 0).

    ``end_day`` is the world's "today"; a disruption's outcome is known ``horizon_days`` after it,
    so the labelled history ends at ``history_last``. Each exported ISO week is extracted on its
    ``as_of`` day (its Sunday, or ``end_day`` for the current week) and holds the disruptions still
    open then: ``as_of - horizon_days < day <= as_of``. The weeks run from ``start_date``'s ISO week
    (or the latest ``weekly_extract_weeks``) to ``end_date``'s; the world's records start on
    ``start_date``, so an extract of the first ``horizon_weeks`` holds only disruptions from then on.
    """

    start: pd.Timestamp
    end_day: int
    horizon_days: int
    mondays: tuple[int, ...]

    @classmethod
    def of(cls, cfg: WorldConfig) -> WorldCalendar:
        end_day = int((cfg.end_day - cfg.start_day).days)
        end_monday = end_day - cfg.end_day.weekday()
        mondays = tuple(end_monday - 7 * k for k in reversed(range(cfg.export_weeks)))
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


# The default delays (configs/world/default.yaml, recording_delays), field -> Recording.
RECORDING: dict[str, Recording] = {
    f.name: getattr(RecordingDelays(), f.name) for f in fields(RecordingDelays)
}
# Fields counted in units (a yes/no field is one unit), in draw order.
UNIT_COLUMNS: tuple[str, ...] = (
    "holder_arrested",
    "runners_arrested",
    "handsets_seized",
    "safeguarding_referrals",
    "closure_orders",
    "ddtro",
    "ancillary_orders",
)
SEIZURE_COLUMNS: tuple[str, ...] = ("drugs_seized_gbp", "cash_seized_gbp")
# Package fields that accrue week by week (counts grow, yes/no fields switch on).
ACCRUING_COLUMNS: tuple[str, ...] = (*UNIT_COLUMNS, "closure_type", *SEIZURE_COLUMNS)
# A follow-up seizure is worth this share of the final value (uniform; an assumption).
FOLLOW_UP_SHARE = (0.2, 0.6)
# A unit's delay is stored in the low bits of row * _STRIDE + delay (delays are far below 2^24 days).
_STRIDE = 1 << 24
_NEVER = _STRIDE - 1  # "not before the end of time": closure none, a unit after every extract


def _delays(
    rec: Recording, scale: float, cap: int | None, rng: np.random.Generator, size: int
) -> np.ndarray:
    """Days from the disruption (or the arrest) until each unit is on record."""
    u_delay, u_on = rng.random(size), rng.random(size)
    base = rec.first + np.floor(u_delay * (rec.last - rec.first + 1))
    days = np.where(u_on < rec.on_day, 0, np.round(scale * base)).astype(np.int64)
    return days if cap is None else np.minimum(days, cap)


def _past_horizon(cfg: WorldConfig) -> tuple[str, ...]:
    """Delay keys whose scaled delays can reach past the horizon (these are not capped)."""
    horizon = 7 * cfg.horizon_weeks
    delays, scale = cfg.recording_delays, cfg.recording_delay_scale
    longest = {f.name: round(scale * getattr(delays, f.name).last) for f in fields(delays)}
    longest["closure_type"] += longest["holder_arrested"]  # the charge follows the arrest
    return tuple(name for name, days in longest.items() if days > horizon)


def uncapped_fields(cfg: WorldConfig) -> tuple[str, ...]:
    """Extract columns the last extract holding a disruption may lack part of: their delays can
    reach past the horizon (or, for ancillary orders, orders are made on conviction). Every other
    accruing column shows its final value in that extract."""
    late = set(_past_horizon(cfg))
    if "closure_type_type2" in late:
        late.add("closure_type")
    if cfg.conviction_orders_rate > 0:
        late.add("ancillary_orders")
    return tuple(column for column in ACCRUING_COLUMNS if column in late)


@dataclass(frozen=True)
class _Units:
    """The recording days of one field's units, as sorted keys ``row * _STRIDE + delay``."""

    keys: np.ndarray
    starts: np.ndarray  # index of each row's first key (length rows + 1)

    @classmethod
    def of(cls, row: np.ndarray, delay: np.ndarray, n_rows: int) -> _Units:
        keys = np.sort(row.astype(np.int64) * _STRIDE + delay)
        starts = np.searchsorted(keys, np.arange(n_rows + 1, dtype=np.int64) * _STRIDE)
        return cls(keys, starts)

    def recorded(self, rows: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
        """How many units of each row are on record ``elapsed`` days after its disruption."""
        upto = rows.astype(np.int64) * _STRIDE + np.clip(elapsed, -1, _NEVER - 1)
        return np.searchsorted(self.keys, upto, side="right") - self.starts[rows]


@dataclass(frozen=True)
class RecordedPackage:
    """When each unit of each record's package is on record (days after the disruption)."""

    units: dict[str, _Units]
    closure_day: np.ndarray  # the day closure_type leaves "none" (_NEVER if it never does)
    follow_up: dict[str, tuple[np.ndarray, np.ndarray]]  # seizure -> (share still to come, day)
    final: dict[str, np.ndarray]  # the final values of the accruing columns


def record_package(
    records: pd.DataFrame, conviction: np.ndarray, cfg: WorldConfig, rng: np.random.Generator
) -> RecordedPackage:
    """Draw when every unit of every accruing field of ``records`` (final packages) is recorded.

    ``conviction`` counts each record's ancillary orders made on conviction: they are recorded
    after the horizon (so never in an extract). The draws use only ``rng``, so they never change
    the history; they are made for every record, whatever the number of exported weeks.
    """
    n = len(records)
    horizon = 7 * cfg.horizon_weeks
    cap = max(horizon - 7, 0)
    late = set(_past_horizon(cfg))
    delays, scale = cfg.recording_delays, cfg.recording_delay_scale

    def field_cap(name: str) -> int | None:
        return None if name in late else cap

    units: dict[str, _Units] = {}
    holder_day = np.full(n, _NEVER, dtype=np.int64)
    for column in UNIT_COLUMNS:
        counts = records[column].to_numpy().astype(np.int64)
        if column == "ancillary_orders":
            counts = counts - conviction
        row = np.repeat(np.arange(n), counts)
        day = _delays(getattr(delays, column), scale, field_cap(column), rng, row.size)
        if column == "ancillary_orders" and conviction.any():
            extra = np.repeat(np.arange(n), conviction)
            after = horizon + 1 + np.floor(rng.random(extra.size) * horizon).astype(np.int64)
            row, day = np.concatenate([row, extra]), np.concatenate([day, after])
        if column == "holder_arrested":
            holder_day[row] = day
        units[column] = _Units.of(row, day, n)
    closure = records["closure_type"].to_numpy(dtype=object)
    charge = holder_day + _delays(delays.closure_type, scale, None, rng, n)
    if field_cap("closure_type") is not None:
        charge = np.minimum(charge, cap)
    deactivated = _delays(delays.closure_type_type2, scale, field_cap("closure_type_type2"), rng, n)
    closure_day = np.where(
        closure == "type1", charge, np.where(closure == "type2", deactivated, _NEVER)
    )
    follow_up = {}
    for column in SEIZURE_COLUMNS:
        day = _delays(getattr(delays, column), scale, field_cap(column), rng, n)
        share = (day > 0) * rng.uniform(*FOLLOW_UP_SHARE, size=n)
        follow_up[column] = (share, day)
    final = {column: records[column].to_numpy() for column in ACCRUING_COLUMNS}
    final["closure_type"] = closure
    return RecordedPackage(units, np.minimum(closure_day, _NEVER), follow_up, final)


def recorded_values(
    package: RecordedPackage, rows: np.ndarray, elapsed: np.ndarray
) -> dict[str, np.ndarray]:
    """The accruing columns of records ``rows`` as recorded ``elapsed`` days after each
    disruption (row by row; a row may appear more than once, at different ages)."""
    out: dict[str, np.ndarray] = {}
    for column in UNIT_COLUMNS:
        count = package.units[column].recorded(rows, elapsed)
        dtype = package.final[column].dtype
        out[column] = count > 0 if dtype == np.dtype(bool) else count.astype(dtype)
    on_record = package.closure_day[rows] <= elapsed
    out["closure_type"] = np.where(on_record, package.final["closure_type"][rows], "none").astype(
        object
    )
    for column in SEIZURE_COLUMNS:
        share, day = package.follow_up[column]
        still_to_come = share[rows] * (elapsed < day[rows])
        out[column] = np.round(package.final[column][rows] * (1.0 - still_to_come), -1)
    return out


def as_recorded(
    records: pd.DataFrame, package: RecordedPackage, rows: np.ndarray, elapsed: np.ndarray
) -> pd.DataFrame:
    """The ``rows`` of ``records`` as recorded ``elapsed`` days after each disruption."""
    out = records.take(rows).reset_index(drop=True)
    for column, values in recorded_values(package, rows, elapsed).items():
        out[column] = pd.array(values, dtype="str") if values.dtype == object else values
    return out


class WeeklyExtracts(Mapping):
    """ISO week -> that week's extract: the disruptions open on its extraction day, as recorded by
    then, without the label. Each extract is built when asked for (a few milliseconds), so the
    whole history of weekly extracts never needs to be in memory at once.

    ``records`` holds every disruption's final record (contract columns, no label needed), ``day``
    its disruption day. A disruption is in ``horizon_weeks`` consecutive weekly extracts under the
    same ids; its package fields grow towards the final values the history holds.
    """

    def __init__(
        self,
        calendar: WorldCalendar,
        records: pd.DataFrame,
        day: np.ndarray,
        package: RecordedPackage,
        label: str,
    ) -> None:
        self.calendar = calendar
        self._records = records
        self._label = label
        self._table = None  # the records as an Arrow table, made on first use
        self._day = np.asarray(day, dtype=np.int64)
        self._package = package
        self._as_of = dict(zip(calendar.weeks, calendar.as_of))

    def __getitem__(self, week: str) -> pd.DataFrame:
        rows, elapsed = self.open_rows(week)
        return self._recorded(rows, elapsed)

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_of)

    def __len__(self) -> int:
        return len(self._as_of)

    def __repr__(self) -> str:
        weeks = list(self._as_of)
        return f"WeeklyExtracts({len(weeks)} weeks, {weeks[0]} ... {weeks[-1]})"

    def table(self, week: str):
        """The week's extract as an Arrow table (what the weekly file holds; the same frame back
        from ``pd.read_parquet``). Cheaper than the frame: the unchanging columns are converted to
        Arrow once per world, and only the accruing ones per week."""
        import pyarrow as pa

        if self._table is None:
            self._table = pa.Table.from_pandas(
                self._records.drop(columns=[self._label], errors="ignore"), preserve_index=False
            )
        rows, elapsed = self.open_rows(week)
        table = self._table.slice(rows[0], rows.size) if rows.size else self._table.slice(0, 0)
        for column, values in recorded_values(self._package, rows, elapsed).items():
            i = table.schema.get_field_index(column)
            field = table.schema.field(i)
            table = table.set_column(i, field, pa.array(values, type=field.type))
        return table

    def as_of(self, week: str) -> pd.Timestamp:
        """The day the week's extract was taken (its Sunday, or ``end_date``)."""
        return self.calendar.start + pd.Timedelta(days=self._as_of[week])

    def open_rows(self, week: str) -> tuple[np.ndarray, np.ndarray]:
        """The records open in ``week`` (positions in date order) and their age in days."""
        as_of = self._as_of[week]
        low = np.searchsorted(self._day, as_of - self.calendar.horizon_days, side="right")
        high = np.searchsorted(self._day, as_of, side="right")
        rows = np.arange(low, high)
        return rows, as_of - self._day[rows]

    def distinct_records(self, columns: list[str] | None = None) -> list[pd.DataFrame]:
        """Every distinct row of every weekly extract, once: each open disruption as first
        recorded and again each time its record changed. Layer ``k`` holds the ``k``-th version of
        each disruption that has one, so each layer's ids are unique, like an extract's. Checking
        these layers checks every row of every weekly extract (each extract is distinct rows of
        distinct disruptions), at a fraction of the cost. ``columns`` keeps only those.
        """
        n = len(self._records)
        last = np.full((n, len(ACCRUING_COLUMNS)), np.nan)
        versions = np.zeros(n, dtype=np.int64)
        picked: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for week in self:
            rows, elapsed = self.open_rows(week)
            now = self._accruing(rows, elapsed)
            changed = np.any(now != last[rows], axis=1)
            rows, elapsed, now = rows[changed], elapsed[changed], now[changed]
            picked.append((rows, elapsed, versions[rows].copy()))
            last[rows] = now
            versions[rows] += 1
        if not picked:
            return []
        rows, elapsed, layer = (np.concatenate(part) for part in zip(*picked))
        records = self._records if columns is None else self._records[list(columns)]
        out = []
        for k in range(int(layer.max(initial=-1)) + 1):
            mine, age = rows[layer == k], elapsed[layer == k]
            frame = records.take(mine).reset_index(drop=True)
            values = recorded_values(self._package, mine, age)
            for column in frame.columns.intersection(list(values)):
                frame[column] = values[column]
            out.append(frame.drop(columns=[self._label], errors="ignore"))
        return out

    def _recorded(self, rows: np.ndarray, elapsed: np.ndarray) -> pd.DataFrame:
        out = as_recorded(self._records, self._package, rows, elapsed)
        return out.drop(columns=[self._label], errors="ignore")

    def _accruing(self, rows: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
        """The accruing fields as recorded, as numbers (one column per field; closure_type only
        ever leaves "none" for its final value, so "on record" says which it shows)."""
        values = recorded_values(self._package, rows, elapsed)
        values["closure_type"] = values["closure_type"] != "none"
        return np.column_stack([values[c] for c in ACCRUING_COLUMNS]).astype(np.float64)
