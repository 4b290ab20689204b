"""The simulation: lines, their disruptions round by round, and the outcomes (seeded, vectorised).

Round ``k`` is every line's ``k``-th disruption, drawn for all lines at once with numpy, so a world
of a million rows takes seconds. A line that does not persist ends; a line that persists adapts and
is next disrupted at least ``horizon_weeks + 1`` weeks later, so every label is consistent with the
line's later rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from resilience.data.synthetic.columns import HUBS, LABEL, check_levels
from resilience.data.synthetic.config import WorldConfig, category_levels
from resilience.data.synthetic.lines import adapt, draw_lines, line_at_disruption
from resilience.data.synthetic.mechanism import mechanism_terms
from resilience.data.synthetic.package import FactualDraws, package
from resilience.data.synthetic.snapshots import WeeklyExtracts, WorldCalendar, record_package
from resilience.data.synthetic.tables import ocg_groups, world_frames


@dataclass
class SyntheticWorld:
    """A generated world.

    Attributes
    ----------
    history : labelled rows whose 12-week outcome is known by ``end_date``.
    weekly : ISO week ("YYYY-Www") -> that week's extract (a mapping that builds each extract when
        asked, :class:`~resilience.data.synthetic.snapshots.WeeklyExtracts`): the disruptions still
        open that week (disrupted in the last ``horizon_weeks``), package fields as recorded by
        then, without the label. Every ISO week of the world by default.
    truth : one row per disruption in ``history`` and ``weekly`` (from its final package): ``disruption_id``,
        ``true_probability``, ``term_intercept`` and ``term_<name>`` for each of :data:`TRUE_TERMS`.
    config : the config the world was generated from.
    records : every disruption's final record (history and open ones, in date order, the label
        too), the line's state at each disruption included. For the truth of tactics.
    noise : per disruption (same order as ``records``), the draws behind its package
        (:mod:`~resilience.data.synthetic.package`) and ``conviction_orders``, the ancillary orders
        made on conviction after the outcome. Never part of an extract.
    """

    history: pd.DataFrame
    weekly: Mapping[str, pd.DataFrame]
    truth: pd.DataFrame
    config: WorldConfig | None = None
    records: pd.DataFrame | None = None
    noise: pd.DataFrame | None = None


def _simulate_round(
    cfg: WorldConfig,
    rng: np.random.Generator,
    coupling: np.random.Generator,
    lines: dict[str, np.ndarray],
    idx: np.ndarray,
    day: np.ndarray,
    prior: np.ndarray,
    last_day: np.ndarray,
    shift_from: int,
    end_day: int,
) -> dict[str, np.ndarray]:
    """Draw one disruption for each line in ``idx`` (on ``day``) and its outcome.

    Rows on or after ``shift_from`` get the covariate shift; :func:`_simulate` draws them from
    their own random stream so that the shift leaves every other row unchanged.
    """
    shift = cfg.covariate_shift * (day >= shift_from)
    rows = line_at_disruption(cfg, rng, lines, idx, day, shift)
    rows["prior_disruptions"] = prior
    rows["weeks_since_last_disruption"] = np.round((day - last_day) / 7.0, 1)
    draws = FactualDraws(rng, coupling)
    rows.update(package(cfg, rows, shift, lines["line_effect"][idx], draws))
    rows.update({"noise_" + name: value for name, value in draws.noise.items()})
    x = {
        **rows,
        "line_type": rows["home_grown"].astype(np.int64),
        "closure_type": rows["closure"],
        "disruption_grade": rows["grade"],
        "policing_area": lines["area"][idx],
        "commodity": lines["commodity"][idx],
        "origin_hub": np.where(rows["home_grown"], len(HUBS), lines["hub"][idx]),
    }
    terms = mechanism_terms(cfg, x, np.clip(day / end_day, 0.0, 1.0), lines["line_effect"][idx])
    probability = expit(cfg.persistence_intercept + sum(terms.values()))
    rows["persisted"] = rng.random(idx.size) < probability
    rows["true_probability"] = probability
    rows.update({"term_" + name: value for name, value in terms.items()})
    return rows


def _simulate(
    cfg: WorldConfig,
    rngs: tuple[np.random.Generator, ...],
    lines: dict[str, np.ndarray],
    start_idx: np.ndarray,
    start_day: np.ndarray,
    shift_from: int,
    end_day: int,
    exported: tuple[tuple[int, int], ...],
    max_rounds: int | None = None,
) -> dict[str, np.ndarray]:
    """Run rounds of disruptions until every line has folded or passed ``end_day``.

    Only rows whose day falls in one of the ``exported`` (first, last) day ranges are returned;
    the others (before ``start_date``) still shape later rows.

    Rows on or after ``shift_from`` (outcome not yet known at ``end_day``) draw from their own
    stream ``rngs[1]``: numpy's discrete samplers consume a value-dependent number of bits, so
    sharing one stream would let the covariate shift of those rows perturb every other row.
    ``rngs[2]`` and ``rngs[3]`` couple the package's counts to their noise (main and open rows).
    """
    main_rng = rngs[0]
    idx, day = start_idx, start_day
    prior = np.zeros(idx.size, dtype=np.int64)
    last_day = np.full(idx.size, np.nan)
    chunks: list[dict[str, np.ndarray]] = []
    rounds = 0
    while idx.size and (max_rounds is None or rounds < max_rounds):
        rows = _round_by_stream(cfg, rngs, lines, idx, day, prior, last_day, shift_from, end_day)
        idx, day = rows["line"], rows["day"]
        prior = rows["prior_disruptions"]
        rounds += 1
        next_day, keep = _carry_on(cfg, main_rng, lines, rows, end_day)
        wanted = _in_ranges(day, exported)
        chunks.append({key: rows.pop(key)[wanted] for key in list(rows)})
        idx, last_day, day, prior = (
            idx[keep],
            day[keep].astype(np.float64),
            next_day[keep],
            prior[keep] + 1,
        )
    # Concatenate column by column, dropping each column's chunks as soon as it is joined.
    return (
        {key: np.concatenate([c.pop(key) for c in chunks]) for key in list(chunks[0])}
        if chunks
        else {}
    )


def _round_by_stream(
    cfg: WorldConfig,
    rngs: tuple[np.random.Generator, ...],
    lines: dict[str, np.ndarray],
    idx: np.ndarray,
    day: np.ndarray,
    prior: np.ndarray,
    last_day: np.ndarray,
    shift_from: int,
    end_day: int,
) -> dict[str, np.ndarray]:
    """One round: the rows before ``shift_from`` from the main streams, then those on or after it
    from the open rows' streams, joined in that order."""
    main_rng, window_rng, main_coupling, window_coupling = rngs
    in_window = day >= shift_from
    parts = [
        _simulate_round(
            cfg,
            rng,
            coupling,
            lines,
            idx[mask],
            day[mask],
            prior[mask],
            last_day[mask],
            shift_from,
            end_day,
        )
        for mask, rng, coupling in (
            (~in_window, main_rng, main_coupling),
            (in_window, window_rng, window_coupling),
        )
    ]
    return {key: np.concatenate([part.pop(key) for part in parts]) for key in list(parts[0])}


def _carry_on(
    cfg: WorldConfig,
    main_rng: np.random.Generator,
    lines: dict[str, np.ndarray],
    rows: dict[str, np.ndarray],
    end_day: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's next disruption day and whether its line carries on to it (it persisted, and the
    day is neither past ``end_day`` nor past the line's natural end); the lines that carry on adapt.
    """
    horizon_days = 7 * (cfg.horizon_weeks + 1)
    extra_days = cfg.mean_extra_gap_weeks * 7.0
    idx, day = rows["line"], rows["day"]
    # A persisting line is next disrupted after the horizon, so its label is settled first.
    # Lines disrupted after shift_from are always dropped here (their next disruption is after
    # end_day), so the shift never changes which lines carry on.
    gap = horizon_days + np.round(main_rng.exponential(extra_days, size=idx.size)).astype(np.int64)
    next_day = day + gap
    keep = rows["persisted"] & (next_day <= end_day) & (next_day < lines["natural_end"][idx])
    adapt(main_rng, lines, rows, keep)
    return next_day, keep


def _in_ranges(day: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Whether each day falls in one of the (first, last) day ranges."""
    wanted = np.zeros(day.size, dtype=bool)
    for first, last in ranges:
        wanted |= (day >= first) & (day <= last)
    return wanted


def _simulate_world(
    cfg: WorldConfig, cal: WorldCalendar, seeds: list[np.random.SeedSequence]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Draw the lines and every disruption from ``start_date`` to ``end_date`` (line state, rows).

    Rows after ``history_last`` (outcome not yet known) draw from their own stream, and so do the
    extra lines of the covariate shift, so neither ever changes a labelled history row.
    """
    profile_seq, rounds_seq, window_seq, shift_seq = seeds[:4]
    lines = draw_lines(
        cfg,
        np.random.default_rng(profile_seq),
        cfg.n_lines,
        cal.end_day,
        birth_low=-7 * cfg.warmup_weeks,
    )
    lines["group"] = ocg_groups(cfg, lines, np.random.default_rng(seeds[7]))
    starts = np.flatnonzero(
        (lines["first_day"] <= cal.end_day) & (lines["first_day"] < lines["natural_end"])
    )
    window_coupling = np.random.default_rng(seeds[6])
    rngs = (
        np.random.default_rng(rounds_seq),
        np.random.default_rng(window_seq),
        np.random.default_rng(seeds[5]),
        window_coupling,
    )
    shift_from = cal.history_last + 1
    rows = _simulate(
        cfg,
        rngs,
        lines,
        starts,
        lines["first_day"][starts],
        shift_from=shift_from,
        end_day=cal.end_day,
        exported=((0, cal.end_day),),
    )
    if cfg.covariate_shift > 0:
        lines, rows = _add_shift_lines(cfg, cal, lines, rows, shift_seq, window_coupling)
    if not rows:  # a world too small to have any disruption still has well-typed frames
        rows = _no_rows(cfg, lines, shift_from, cal.end_day)
    return lines, rows


def _add_shift_lines(
    cfg: WorldConfig,
    cal: WorldCalendar,
    lines: dict[str, np.ndarray],
    rows: dict[str, np.ndarray],
    shift_seq: np.random.SeedSequence,
    window_coupling: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The covariate shift also brings new home-grown lines, first disrupted after the labelled
    history (0.4 x shift per open row), each disrupted once: the lines and rows with them added."""
    shift_from = cal.history_last + 1
    open_now = int(np.count_nonzero(rows["day"] >= shift_from)) if rows else 0
    n_extra = int(round(0.4 * cfg.covariate_shift * open_now))
    if not n_extra:
        return lines, rows
    rng = np.random.default_rng(shift_seq)
    extra = draw_lines(
        cfg, rng, n_extra, cal.end_day, birth_low=0, home_grown=np.ones(n_extra, dtype=bool)
    )
    first = rng.integers(shift_from, cal.end_day + 1, size=n_extra)
    extra["birth"] = np.minimum(extra["birth"], first - 7 * rng.integers(1, 27, size=n_extra))
    # Each new line linked to organised crime is a new group's first known line.
    extra["group"] = np.where(
        extra["ocg"], lines["group"].max(initial=-1) + np.cumsum(extra["ocg"]), -1
    )
    lines = {key: np.concatenate([lines[key], extra[key]]) for key in lines}
    extra_rows = _simulate(
        cfg,
        (rng, rng, window_coupling, window_coupling),
        lines,
        np.arange(cfg.n_lines, cfg.n_lines + n_extra),
        first,
        shift_from=shift_from,
        end_day=cal.end_day,
        exported=((0, cal.end_day),),
        max_rounds=1,
    )
    rows = {key: np.concatenate([rows[key], extra_rows[key]]) for key in rows}
    return lines, rows


def _no_rows(
    cfg: WorldConfig, lines: dict[str, np.ndarray], shift_from: int, end_day: int
) -> dict[str, np.ndarray]:
    """Zero rows with every column and dtype a round gives (for a world with no disruption)."""
    empty = np.zeros(0, dtype=np.int64)
    return _simulate_round(
        cfg,
        np.random.default_rng(0),
        np.random.default_rng(0),
        lines,
        empty,
        empty,
        empty,
        np.zeros(0),
        shift_from,
        end_day,
    )


def generate_world(config: WorldConfig | None = None) -> SyntheticWorld:
    """Simulate a world of lines and disruptions from a config (seeded, deterministic).

    Parameters
    ----------
    config : the world's knobs; ``WorldConfig()`` (the default) gives the documented default world.

    Returns
    -------
    SyntheticWorld
        ``history`` (labelled, disruptions up to ``end_date - horizon``: outcome known by
        ``end_date``), ``weekly`` (every ISO week's extract, or the latest ``weekly_extract_weeks``:
        each the disruptions still open that week, package fields as recorded by then, unlabelled),
        ``truth`` (true probability and terms of each disruption's final package), and what the
        truth of tactics needs (``records``, ``noise``).

    Examples
    --------
    >>> world = generate_world(WorldConfig(n_lines=400, seed=1))
    >>> set(world.truth["disruption_id"]) >= set(world.history["disruption_id"])
    True
    """
    cfg = config if config is not None else WorldConfig()
    check_levels(category_levels(cfg))
    cal = WorldCalendar.of(cfg)
    # Independent streams: profiles, rounds, open rows, covariate-shift lines, recording delays,
    # the package's noise (main and open rows), organised crime groups, orders on conviction.
    seeds = np.random.SeedSequence(cfg.seed).spawn(9)
    lines, rows = _simulate_world(cfg, cal, seeds)
    rows["noise_conviction_orders"] = _conviction_orders(cfg, cal, rows, seeds[8])
    rows["ancillary_orders"] = rows["ancillary_orders"] + rows["noise_conviction_orders"]
    order = np.lexsort((rows["line"], rows["day"]))
    day = rows["day"][order]
    records, truth, noise = world_frames(cfg, lines, rows, order, cal.start)
    history = records.loc[day <= cal.history_last].reset_index(drop=True)
    package = record_package(
        records,
        noise["conviction_orders"].to_numpy(),
        cfg,
        np.random.default_rng(seeds[4]),
    )
    weekly = WeeklyExtracts(cal, records, day, package, label=LABEL)
    return SyntheticWorld(
        history=history, weekly=weekly, truth=truth, config=cfg, records=records, noise=noise
    )


def _conviction_orders(
    cfg: WorldConfig, cal: WorldCalendar, rows: dict[str, np.ndarray], seed: np.random.SeedSequence
) -> np.ndarray:
    """Ancillary orders made on conviction, after the outcome is known: Poisson with mean
    ``conviction_orders_rate`` for a labelled disruption whose holder was charged (type 1) and
    whose line folded; none otherwise (an **assumption**, off by default). They never change the
    outcome or the truth, which were drawn before them."""
    n = rows["day"].size
    if cfg.conviction_orders_rate <= 0:
        return np.zeros(n, dtype=np.int64)
    eligible = (rows["closure"] == 1) & ~rows["persisted"] & (rows["day"] <= cal.history_last)
    rng = np.random.default_rng(seed)
    return rng.poisson(cfg.conviction_orders_rate * eligible).astype(np.int64)
