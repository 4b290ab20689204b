"""The true mechanism: its terms, and which extract columns truly drive persistence in a world.

The true log-odds of persisting is ``term_intercept`` plus the sum of the terms; each term's value
per row is stored in the world's ``truth``. :func:`world_terms`, :func:`true_drivers` and
:func:`no_effect_features` say which columns have a true effect under a given config (what
``world.json`` records), and :func:`true_terms` recomputes the terms from an extract's columns.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from resilience.data.synthetic.columns import COLUMNS, FEATURE_COLUMNS
from resilience.data.synthetic.config import WorldConfig, category_levels

# term name -> contract columns it reads. The true log-odds is term_intercept + the sum of these.
TRUE_TERMS: dict[str, tuple[str, ...]] = {
    "market_size": ("contacts",),
    "marketing": ("bulk_texts_per_day",),
    "redundant_numbers": ("deal_numbers",),
    "recruit_pool": ("runners",),
    "organised_network": ("ocg_linked", "linked_lines"),
    "adaptation": ("prior_disruptions",),
    "holder_removed_x_line_type": ("holder_arrested", "line_type"),
    "closure": ("closure_type",),
    "ddtro_x_deal_numbers": ("ddtro", "deal_numbers"),
    "runner_arrests": ("runners_arrested",),
    "sustained_x_prior_disruptions": ("sustained_operation", "prior_disruptions"),
    "safeguarding": ("safeguarding_referrals",),
    "premises_orders": ("closure_orders",),
    "ancillary_orders": ("ancillary_orders",),
    "home_grown_drift": ("line_type", "disruption_date"),
    "line_random_effect": (),  # unobserved, small, constant within a line
    "area_miscalibration": ("policing_area", "disruption_date"),  # zero unless configured
}

# Contract features that no term reads: they have no effect at all on the outcome. Some are
# correlated with features that do, as in real data (weeks_since_last_disruption is empty exactly
# when prior_disruptions is 0; disruption_grade, handsets_seized and drugs_seized_gbp follow the
# package), so a model may lean on them a little as proxies; commodity and cash_seized_gbp are
# independent of everything. origin_hub is in neither list: which hub has no effect, but its value
# "local" is line_type itself.
NO_EFFECT_FEATURES: tuple[str, ...] = (
    "line_age_weeks",
    "exploited_children",
    "exploited_adults",
    "cuckooed_addresses",
    "violence_12m",
    "weapons_linked",
    "weeks_since_last_disruption",
    "commodity",
    "handsets_seized",
    "drugs_seized_gbp",
    "cash_seized_gbp",
    "disruption_grade",
)

# Features whose total true effect is monotone in the column (+1 raises persistence, -1 lowers it).
MONOTONE_DRIVERS: dict[str, int] = {
    "contacts": +1,
    "bulk_texts_per_day": +1,
    "deal_numbers": +1,
    "runners": +1,
    "ocg_linked": +1,
    "linked_lines": +1,
    "holder_arrested": -1,
    "ddtro": -1,
    "runners_arrested": -1,
    "sustained_operation": -1,
    "safeguarding_referrals": -1,
    "closure_orders": -1,
    "ancillary_orders": -1,
}


def world_terms(config: WorldConfig) -> dict[str, tuple[str, ...]]:
    """Each term of this world's mechanism -> the extract columns its value truly depends on.

    Unlike :data:`TRUE_TERMS` (the default world's terms and the columns they read), a column is
    listed only if changing it (the others held fixed) can change the term under this config: a
    zero effect reads nothing, and an interaction whose two sides are equal is no interaction.
    Terms that are zero everywhere are left out; ``line_random_effect`` (unobserved) reads ().

    >>> world_terms(WorldConfig(effect_log_contacts=0.0)).get("market_size") is None
    True
    """
    c = config
    drives: dict[str, tuple[tuple[str, bool], ...]] = {
        "market_size": (("contacts", c.effect_log_contacts != 0),),
        "marketing": (("bulk_texts_per_day", c.effect_log_bulk_texts != 0),),
        "redundant_numbers": (("deal_numbers", c.effect_log_deal_numbers != 0),),
        "recruit_pool": (("runners", c.effect_log_runners != 0),),
        "organised_network": (
            ("ocg_linked", c.effect_ocg != 0),
            ("linked_lines", c.effect_log_linked_lines != 0),
        ),
        "adaptation": (("prior_disruptions", c.effect_adaptation != 0),),
        "holder_removed_x_line_type": (
            ("holder_arrested", c.effect_holder_imported != 0 or c.effect_holder_home_grown != 0),
            ("line_type", c.effect_holder_imported != c.effect_holder_home_grown),
        ),
        "closure": (("closure_type", c.effect_type1_closure != 0 or c.effect_type2_closure != 0),),
        "ddtro_x_deal_numbers": (
            ("ddtro", c.effect_ddtro_single_number != 0),
            ("deal_numbers", c.effect_ddtro_single_number != 0 and c.ddtro_decay_per_number != 1),
        ),
        "runner_arrests": (("runners_arrested", c.effect_runner_arrests_max != 0),),
        "sustained_x_prior_disruptions": (
            ("sustained_operation", c.effect_sustained != 0 or c.effect_sustained_per_prior != 0),
            ("prior_disruptions", c.effect_sustained_per_prior != 0),
        ),
        "safeguarding": (("safeguarding_referrals", c.effect_log_safeguarding != 0),),
        "premises_orders": (("closure_orders", c.effect_premises_order != 0),),
        "ancillary_orders": (("ancillary_orders", c.effect_ancillary_order != 0),),
        "home_grown_drift": (
            ("line_type", c.home_grown_effect_start != 0 or c.drift_strength != 0),
            ("disruption_date", c.drift_strength != 0),
        ),
        "area_miscalibration": tuple(
            (column, c.miscalibrated_area is not None and c.miscalibration_log_odds != 0)
            for column in ("policing_area", "disruption_date")
        ),
    }
    for extra in c.extra_effects:
        drives[extra.name] = tuple((column, extra.effect != 0) for column in extra.columns)
    terms = {name: tuple(col for col, on in pairs if on) for name, pairs in drives.items()}
    terms = {name: columns for name, columns in terms.items() if columns}
    if c.line_effect_sd > 0:
        terms["line_random_effect"] = ()
    return terms


def true_drivers(config: WorldConfig) -> frozenset[str]:
    """The extract columns with a true effect on persistence in this world (may include the date)."""
    return frozenset(column for columns in world_terms(config).values() for column in columns)


def no_effect_features(config: WorldConfig) -> tuple[str, ...]:
    """Feature columns with no true effect at all in this world (contract order).

    ``origin_hub`` is left out when ``line_type`` is a driver and it is not one itself: its value
    "local" is ``line_type`` itself (a proxy, see :func:`mechanism_summary`).
    """
    drivers = true_drivers(config)
    proxy = "line_type" in drivers and "origin_hub" not in drivers
    return tuple(
        c for c in FEATURE_COLUMNS if c not in drivers and not (proxy and c == "origin_hub")
    )


def mechanism_summary(config: WorldConfig) -> dict:
    """What ``world.json`` records about the true mechanism, for benchmarks of reasons."""
    drivers = true_drivers(config)
    return {
        "true_drivers": [c for c in COLUMNS if c in drivers],
        "no_effect_features": list(no_effect_features(config)),
        "proxies": {"origin_hub": "line_type"}
        if "line_type" in drivers and "origin_hub" not in drivers
        else {},
        "terms": {name: list(columns) for name, columns in world_terms(config).items()},
        "unobserved": ["line_random_effect"] if config.line_effect_sd > 0 else [],
    }


def mechanism_inputs(
    frame: pd.DataFrame, config: WorldConfig
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Extract rows as the mechanism reads them: feature columns as arrays (categories as codes in
    :func:`category_levels` order) and the share of the date range elapsed at each row."""
    levels = category_levels(config)
    x = {}
    for column in FEATURE_COLUMNS:
        values = frame[column]
        if column in levels:
            x[column] = pd.Categorical(
                values.astype(object), categories=list(levels[column])
            ).codes.astype(np.int64)
        else:
            x[column] = values.to_numpy(dtype=bool if values.dtype == bool else np.float64)
    days = (pd.DatetimeIndex(frame["disruption_date"]) - config.start_day).days.to_numpy()
    end_day = (config.end_day - config.start_day).days
    return x, np.clip(days / end_day, 0.0, 1.0)


def true_terms(
    frame: pd.DataFrame, config: WorldConfig, line_effect: np.ndarray | None = None
) -> pd.DataFrame:
    """The true mechanism's terms for extract rows: one ``term_<name>`` column per term.

    Computed from the contract columns alone (the unobserved ``line_effect`` is 0 unless given, e.g.
    ``truth["term_line_random_effect"]``), so a benchmark can ask how the truth moves when one column
    changes. ``term_intercept`` plus the row sum is the true log-odds. (With
    ``conviction_orders_rate`` on, the history's ancillary orders include orders made after the
    outcome, which the truth does not: it was drawn before them.)
    """
    x, t_frac = mechanism_inputs(frame, config)
    effect = (
        np.zeros(len(frame)) if line_effect is None else np.asarray(line_effect, dtype=np.float64)
    )
    terms = mechanism_terms(config, x, t_frac, effect)
    out = pd.DataFrame({"term_intercept": np.full(len(frame), float(config.persistence_intercept))})
    for name, value in terms.items():
        out["term_" + name] = value
    return out


def _transform(
    cfg: WorldConfig, x: Mapping[str, np.ndarray], column: str, level: str | None
) -> np.ndarray:
    """The value an :class:`ExtraEffect` multiplies: 1/0 for yes/no or a category level, else log(1+x)."""
    values = x[column]
    if level is not None:
        return (values == category_levels(cfg)[column].index(level)).astype(np.float64)
    if values.dtype == bool:
        return values.astype(np.float64)
    return np.nan_to_num(np.log1p(values.astype(np.float64)), nan=0.0)


def mechanism_terms(
    cfg: WorldConfig, x: Mapping[str, np.ndarray], t_frac: np.ndarray, line_effect: np.ndarray
) -> dict[str, np.ndarray]:
    """The named log-odds terms of the true mechanism (``term_intercept`` aside).

    ``x`` maps contract columns to arrays (category columns as codes in :func:`category_levels` order),
    ``t_frac`` is the share of the date range elapsed at each disruption. Each term's formula, its
    reasoning and its typical size are in ``data/synthetic/README.md`` ("The true mechanism").
    The terms come in :data:`TRUE_TERMS` order, then the extra effects (their sum is taken in
    this order, so the order is part of the world).
    """
    terms = {
        **_line_terms(cfg, x),
        **_package_terms(cfg, x),
        **_context_terms(cfg, x, t_frac, line_effect),
        **_extra_terms(cfg, x),
    }
    n = t_frac.size
    return {
        name: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()
        for name, v in terms.items()
    }


def _line_terms(cfg: WorldConfig, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The line's strength: its market, marketing, numbers, workforce, network and adaptation."""
    return {
        "market_size": cfg.effect_log_contacts
        * (np.log1p(x["contacts"]) - np.log1p(cfg.median_contacts)),
        "marketing": cfg.effect_log_bulk_texts
        * (np.log1p(x["bulk_texts_per_day"]) - np.log1p(cfg.mean_bulk_texts_per_day)),
        "redundant_numbers": cfg.effect_log_deal_numbers * np.log(x["deal_numbers"]),
        "recruit_pool": cfg.effect_log_runners
        * (np.log1p(x["runners"]) - np.log1p(cfg.mean_runners)),
        "organised_network": cfg.effect_ocg * x["ocg_linked"]
        + cfg.effect_log_linked_lines * np.log1p(x["linked_lines"]),
        "adaptation": cfg.effect_adaptation * np.log1p(x["prior_disruptions"]),
    }


def _package_terms(cfg: WorldConfig, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The disruption package: the holder's arrest (by line type), closure, DDTRO, runner arrests,
    a sustained operation, safeguarding and orders."""
    home_grown = x["line_type"] == 1
    prior = x["prior_disruptions"]
    return {
        "holder_removed_x_line_type": x["holder_arrested"]
        * np.where(home_grown, cfg.effect_holder_home_grown, cfg.effect_holder_imported),
        "closure": np.select(
            [x["closure_type"] == 1, x["closure_type"] == 2],
            [cfg.effect_type1_closure, cfg.effect_type2_closure],
            0.0,
        ),
        "ddtro_x_deal_numbers": x["ddtro"]
        * cfg.effect_ddtro_single_number
        * cfg.ddtro_decay_per_number ** (x["deal_numbers"] - 1),
        "runner_arrests": cfg.effect_runner_arrests_max
        * (1.0 - np.exp(-x["runners_arrested"] / 1.5)),
        "sustained_x_prior_disruptions": x["sustained_operation"]
        * (cfg.effect_sustained + cfg.effect_sustained_per_prior * np.minimum(prior, 4)),
        "safeguarding": cfg.effect_log_safeguarding * np.log1p(x["safeguarding_referrals"]),
        "premises_orders": cfg.effect_premises_order * np.minimum(x["closure_orders"], 2),
        "ancillary_orders": cfg.effect_ancillary_order * np.minimum(x["ancillary_orders"], 3),
    }


def _context_terms(
    cfg: WorldConfig, x: Mapping[str, np.ndarray], t_frac: np.ndarray, line_effect: np.ndarray
) -> dict[str, np.ndarray]:
    """What is not in the package or the line's profile: the home-grown drift over time, the
    unobserved line effect and a miscalibrated area (zero unless configured)."""
    home_grown = x["line_type"] == 1
    area = cfg.miscalibrated_area
    late_in_area = (
        np.zeros(t_frac.shape, dtype=bool)
        if area is None
        else (
            (x["policing_area"] == cfg.policing_areas.index(area))
            & (t_frac >= cfg.miscalibration_start_fraction)
        )
    )
    return {
        "home_grown_drift": home_grown
        * (cfg.home_grown_effect_start + cfg.drift_strength * t_frac),
        "line_random_effect": line_effect,
        "area_miscalibration": late_in_area * cfg.miscalibration_log_odds,
    }


def _extra_terms(cfg: WorldConfig, x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The config's :class:`ExtraEffect` terms, in the config's order."""
    terms = {}
    for extra in cfg.extra_effects:
        value = extra.effect * _transform(cfg, x, extra.column, extra.level)
        if extra.times is not None:
            value = value * _transform(cfg, x, extra.times, None)
        terms[extra.name] = value
    return terms
