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

from resilience.data.synthetic.columns import (
    COMMODITIES,
    COMMODITY_SHARES,
    HUBS,
    LABEL,
    check_levels,
)
from resilience.data.synthetic.config import WorldConfig, category_levels
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


def _draw_lines(
    cfg: WorldConfig,
    rng: np.random.Generator,
    n: int,
    end_day: int,
    birth_low: int,
    home_grown: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Draw ``n`` line profiles (the state carried from one disruption to the next)."""
    birth = rng.integers(birth_low, end_day + 1, size=n)
    t_birth = np.clip(birth / end_day, 0.0, 1.0)
    share = (
        cfg.home_grown_share_start
        + (cfg.home_grown_share_end - cfg.home_grown_share_start) * t_birth
    )
    u_type = rng.random(n)
    if home_grown is None:
        home_grown = u_type < share
    imported = ~home_grown
    hubs = np.asarray(cfg.hub_shares) / sum(cfg.hub_shares)
    hub = rng.choice(len(HUBS), size=n, p=hubs)
    weights = np.asarray(cfg.area_weights) / sum(cfg.area_weights)
    area = rng.choice(len(cfg.policing_areas), size=n, p=weights)
    commodity = rng.choice(len(COMMODITIES), size=n, p=np.asarray(COMMODITY_SHARES))
    # Imported brands from hub cities carry bigger customer bases and workforces.
    contacts = np.exp(
        np.log(cfg.median_contacts)
        + 0.3 * imported
        - 0.15
        + cfg.contacts_log_sd * rng.standard_normal(n)
    )
    bulk_factor = rng.gamma(1.5, 1.0 / 1.5, size=n)
    deal_numbers = 1 + rng.poisson(cfg.mean_deal_numbers - 1.0, size=n)
    runners = rng.poisson(cfg.mean_runners * np.where(imported, 1.2, 0.75), size=n)
    ocg = rng.random(n) < np.clip(cfg.ocg_share * np.where(imported, 1.3, 0.7), 0, 1)
    linked_lines = rng.poisson(0.4 + 1.2 * ocg, size=n)
    violence_rate = rng.gamma(1.0, 0.6 + 0.6 * imported, size=n)
    weapon_prob = 0.15 + 0.25 * imported + 0.15 * ocg
    line_effect = cfg.line_effect_sd * rng.standard_normal(n)
    lifetime = rng.exponential(cfg.mean_line_lifetime_weeks * 7.0, size=n)
    to_first = rng.gamma(2.0, cfg.mean_weeks_to_first_disruption * 7.0 / 2.0, size=n)
    return {
        "birth": birth,
        "home_grown": home_grown,
        "hub": hub,
        "area": area,
        "commodity": commodity,
        "contacts": contacts,
        "bulk_factor": bulk_factor,
        "deal_numbers": deal_numbers.astype(np.int64),
        "runners": runners.astype(np.int64),
        "ocg": ocg,
        "linked_lines": linked_lines.astype(np.int64),
        "violence_rate": violence_rate,
        "weapon_prob": weapon_prob,
        "line_effect": line_effect,
        "natural_end": birth + lifetime,
        "first_day": birth + np.round(to_first).astype(np.int64),
    }


def _line_at_disruption(
    cfg: WorldConfig,
    rng: np.random.Generator,
    lines: dict[str, np.ndarray],
    idx: np.ndarray,
    day: np.ndarray,
    shift: np.ndarray,
) -> dict[str, np.ndarray]:
    """What the line looks like on the day it is disrupted (its profile, as the extract records it)."""
    n = idx.size
    home_grown = lines["home_grown"][idx]
    age_weeks = (day - lines["birth"][idx]) // 7
    # Brands accumulate customers as they establish themselves.
    growth = 1.0 + 0.2 * np.minimum(age_weeks / 52.0, 1.0)
    contacts = np.round(
        lines["contacts"][idx]
        * growth
        * np.exp(0.15 * rng.standard_normal(n))
        * np.exp(0.5 * shift)
    ).astype(np.int64)
    marketing_on = rng.random(n) >= 0.2 * np.exp(-shift)
    bulk = (
        marketing_on
        * cfg.mean_bulk_texts_per_day
        * lines["bulk_factor"][idx]
        * np.sqrt(np.maximum(contacts, 1) / cfg.median_contacts)
        * np.exp(0.3 * rng.standard_normal(n) + 0.5 * shift)
    )
    runners = lines["runners"][idx].copy()
    exploited_children = rng.binomial(runners, 0.4)
    exploited_adults = rng.poisson(0.2 + 0.15 * runners + 0.3 * home_grown)
    cuckooed = rng.poisson(0.3 + 0.5 * ~home_grown + 0.05 * runners)
    violence = rng.poisson(lines["violence_rate"][idx])
    return {
        "line": idx,
        "day": day,
        "home_grown": home_grown,
        "line_age_weeks": age_weeks.astype(np.int64),
        "deal_numbers": lines["deal_numbers"][idx].copy(),
        "contacts": contacts,
        "bulk_texts_per_day": np.round(np.minimum(bulk, 150.0), 1),
        "runners": runners,
        "exploited_children": exploited_children,
        "exploited_adults": exploited_adults,
        "cuckooed_addresses": cuckooed,
        "violence_12m": violence,
        "weapons_linked": rng.random(n) < lines["weapon_prob"][idx] + 0.15 * (violence > 0),
        "ocg_linked": lines["ocg"][idx],
        "linked_lines": lines["linked_lines"][idx].copy(),
    }


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
    rows = _line_at_disruption(cfg, rng, lines, idx, day, shift)
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


def _adapt(
    rng: np.random.Generator,
    lines: dict[str, np.ndarray],
    rows: dict[str, np.ndarray],
    keep: np.ndarray,
) -> None:
    """Update the state of lines that survived a disruption: they adapt (more numbers, new runners)."""
    idx = rows["line"][keep]
    m = idx.size
    imported = ~lines["home_grown"][idx]
    holder = rows["holder_arrested"][keep]
    # Spare numbers are added after a disruption, and a barred number is replaced.
    lines["deal_numbers"][idx] += (rng.random(m) < 0.3) + (
        rows["ddtro"][keep] & (rng.random(m) < 0.6)
    )
    # Arrested runners are replaced from a pool of recruits (README, "recruit pool").
    recruits = rng.poisson(0.8 + 0.5 * imported)
    lines["runners"][idx] = np.maximum(
        rows["runners"][keep] - rows["runners_arrested"][keep] + recruits, 0
    )
    # Demand drifts; a line that survives losing its holder loses some customers.
    lines["contacts"][idx] *= np.exp(0.03 - 0.25 * holder + 0.15 * rng.standard_normal(m))
    lines["bulk_factor"][idx] *= np.exp(0.15 * rng.standard_normal(m))
    lines["linked_lines"][idx] += rng.random(m) < 0.15


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
    main_rng, window_rng, main_coupling, window_coupling = rngs
    horizon_days = 7 * (cfg.horizon_weeks + 1)
    extra_days = cfg.mean_extra_gap_weeks * 7.0
    idx, day = start_idx, start_day
    prior = np.zeros(idx.size, dtype=np.int64)
    last_day = np.full(idx.size, np.nan)
    chunks: list[dict[str, np.ndarray]] = []
    rounds = 0
    while idx.size and (max_rounds is None or rounds < max_rounds):
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
        rows = {key: np.concatenate([part.pop(key) for part in parts]) for key in list(parts[0])}
        del parts
        idx, day = rows["line"], rows["day"]
        prior = rows["prior_disruptions"]
        rounds += 1
        # A persisting line is next disrupted after the horizon, so its label is settled first.
        # Lines disrupted after shift_from are always dropped here (their next disruption is after
        # end_day), so the shift never changes which lines carry on.
        gap = horizon_days + np.round(main_rng.exponential(extra_days, size=idx.size)).astype(
            np.int64
        )
        next_day = day + gap
        keep = rows["persisted"] & (next_day <= end_day) & (next_day < lines["natural_end"][idx])
        _adapt(main_rng, lines, rows, keep)
        wanted = np.zeros(idx.size, dtype=bool)
        for first, last in exported:
            wanted |= (day >= first) & (day <= last)
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


def _simulate_world(
    cfg: WorldConfig, cal: WorldCalendar, seeds: list[np.random.SeedSequence]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Draw the lines and every disruption from ``start_date`` to ``end_date`` (line state, rows).

    Rows after ``history_last`` (outcome not yet known) draw from their own stream, and so do the
    extra lines of the covariate shift, so neither ever changes a labelled history row.
    """
    profile_seq, rounds_seq, window_seq, shift_seq = seeds[:4]
    lines = _draw_lines(
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
    exported = ((0, cal.end_day),)
    rows = _simulate(
        cfg,
        rngs,
        lines,
        starts,
        lines["first_day"][starts],
        shift_from=shift_from,
        end_day=cal.end_day,
        exported=exported,
    )
    if cfg.covariate_shift > 0:
        # The shift also brings new home-grown lines, first disrupted after the labelled history.
        open_now = int(np.count_nonzero(rows["day"] >= shift_from)) if rows else 0
        n_extra = int(round(0.4 * cfg.covariate_shift * open_now))
        if n_extra:
            rng = np.random.default_rng(shift_seq)
            extra = _draw_lines(
                cfg, rng, n_extra, cal.end_day, birth_low=0, home_grown=np.ones(n_extra, dtype=bool)
            )
            first = rng.integers(shift_from, cal.end_day + 1, size=n_extra)
            extra["birth"] = np.minimum(
                extra["birth"], first - 7 * rng.integers(1, 27, size=n_extra)
            )
            # Each new line linked to organised crime is a new group's first known line.
            extra["group"] = np.where(
                extra["ocg"], lines["group"].max(initial=-1) + np.cumsum(extra["ocg"]), -1
            )
            lines = {key: np.concatenate([lines[key], extra[key]]) for key in lines}
            extra_idx = np.arange(cfg.n_lines, cfg.n_lines + n_extra)
            extra_rows = _simulate(
                cfg,
                (rng, rng, window_coupling, window_coupling),
                lines,
                extra_idx,
                first,
                shift_from=shift_from,
                end_day=cal.end_day,
                exported=exported,
                max_rounds=1,
            )
            rows = {key: np.concatenate([rows[key], extra_rows[key]]) for key in rows}
    if not rows:  # a world too small to have any disruption still has well-typed frames
        empty = np.zeros(0, dtype=np.int64)
        rows = _simulate_round(
            cfg,
            np.random.default_rng(0),
            np.random.default_rng(0),
            lines,
            empty,
            empty,
            empty,
            np.zeros(0),
            shift_from,
            cal.end_day,
        )
    return lines, rows


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
