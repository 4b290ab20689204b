"""The lines: each line's profile (drawn once), what it looks like on the day it is disrupted, and
how a line that survives a disruption adapts. Each function draws from the stream it is given, in
a fixed order: that order is part of the seeded world (:mod:`.simulate` calls them)."""

from __future__ import annotations

import numpy as np

from resilience.data.synthetic.columns import COMMODITIES, COMMODITY_SHARES, HUBS
from resilience.data.synthetic.config import WorldConfig


def draw_lines(
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


def line_at_disruption(
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


def adapt(
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
