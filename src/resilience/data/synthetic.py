"""A seeded synthetic world of county-line disruptions with a documented true mechanism.

Every row is one police disruption of one line, with exactly the columns of the data contract
(``DATA_CONTRACT.md``). Lines are first known over time (imported from hub cities, or home-grown,
with the home-grown share rising), are disrupted, and either persist or fold. Whether a line is
still active 12 weeks after a disruption is drawn from

    persisted_12w ~ Bernoulli(sigmoid(term_intercept + sum of the terms in TRUE_TERMS))

and each term's contribution is stored per row in ``truth`` so that models, explanations and
fairness checks can be scored against the truth. The defaults are scenario parameters grounded in
public figures (see ``data/synthetic/README.md``); the overall persistence rate is an assumption.

The simulation runs in rounds: round ``k`` is every line's ``k``-th disruption, drawn for all lines
at once with numpy, so a world of a million rows takes seconds. A line that does not persist ends;
a line that persists is next disrupted at least ``horizon_weeks + 1`` weeks later, so every label
is consistent with the line's later rows.

The labelled history holds the disruptions whose outcome is known by ``end_date``. Each weekly
extract holds the disruptions still open that week (the last ``horizon_weeks``), with the
disruption package as recorded by then: see :data:`RECORDING` and ``data/synthetic/README.md``.

Example
-------
>>> world = generate_world(WorldConfig(n_lines=400))
>>> sorted(world.weekly)
['2026-W44', '2026-W45', '2026-W46', '2026-W47']
>>> "persisted_12w" in world.weekly["2026-W47"].columns
False
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from resilience.weeks import iso_weeks

try:  # the toolkit's own error type when present; this module must also work without it
    from resilience.errors import ConfigError as _ConfigError
except ImportError:  # pragma: no cover - only when the module is used on its own
    _ConfigError = ValueError

__all__ = [
    "ExtraEffect",
    "load_world_config",
    "mechanism_summary",
    "no_effect_features",
    "true_drivers",
    "true_terms",
    "world_terms",
    "ACCRUING_COLUMNS",
    "RECORDING",
    "COLUMNS",
    "FEATURE_COLUMNS",
    "LABEL",
    "MONOTONE_DRIVERS",
    "NO_EFFECT_FEATURES",
    "TRUE_TERMS",
    "SyntheticWorld",
    "WorldConfig",
    "generate_world",
    "write_world",
]

LABEL = "persisted_12w"

# The contract's columns, in the contract's order (label last).
COLUMNS: tuple[str, ...] = (
    "disruption_id", "line_id", "disruption_date", "policing_area", "line_type", "origin_hub",
    "line_age_weeks", "deal_numbers", "contacts", "bulk_texts_per_day", "runners",
    "exploited_children", "exploited_adults", "cuckooed_addresses", "violence_12m",
    "weapons_linked", "ocg_linked", "linked_lines", "prior_disruptions",
    "weeks_since_last_disruption", "commodity", "holder_arrested", "closure_type",
    "runners_arrested", "handsets_seized", "ddtro", "closure_orders", "ancillary_orders",
    "safeguarding_referrals", "drugs_seized_gbp", "cash_seized_gbp", "sustained_operation",
    "disruption_grade", LABEL,
)
FEATURE_COLUMNS: tuple[str, ...] = COLUMNS[3:-1]

_INT_COLUMNS = (
    "line_age_weeks", "deal_numbers", "contacts", "runners", "exploited_children",
    "exploited_adults", "cuckooed_addresses", "violence_12m", "linked_lines", "prior_disruptions",
    "runners_arrested", "handsets_seized", "closure_orders", "ancillary_orders",
    "safeguarding_referrals",
)
_FLOAT_COLUMNS = ("bulk_texts_per_day", "weeks_since_last_disruption", "drugs_seized_gbp", "cash_seized_gbp")
_BOOL_COLUMNS = ("weapons_linked", "ocg_linked", "holder_arrested", "ddtro", "sustained_operation")

HUBS: tuple[str, ...] = ("london", "liverpool", "birmingham", "manchester", "other_hub")
COMMODITIES: tuple[str, ...] = ("heroin_crack", "crack", "heroin", "cocaine", "cannabis")
# Mainly heroin and crack (DOMAIN.md); the split of the rest is an assumption.
COMMODITY_SHARES: tuple[float, ...] = (0.66, 0.12, 0.07, 0.10, 0.05)
CLOSURE_TYPES: tuple[str, ...] = ("none", "type1", "type2")
GRADES: tuple[str, ...] = ("minor", "moderate", "major")

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
    "line_age_weeks", "exploited_children", "exploited_adults", "cuckooed_addresses",
    "violence_12m", "weapons_linked", "weeks_since_last_disruption", "commodity",
    "handsets_seized", "drugs_seized_gbp", "cash_seized_gbp", "disruption_grade",
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

DEFAULT_AREAS: tuple[str, ...] = (
    "Northmere", "Ashby Vale", "Kestrelholm", "Oakhallow", "Brindlecombe", "Greyhaven Fells",
    "Wetherdune", "Marrowfield", "Quillbrook", "Saltmarrow", "Corvid Heath", "Lanternmoor",
)
DEFAULT_AREA_WEIGHTS: tuple[float, ...] = (
    0.16, 0.13, 0.11, 0.10, 0.09, 0.08, 0.07, 0.07, 0.06, 0.05, 0.04, 0.04,
)


@dataclass(frozen=True)
class ExtraEffect:
    """A true effect the default mechanism does not have (for worlds with other true drivers).

    Adds ``effect`` log-odds times the column's value: 1/0 for a yes/no column, 1 at ``level`` (and
    0 elsewhere) for a category column, log(1 + value) for a number (an empty value counts 0). With
    ``times`` (a number or yes/no column) the value is multiplied by that column's too: an
    interaction. Its truth column is ``term_<name>``.

    >>> ExtraEffect(column="commodity", level="cocaine", effect=0.5).name
    'extra_commodity_cocaine'
    """

    column: str
    effect: float
    level: str | None = None
    times: str | None = None

    @property
    def name(self) -> str:
        return "extra_" + self.column + (f"_{self.level}" if self.level is not None else "") + (
            f"_x_{self.times}" if self.times is not None else "")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) if self.times is None else (self.column, self.times)

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def _levels(cfg: WorldConfig) -> dict[str, tuple[str, ...]]:
    """The simulator's category columns and their levels, in code order."""
    return {"line_type": ("imported", "home_grown"), "origin_hub": HUBS + ("local",),
            "policing_area": cfg.policing_areas, "commodity": COMMODITIES,
            "closure_type": CLOSURE_TYPES, "disruption_grade": GRADES}


def _extra_effects(cfg: WorldConfig, raw: object) -> tuple[tuple[ExtraEffect, ...], list[str]]:
    """``extra_effects`` as given (mappings from YAML, or ExtraEffect) -> checked tuple, problems."""
    effects, problems = [], []
    for item in raw or ():
        try:
            effect = item if isinstance(item, ExtraEffect) else ExtraEffect(**dict(item))
        except (TypeError, ValueError) as exc:
            problems.append(f"extra_effects entry {item!r}: needs column and effect ({exc})")
            continue
        levels = _levels(cfg).get(effect.column)
        if effect.column not in FEATURE_COLUMNS:
            problems.append(f"extra_effects: {effect.column!r} is not a feature column of the contract")
        elif levels is not None and effect.level not in levels:
            problems.append(f"extra_effects: {effect.column} is a category: level must be one of {', '.join(levels)}")
        elif levels is None and effect.level is not None:
            problems.append(f"extra_effects: {effect.column} is not a category, so it takes no level")
        if effect.times is not None and (effect.times not in FEATURE_COLUMNS or effect.times in _levels(cfg)):
            problems.append(f"extra_effects: times={effect.times!r} must be a number or yes/no feature column")
        effects.append(ExtraEffect(effect.column, float(effect.effect), effect.level, effect.times))
    names = [e.name for e in effects]
    if len(set(names)) != len(names):
        problems.append("extra_effects: each column/level/times combination may appear once")
    return tuple(effects), problems


@dataclass(frozen=True)
class WorldConfig:
    """Every knob of the synthetic world; ``configs/world/default.yaml`` mirrors it key for key.

    Build it from the YAML with ``WorldConfig(**mapping)``; lists become tuples. Magnitudes are
    scenario parameters (see ``data/synthetic/README.md`` for the public source of each, or
    "assumption"). Effects are log-odds contributions to persistence.

    Parameters
    ----------
    seed : master seed; the same config always gives the same world, byte for byte.
    n_lines : lines first known between ``start_date - warmup_weeks`` and ``end_date``
        (the scale knob: about 0.9 history rows per line at the defaults, as some lines are
        first known too late or fold before their first disruption).
    start_date, end_date : ISO dates; ``end_date`` is the last disruption day ("today" of the world).
    covariate_shift : > 0 shifts the features of the weekly extracts only (more contacts and bulk
        texts, fewer holder arrests, extra new home-grown lines); history is unchanged.
    miscalibrated_area : an area whose true log-odds gets ``+miscalibration_log_odds`` from
        ``miscalibration_start_fraction`` of the date range onwards.

    Examples
    --------
    >>> WorldConfig(n_lines=500, seed=7).n_lines
    500
    """

    # -- scale and calendar --------------------------------------------------------------------
    seed: int = 20261128
    n_lines: int = 60_000
    start_date: str = "2023-11-27"
    end_date: str = "2026-11-22"
    horizon_weeks: int = 12
    weekly_extract_weeks: int = 4
    warmup_weeks: int = 52
    # -- where lines are and where they come from ---------------------------------------------
    policing_areas: tuple[str, ...] = DEFAULT_AREAS
    area_weights: tuple[float, ...] = DEFAULT_AREA_WEIGHTS
    hub_share_london: float = 0.55
    hub_share_liverpool: float = 0.15
    hub_share_birmingham: float = 0.15
    hub_share_manchester: float = 0.08
    hub_share_other: float = 0.07
    home_grown_share_start: float = 0.30
    home_grown_share_end: float = 0.60
    # -- line profile ---------------------------------------------------------------------------
    median_contacts: float = 300.0
    contacts_log_sd: float = 0.8
    mean_bulk_texts_per_day: float = 6.0
    mean_deal_numbers: float = 2.0
    mean_runners: float = 3.0
    ocg_share: float = 0.35
    # -- disruption tempo -----------------------------------------------------------------------
    mean_weeks_to_first_disruption: float = 16.0
    mean_extra_gap_weeks: float = 12.0
    mean_line_lifetime_weeks: float = 104.0
    # -- disruption package ---------------------------------------------------------------------
    sustained_rate: float = 0.35
    holder_arrest_rate: float = 0.40
    type1_share_of_holder_arrests: float = 0.90
    type2_rate: float = 0.06
    ddtro_rate: float = 0.12
    runner_arrest_rate: float = 0.25
    safeguarding_referral_rate: float = 0.60
    # -- the true mechanism (log-odds) ----------------------------------------------------------
    persistence_intercept: float = 0.75
    effect_log_contacts: float = 0.85
    effect_log_bulk_texts: float = 0.45
    effect_log_deal_numbers: float = 0.60
    effect_log_runners: float = 0.50
    effect_ocg: float = 0.45
    effect_log_linked_lines: float = 0.35
    effect_adaptation: float = 0.45
    effect_holder_imported: float = -2.10
    effect_holder_home_grown: float = -0.90
    effect_type1_closure: float = -0.45
    effect_type2_closure: float = -0.35
    effect_ddtro_single_number: float = -1.50
    ddtro_decay_per_number: float = 0.35
    effect_runner_arrests_max: float = -1.20
    effect_sustained: float = -0.60
    effect_sustained_per_prior: float = -0.25
    effect_log_safeguarding: float = -0.35
    effect_premises_order: float = -0.30
    effect_ancillary_order: float = -0.20
    home_grown_effect_start: float = -0.20
    drift_strength: float = 0.60
    line_effect_sd: float = 0.25
    extra_effects: tuple[ExtraEffect, ...] = ()
    # -- test knobs -----------------------------------------------------------------------------
    covariate_shift: float = 0.0
    miscalibrated_area: str | None = None
    miscalibration_log_odds: float = 1.0
    miscalibration_start_fraction: float = 0.70

    def __post_init__(self) -> None:
        object.__setattr__(self, "policing_areas", tuple(str(a) for a in self.policing_areas))
        object.__setattr__(self, "area_weights", tuple(float(w) for w in self.area_weights))
        extra, problems = _extra_effects(self, self.extra_effects)
        object.__setattr__(self, "extra_effects", extra)
        try:
            start, end = self.start_day, self.end_day
        except ValueError as exc:
            raise _ConfigError(f"world config: start_date/end_date must be ISO dates: {exc}") from exc
        if (end - start).days < 7 * (2 * self.horizon_weeks + self.weekly_extract_weeks + 4):
            problems.append("end_date must lie well after start_date (more than twice the horizon "
                            "+ the weekly weeks), so every weekly extract's open disruptions "
                            "fall inside the exported history range")
        if self.n_lines < 1:
            problems.append("n_lines must be >= 1")
        if self.weekly_extract_weeks < 1:
            problems.append("weekly_extract_weeks must be >= 1")
        if self.horizon_weeks < 1 or self.warmup_weeks < 0:
            problems.append("horizon_weeks must be >= 1 and warmup_weeks >= 0")
        if not self.policing_areas or len(set(self.policing_areas)) != len(self.policing_areas):
            problems.append("policing_areas must be non-empty and unique")
        if len(self.area_weights) != len(self.policing_areas) or min(self.area_weights, default=0) < 0 \
                or sum(self.area_weights) <= 0:
            problems.append("area_weights must be one non-negative weight per policing area")
        hubs = self.hub_shares
        if min(hubs) < 0 or sum(hubs) <= 0:
            problems.append("hub_share_* must be non-negative and not all zero")
        for name in ("home_grown_share_start", "home_grown_share_end", "ocg_share", "sustained_rate",
                     "holder_arrest_rate", "type1_share_of_holder_arrests", "type2_rate", "ddtro_rate",
                     "runner_arrest_rate", "safeguarding_referral_rate", "miscalibration_start_fraction",
                     "ddtro_decay_per_number"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        for name in ("median_contacts", "mean_bulk_texts_per_day", "mean_weeks_to_first_disruption",
                     "mean_line_lifetime_weeks"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        if self.mean_deal_numbers < 1:
            problems.append("mean_deal_numbers must be >= 1")
        for name in ("contacts_log_sd", "mean_runners", "mean_extra_gap_weeks", "line_effect_sd",
                     "covariate_shift"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if self.miscalibrated_area is not None and self.miscalibrated_area not in self.policing_areas:
            problems.append(f"miscalibrated_area {self.miscalibrated_area!r} is not one of policing_areas")
        if problems:
            raise _ConfigError("world config: " + "; ".join(problems))

    @property
    def start_day(self) -> pd.Timestamp:
        """``start_date`` as a timestamp."""
        return pd.Timestamp(self.start_date).normalize()

    @property
    def end_day(self) -> pd.Timestamp:
        """``end_date`` as a timestamp."""
        return pd.Timestamp(self.end_date).normalize()

    @property
    def hub_shares(self) -> tuple[float, ...]:
        """Shares of imported lines by hub, in the order of :data:`HUBS`."""
        return (self.hub_share_london, self.hub_share_liverpool, self.hub_share_birmingham,
                self.hub_share_manchester, self.hub_share_other)

    def to_dict(self) -> dict:
        """Plain mapping of the fields (tuples as lists), the shape of the YAML."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["extra_effects"] = [effect.to_dict() for effect in self.extra_effects]
        return out


@dataclass
class SyntheticWorld:
    """A generated world.

    Attributes
    ----------
    history : labelled rows whose 12-week outcome is known by ``end_date``.
    weekly : ISO week ("YYYY-Www") -> that week's extract, for the latest weeks: the disruptions
        still open that week (disrupted in the last ``horizon_weeks``), package fields as recorded
        by then, without the label.
    truth : one row per disruption in ``history`` and ``weekly`` (from its final package): ``disruption_id``,
        ``true_probability``, ``term_intercept`` and ``term_<name>`` for each of :data:`TRUE_TERMS`.
    config : the config the world was generated from.
    """

    history: pd.DataFrame
    weekly: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    config: WorldConfig | None = None


# ----------------------------------------------------------------------------------------------
# Which columns truly drive persistence, for a given world
# ----------------------------------------------------------------------------------------------
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
        "organised_network": (("ocg_linked", c.effect_ocg != 0), ("linked_lines", c.effect_log_linked_lines != 0)),
        "adaptation": (("prior_disruptions", c.effect_adaptation != 0),),
        "holder_removed_x_line_type": (
            ("holder_arrested", c.effect_holder_imported != 0 or c.effect_holder_home_grown != 0),
            ("line_type", c.effect_holder_imported != c.effect_holder_home_grown)),
        "closure": (("closure_type", c.effect_type1_closure != 0 or c.effect_type2_closure != 0),),
        "ddtro_x_deal_numbers": (("ddtro", c.effect_ddtro_single_number != 0),
                                 ("deal_numbers", c.effect_ddtro_single_number != 0 and c.ddtro_decay_per_number != 1)),
        "runner_arrests": (("runners_arrested", c.effect_runner_arrests_max != 0),),
        "sustained_x_prior_disruptions": (
            ("sustained_operation", c.effect_sustained != 0 or c.effect_sustained_per_prior != 0),
            ("prior_disruptions", c.effect_sustained_per_prior != 0)),
        "safeguarding": (("safeguarding_referrals", c.effect_log_safeguarding != 0),),
        "premises_orders": (("closure_orders", c.effect_premises_order != 0),),
        "ancillary_orders": (("ancillary_orders", c.effect_ancillary_order != 0),),
        "home_grown_drift": (("line_type", c.home_grown_effect_start != 0 or c.drift_strength != 0),
                             ("disruption_date", c.drift_strength != 0)),
        "area_miscalibration": tuple(
            (column, c.miscalibrated_area is not None and c.miscalibration_log_odds != 0)
            for column in ("policing_area", "disruption_date")),
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
    return tuple(c for c in FEATURE_COLUMNS if c not in drivers and not (proxy and c == "origin_hub"))


def mechanism_summary(config: WorldConfig) -> dict:
    """What ``world.json`` records about the true mechanism, for benchmarks of reasons."""
    drivers = true_drivers(config)
    return {
        "true_drivers": [c for c in COLUMNS if c in drivers],
        "no_effect_features": list(no_effect_features(config)),
        "proxies": {"origin_hub": "line_type"} if "line_type" in drivers and "origin_hub" not in drivers else {},
        "terms": {name: list(columns) for name, columns in world_terms(config).items()},
        "unobserved": ["line_random_effect"] if config.line_effect_sd > 0 else [],
    }


def true_terms(frame: pd.DataFrame, config: WorldConfig, line_effect: np.ndarray | None = None) -> pd.DataFrame:
    """The true mechanism's terms for extract rows: one ``term_<name>`` column per term.

    Computed from the contract columns alone (the unobserved ``line_effect`` is 0 unless given, e.g.
    ``truth["term_line_random_effect"]``), so a benchmark can ask how the truth moves when one column
    changes. ``term_intercept`` plus the row sum is the true log-odds.
    """
    levels = _levels(config)
    x = {}
    for column in FEATURE_COLUMNS:
        values = frame[column]
        if column in levels:
            x[column] = pd.Categorical(values.astype(object), categories=list(levels[column])).codes.astype(np.int64)
        else:
            x[column] = values.to_numpy(dtype=bool if values.dtype == bool else np.float64)
    days = (pd.DatetimeIndex(frame["disruption_date"]) - config.start_day).days.to_numpy()
    end_day = (config.end_day - config.start_day).days
    effect = np.zeros(len(frame)) if line_effect is None else np.asarray(line_effect, dtype=np.float64)
    terms = _mechanism(config, x, np.clip(days / end_day, 0.0, 1.0), effect)
    out = pd.DataFrame({"term_intercept": np.full(len(frame), float(config.persistence_intercept))})
    for name, value in terms.items():
        out["term_" + name] = value
    return out


# ----------------------------------------------------------------------------------------------
# Simulation
# ----------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_lines(cfg: WorldConfig, rng: np.random.Generator, n: int, end_day: int,
                birth_low: int, home_grown: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Draw ``n`` line profiles (the state carried from one disruption to the next)."""
    birth = rng.integers(birth_low, end_day + 1, size=n)
    t_birth = np.clip(birth / end_day, 0.0, 1.0)
    share = cfg.home_grown_share_start + (cfg.home_grown_share_end - cfg.home_grown_share_start) * t_birth
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
    contacts = np.exp(np.log(cfg.median_contacts) + 0.3 * imported - 0.15
                      + cfg.contacts_log_sd * rng.standard_normal(n))
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


def _transform(cfg: WorldConfig, x: Mapping[str, np.ndarray], column: str, level: str | None) -> np.ndarray:
    """The value an :class:`ExtraEffect` multiplies: 1/0 for yes/no or a category level, else log(1+x)."""
    values = x[column]
    if level is not None:
        return (values == _levels(cfg)[column].index(level)).astype(np.float64)
    if values.dtype == bool:
        return values.astype(np.float64)
    return np.nan_to_num(np.log1p(values.astype(np.float64)), nan=0.0)


def _mechanism(cfg: WorldConfig, x: Mapping[str, np.ndarray], t_frac: np.ndarray,
               line_effect: np.ndarray) -> dict[str, np.ndarray]:
    """The named log-odds terms of the true mechanism (``term_intercept`` aside).

    ``x`` maps contract columns to arrays (category columns as codes in :func:`_levels` order),
    ``t_frac`` is the share of the date range elapsed at each disruption.
    """
    home_grown = x["line_type"] == 1
    prior = x["prior_disruptions"]
    area = cfg.miscalibrated_area
    late_in_area = np.zeros(t_frac.shape, dtype=bool) if area is None else (
        (x["policing_area"] == cfg.policing_areas.index(area)) & (t_frac >= cfg.miscalibration_start_fraction))
    terms = {
        "market_size": cfg.effect_log_contacts * (np.log1p(x["contacts"]) - np.log1p(cfg.median_contacts)),
        "marketing": cfg.effect_log_bulk_texts
        * (np.log1p(x["bulk_texts_per_day"]) - np.log1p(cfg.mean_bulk_texts_per_day)),
        "redundant_numbers": cfg.effect_log_deal_numbers * np.log(x["deal_numbers"]),
        "recruit_pool": cfg.effect_log_runners * (np.log1p(x["runners"]) - np.log1p(cfg.mean_runners)),
        "organised_network": cfg.effect_ocg * x["ocg_linked"] + cfg.effect_log_linked_lines * np.log1p(x["linked_lines"]),
        "adaptation": cfg.effect_adaptation * np.log1p(prior),
        "holder_removed_x_line_type": x["holder_arrested"]
        * np.where(home_grown, cfg.effect_holder_home_grown, cfg.effect_holder_imported),
        "closure": np.select([x["closure_type"] == 1, x["closure_type"] == 2],
                             [cfg.effect_type1_closure, cfg.effect_type2_closure], 0.0),
        "ddtro_x_deal_numbers": x["ddtro"] * cfg.effect_ddtro_single_number
        * cfg.ddtro_decay_per_number ** (x["deal_numbers"] - 1),
        "runner_arrests": cfg.effect_runner_arrests_max * (1.0 - np.exp(-x["runners_arrested"] / 1.5)),
        "sustained_x_prior_disruptions": x["sustained_operation"]
        * (cfg.effect_sustained + cfg.effect_sustained_per_prior * np.minimum(prior, 4)),
        "safeguarding": cfg.effect_log_safeguarding * np.log1p(x["safeguarding_referrals"]),
        "premises_orders": cfg.effect_premises_order * np.minimum(x["closure_orders"], 2),
        "ancillary_orders": cfg.effect_ancillary_order * np.minimum(x["ancillary_orders"], 3),
        "home_grown_drift": home_grown * (cfg.home_grown_effect_start + cfg.drift_strength * t_frac),
        "line_random_effect": line_effect,
        "area_miscalibration": late_in_area * cfg.miscalibration_log_odds,
    }
    for extra in cfg.extra_effects:
        value = extra.effect * _transform(cfg, x, extra.column, extra.level)
        if extra.times is not None:
            value = value * _transform(cfg, x, extra.times, None)
        terms[extra.name] = value
    n = t_frac.size
    return {name: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for name, v in terms.items()}


def _line_at_disruption(cfg: WorldConfig, rng: np.random.Generator, lines: dict[str, np.ndarray],
                        idx: np.ndarray, day: np.ndarray, shift: np.ndarray) -> dict[str, np.ndarray]:
    """What the line looks like on the day it is disrupted (its profile, as the extract records it)."""
    n = idx.size
    home_grown = lines["home_grown"][idx]
    age_weeks = (day - lines["birth"][idx]) // 7
    # Brands accumulate customers as they establish themselves.
    growth = 1.0 + 0.2 * np.minimum(age_weeks / 52.0, 1.0)
    contacts = np.round(lines["contacts"][idx] * growth * np.exp(0.15 * rng.standard_normal(n))
                        * np.exp(0.5 * shift)).astype(np.int64)
    marketing_on = rng.random(n) >= 0.2 * np.exp(-shift)
    bulk = (marketing_on * cfg.mean_bulk_texts_per_day * lines["bulk_factor"][idx]
            * np.sqrt(np.maximum(contacts, 1) / cfg.median_contacts)
            * np.exp(0.3 * rng.standard_normal(n) + 0.5 * shift))
    runners = lines["runners"][idx].copy()
    exploited_children = rng.binomial(runners, 0.4)
    exploited_adults = rng.poisson(0.2 + 0.15 * runners + 0.3 * home_grown)
    cuckooed = rng.poisson(0.3 + 0.5 * ~home_grown + 0.05 * runners)
    violence = rng.poisson(lines["violence_rate"][idx])
    return {
        "line": idx, "day": day, "home_grown": home_grown,
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


def _draw_package(cfg: WorldConfig, rng: np.random.Generator, r: dict[str, np.ndarray],
                  shift: np.ndarray) -> dict[str, np.ndarray]:
    """The disruption package (its final values, as the labelled history records them)."""
    n = r["line"].size
    sustained = rng.random(n) < np.minimum(cfg.sustained_rate + 0.1 * (r["prior_disruptions"] > 0), 1.0)
    p_holder = np.clip(cfg.holder_arrest_rate * np.where(sustained, 1.3, 0.85) * np.exp(-0.7 * shift),
                       0.0, 0.95)
    holder = rng.random(n) < p_holder
    charged = holder & (rng.random(n) < cfg.type1_share_of_holder_arrests)
    deactivated = ~charged & (rng.random(n) < cfg.type2_rate)
    runners_arrested = rng.binomial(r["runners"], np.minimum(cfg.runner_arrest_rate + 0.1 * sustained, 1.0))
    handsets = rng.poisson(0.5 + 0.8 * holder + 0.4 * runners_arrested)
    ddtro = rng.random(n) < cfg.ddtro_rate
    closure_orders = rng.binomial(r["cuckooed_addresses"], 0.35)
    ancillary = rng.poisson(0.15 + 0.5 * holder + 0.15 * runners_arrested)
    safeguarding = rng.binomial(r["exploited_children"] + r["exploited_adults"], cfg.safeguarding_referral_rate)
    drugs_on = rng.random(n) >= 0.3
    drugs = drugs_on * np.exp(np.log(800.0) + 0.8 * holder + 0.2 * runners_arrested + 1.0 * rng.standard_normal(n))
    cash_on = rng.random(n) >= 0.5
    cash = cash_on * np.exp(np.log(600.0) + 1.1 * rng.standard_normal(n))
    grade_score = holder + 0.6 * sustained + 0.3 * np.minimum(runners_arrested, 3) + 0.5 * rng.standard_normal(n)
    return {
        "holder_arrested": holder,
        "closure": np.where(charged, 1, np.where(deactivated, 2, 0)),
        "runners_arrested": runners_arrested,
        "handsets_seized": handsets,
        "ddtro": ddtro,
        "closure_orders": closure_orders,
        "ancillary_orders": ancillary,
        "safeguarding_referrals": safeguarding,
        "drugs_seized_gbp": np.round(drugs, -1),
        "cash_seized_gbp": np.round(cash, -1),
        "sustained_operation": sustained,
        "grade": np.digitize(grade_score, [0.6, 1.5]),
    }


def _simulate_round(cfg: WorldConfig, rng: np.random.Generator, lines: dict[str, np.ndarray],
                    idx: np.ndarray, day: np.ndarray, prior: np.ndarray, last_day: np.ndarray,
                    shift_from: int, end_day: int) -> dict[str, np.ndarray]:
    """Draw one disruption for each line in ``idx`` (on ``day``) and its outcome.

    Rows on or after ``shift_from`` get the covariate shift; :func:`_simulate` draws them from
    their own random stream so that the shift leaves every other row unchanged.
    """
    shift = cfg.covariate_shift * (day >= shift_from)
    rows = _line_at_disruption(cfg, rng, lines, idx, day, shift)
    rows["prior_disruptions"] = prior
    rows["weeks_since_last_disruption"] = np.round((day - last_day) / 7.0, 1)
    rows.update(_draw_package(cfg, rng, rows, shift))
    x = {**rows, "line_type": rows["home_grown"].astype(np.int64), "closure_type": rows["closure"],
         "disruption_grade": rows["grade"], "policing_area": lines["area"][idx],
         "commodity": lines["commodity"][idx],
         "origin_hub": np.where(rows["home_grown"], len(HUBS), lines["hub"][idx])}
    terms = _mechanism(cfg, x, np.clip(day / end_day, 0.0, 1.0), lines["line_effect"][idx])
    probability = _sigmoid(cfg.persistence_intercept + sum(terms.values()))
    rows["persisted"] = rng.random(idx.size) < probability
    rows["true_probability"] = probability
    rows.update({"term_" + name: value for name, value in terms.items()})
    return rows


def _adapt(rng: np.random.Generator, lines: dict[str, np.ndarray], rows: dict[str, np.ndarray],
           keep: np.ndarray) -> None:
    """Update the state of lines that survived a disruption: they adapt (more numbers, new runners)."""
    idx = rows["line"][keep]
    m = idx.size
    imported = ~lines["home_grown"][idx]
    holder = rows["holder_arrested"][keep]
    # Spare numbers are added after a disruption, and a barred number is replaced.
    lines["deal_numbers"][idx] += (rng.random(m) < 0.3) + (rows["ddtro"][keep] & (rng.random(m) < 0.6))
    # Arrested runners are replaced from a pool of recruits (Harding 2020).
    recruits = rng.poisson(0.8 + 0.5 * imported)
    lines["runners"][idx] = np.maximum(rows["runners"][keep] - rows["runners_arrested"][keep] + recruits, 0)
    # Demand drifts; a line that survives losing its holder loses some customers.
    lines["contacts"][idx] *= np.exp(0.03 - 0.25 * holder + 0.15 * rng.standard_normal(m))
    lines["bulk_factor"][idx] *= np.exp(0.15 * rng.standard_normal(m))
    lines["linked_lines"][idx] += rng.random(m) < 0.15


def _simulate(cfg: WorldConfig, rngs: tuple[np.random.Generator, np.random.Generator],
              lines: dict[str, np.ndarray], start_idx: np.ndarray, start_day: np.ndarray,
              shift_from: int, end_day: int, exported: tuple[tuple[int, int], ...],
              max_rounds: int | None = None) -> dict[str, np.ndarray]:
    """Run rounds of disruptions until every line has folded or passed ``end_day``.

    Only rows whose day falls in one of the ``exported`` (first, last) day ranges are returned;
    the others (before ``start_date``, or with an outcome not yet known) still shape later rows.

    Rows on or after ``shift_from`` (the weekly window) draw from their own stream ``rngs[1]``:
    numpy's discrete samplers consume a value-dependent number of bits, so sharing one stream
    would let the covariate shift of the weekly rows perturb every other row.
    """
    main_rng, window_rng = rngs
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
            _simulate_round(cfg, rng, lines, idx[mask], day[mask], prior[mask], last_day[mask],
                            shift_from, end_day)
            for mask, rng in ((~in_window, main_rng), (in_window, window_rng))
        ]
        rows = {key: np.concatenate([part.pop(key) for part in parts]) for key in list(parts[0])}
        del parts
        idx, day = rows["line"], rows["day"]
        prior = rows["prior_disruptions"]
        rounds += 1
        # A persisting line is next disrupted after the horizon, so its label is settled first.
        # Lines disrupted in the window are always dropped here (their next disruption is after
        # end_day), so the shift never changes which lines carry on.
        gap = horizon_days + np.round(main_rng.exponential(extra_days, size=idx.size)).astype(np.int64)
        next_day = day + gap
        keep = rows["persisted"] & (next_day <= end_day) & (next_day < lines["natural_end"][idx])
        _adapt(main_rng, lines, rows, keep)
        wanted = np.zeros(idx.size, dtype=bool)
        for first, last in exported:
            wanted |= (day >= first) & (day <= last)
        chunks.append({key: rows.pop(key)[wanted] for key in list(rows)})
        idx, last_day, day, prior = idx[keep], day[keep].astype(np.float64), next_day[keep], prior[keep] + 1
    # Concatenate column by column, dropping each column's chunks as soon as it is joined.
    return {key: np.concatenate([c.pop(key) for c in chunks]) for key in list(chunks[0])} if chunks else {}


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    if numbers.size == 0:
        return np.empty(0, dtype=object)
    text = np.char.zfill(numbers.astype(np.int64).astype(str), width)
    return np.char.add(prefix, text).astype(object)


def _frame(cfg: WorldConfig, lines: dict[str, np.ndarray], rows: dict[str, np.ndarray],
           order: np.ndarray, first_number: int, start: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn simulated rows (already selected and ordered by ``order``) into contract + truth frames."""
    # Pop as we go so that a million-row world is never held twice.
    r = {key: rows.pop(key)[order] for key in list(rows)}
    line = r.pop("line")
    home_grown = r.pop("home_grown")
    n = line.size
    areas = np.asarray(cfg.policing_areas, dtype=object)
    hubs = np.asarray(HUBS + ("local",), dtype=object)
    hub_code = np.where(home_grown, len(HUBS), lines["hub"][line])

    def categories(values: tuple[str, ...] | np.ndarray, codes: np.ndarray):
        return pd.array(np.asarray(values, dtype=object)[codes], dtype="str")

    disruption_ids = pd.array(_ids("SYN-D", np.arange(first_number, first_number + n), 7), dtype="str")
    data: dict[str, object] = {
        "disruption_id": disruption_ids,
        "line_id": pd.array(_ids("SYN-L", line + 1, 6), dtype="str"),
        "disruption_date": (start + pd.to_timedelta(r.pop("day"), unit="D")).astype("datetime64[ns]"),
        "policing_area": categories(areas, lines["area"][line]),
        "line_type": categories(("imported", "home_grown"), home_grown.astype(np.int64)),
        "origin_hub": categories(hubs, hub_code),
    }
    for column in COLUMNS[len(data):]:
        if column == "commodity":
            data[column] = categories(COMMODITIES, lines["commodity"][line])
        elif column == "closure_type":
            data[column] = categories(CLOSURE_TYPES, r.pop("closure"))
        elif column == "disruption_grade":
            data[column] = categories(GRADES, r.pop("grade"))
        elif column == LABEL:
            data[column] = r.pop("persisted").astype(bool)
        elif column in _INT_COLUMNS:
            data[column] = r.pop(column).astype(np.int64, copy=False)
        elif column in _FLOAT_COLUMNS:
            data[column] = r.pop(column).astype(np.float64, copy=False)
        else:
            data[column] = r.pop(column).astype(bool, copy=False)
    frame = pd.DataFrame(data, copy=False)
    del data

    truth = {"disruption_id": disruption_ids, "true_probability": r.pop("true_probability"),
             "term_intercept": np.full(n, float(cfg.persistence_intercept))}
    for name in (*TRUE_TERMS, *(extra.name for extra in cfg.extra_effects)):
        truth["term_" + name] = r.pop("term_" + name)
    return frame, pd.DataFrame(truth, copy=False)


@dataclass(frozen=True)
class _Calendar:
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
    def of(cls, cfg: WorldConfig) -> _Calendar:
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
        return list(iso_weeks(pd.DatetimeIndex([self.start + pd.Timedelta(days=d) for d in self.mondays])))


def _simulate_world(cfg: WorldConfig, cal: _Calendar,
                    seeds: list[np.random.SeedSequence]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Draw the lines and every disruption from ``start_date`` to ``end_date`` (line state, rows).

    Rows after ``history_last`` (outcome not yet known) draw from their own stream, and so do the
    extra lines of the covariate shift, so neither ever changes a labelled history row.
    """
    profile_seq, rounds_seq, window_seq, shift_seq = seeds[:4]
    lines = _draw_lines(cfg, np.random.default_rng(profile_seq), cfg.n_lines, cal.end_day,
                        birth_low=-7 * cfg.warmup_weeks)
    starts = np.flatnonzero((lines["first_day"] <= cal.end_day) & (lines["first_day"] < lines["natural_end"]))
    rngs = (np.random.default_rng(rounds_seq), np.random.default_rng(window_seq))
    shift_from = cal.history_last + 1
    exported = ((0, cal.end_day),)
    rows = _simulate(cfg, rngs, lines, starts, lines["first_day"][starts],
                     shift_from=shift_from, end_day=cal.end_day, exported=exported)
    if cfg.covariate_shift > 0:
        # The shift also brings new home-grown lines, first disrupted after the labelled history.
        open_now = int(np.count_nonzero(rows["day"] >= shift_from)) if rows else 0
        n_extra = int(round(0.4 * cfg.covariate_shift * open_now))
        if n_extra:
            rng = np.random.default_rng(shift_seq)
            extra = _draw_lines(cfg, rng, n_extra, cal.end_day, birth_low=0,
                                home_grown=np.ones(n_extra, dtype=bool))
            first = rng.integers(shift_from, cal.end_day + 1, size=n_extra)
            extra["birth"] = np.minimum(extra["birth"], first - 7 * rng.integers(1, 27, size=n_extra))
            lines = {key: np.concatenate([lines[key], extra[key]]) for key in lines}
            extra_idx = np.arange(cfg.n_lines, cfg.n_lines + n_extra)
            extra_rows = _simulate(cfg, (rng, rng), lines, extra_idx, first, shift_from=shift_from,
                                   end_day=cal.end_day, exported=exported, max_rounds=1)
            rows = {key: np.concatenate([rows[key], extra_rows[key]]) for key in rows}
    if not rows:  # a world too small to have any disruption still has well-typed frames
        empty = np.zeros(0, dtype=np.int64)
        rows = _simulate_round(cfg, np.random.default_rng(0), lines, empty, empty, empty,
                               np.zeros(0), shift_from, cal.end_day)
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
        ``end_date``), ``weekly`` (the latest ``weekly_extract_weeks`` ISO weeks' extracts, each the
        disruptions still open that week, package fields as recorded by then, unlabelled) and
        ``truth`` (true probability and terms of each disruption's final package).

    Examples
    --------
    >>> world = generate_world(WorldConfig(n_lines=400, seed=1))
    >>> set(world.truth["disruption_id"]) >= set(world.history["disruption_id"])
    True
    """
    cfg = config if config is not None else WorldConfig()
    cal = _Calendar.of(cfg)
    # Independent streams: profiles, rounds, open rows, covariate-shift lines, recording delays.
    seeds = np.random.SeedSequence(cfg.seed).spawn(5)
    lines, rows = _simulate_world(cfg, cal, seeds)
    order = np.lexsort((rows["line"], rows["day"]))
    day = rows["day"][order]
    frame, truth = _frame(cfg, lines, rows, order, 1, cal.start)
    history = frame.loc[day <= cal.history_last].reset_index(drop=True)
    keep = day >= cal.first_open_day
    weekly = _weekly_extracts(cal, frame.loc[keep].drop(columns=[LABEL]).reset_index(drop=True),
                              day[keep], np.random.default_rng(seeds[4]))
    return SyntheticWorld(history=history, weekly=weekly, truth=truth, config=cfg)


# ----------------------------------------------------------------------------------------------
# Weekly extracts: the open disruptions, package fields as recorded so far
# ----------------------------------------------------------------------------------------------
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
    "holder_arrested": Recording(on_day=0.6, first=1, last=56),      # arrested on the day or in the operation
    "runners_arrested": Recording(on_day=0.65, first=1, last=56),
    "handsets_seized": Recording(on_day=0.8, first=1, last=56),      # most at the arrests
    "safeguarding_referrals": Recording(on_day=0.4, first=1, last=42),
    "closure_orders": Recording(on_day=0.0, first=2, last=28),       # notice, then a magistrates' order
    "ddtro": Recording(on_day=0.0, first=7, last=56),                # an application to court
    "ancillary_orders": Recording(on_day=0.2, first=7, last=70),     # interim orders on the day; CBOs, STPOs take weeks
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


def _recording_days(frame: pd.DataFrame, rng: np.random.Generator,
                    cap: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
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


def _as_recorded(frame: pd.DataFrame, elapsed: np.ndarray,
                 days: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """The rows as recorded ``elapsed`` days after each disruption (final values once all are in)."""
    out = frame.copy()
    n = len(frame)
    for column in RECORDING:
        row, day = days[column]
        count = np.bincount(row[day <= elapsed[row]], minlength=n)
        out[column] = count.astype(frame[column].dtype) if frame[column].dtype != bool else count > 0
    row, day = days["closure_type"]
    closure = frame["closure_type"].to_numpy(dtype=object)
    out["closure_type"] = pd.array(np.where(day <= elapsed, closure, "none"), dtype="str")
    for column in SEIZURE_COLUMNS:
        share, day = days[column]
        out[column] = np.round(frame[column].to_numpy() * (1.0 - share * (elapsed < day)), -1)
    return out


def _weekly_extracts(cal: _Calendar, frame: pd.DataFrame, day: np.ndarray,
                     rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """ISO week -> the disruptions open on that week's extraction day, as recorded by then.

    ``frame`` holds every disruption open in some exported week (final package values, no label),
    ``day`` its disruption day. A disruption is in ``horizon_weeks`` consecutive weekly extracts
    under the same ids; its package fields grow towards the final values the history holds.
    """
    days = _recording_days(frame, rng, cap=max(cal.horizon_days - 7, 0))
    weekly = {}
    for week, as_of in zip(cal.weeks, cal.as_of):
        open_rows = (day > as_of - cal.horizon_days) & (day <= as_of)
        snapshot = _as_recorded(frame, as_of - day, days)
        weekly[week] = snapshot.loc[open_rows].reset_index(drop=True)
    return weekly


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------
def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write one frame as Parquet with deterministic bytes (no index, no varying metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def write_world(world: SyntheticWorld, out_dir: Path) -> list[Path]:
    """Write a world as Parquet files, all or nothing.

    Writes ``out_dir/disruptions.parquet`` (history, labelled), ``out_dir/weekly/<YYYY-Www>.parquet``
    (one per weekly extract, unlabelled) and ``out_dir/truth.parquet``. Every file is first written
    to a temp name beside its target; only when all are written are they renamed into place, so on
    any error no temp or half-written file remains and existing files are untouched. Weekly files
    of an earlier world that this world does not have are then removed. The same world always
    gives byte-identical files.

    Parameters
    ----------
    world : the world from :func:`generate_world`.
    out_dir : folder to write into (created if missing).

    Returns
    -------
    list of Path
        The written files, history first, then the weekly extracts in week order, then truth.

    Examples
    --------
    >>> paths = write_world(generate_world(WorldConfig(n_lines=400)), Path(tmp))  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    weekly_dir = out_dir / "weekly"
    plan: list[tuple[pd.DataFrame, Path]] = [(world.history, out_dir / "disruptions.parquet")]
    plan += [(world.weekly[week], weekly_dir / f"{week}.parquet") for week in sorted(world.weekly)]
    plan.append((world.truth, out_dir / "truth.parquet"))

    created_weekly_dir = not weekly_dir.exists()
    weekly_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for frame, target in plan:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            staged.append((Path(tmp), target))
            _write_parquet(frame, Path(tmp))
        for tmp, target in staged:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if created_weekly_dir and not any(weekly_dir.iterdir()):
            weekly_dir.rmdir()
        raise
    written = {target for _, target in plan}
    for old in weekly_dir.glob("*.parquet"):
        if old not in written:
            old.unlink()
    return [target for _, target in plan]


def load_world_config(name_or_path: str | Path = "default", config_dir: Path | None = None,
                      **overrides: object) -> WorldConfig:
    """A world config from ``configs/world/<name>.yaml`` or a path, for use outside Hydra.

    A preset's ``defaults`` list names the world it extends (as Hydra reads it); its own keys
    replace that world's, and ``overrides`` replace both.

    >>> load_world_config("sparse").line_effect_sd
    0.6
    """
    import yaml

    from resilience.paths import config_dir as default_config_dir

    def read(path: Path) -> dict:
        if not path.is_file():
            raise _ConfigError(f"world config: no file {path}")
        mapping = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged: dict = {}
        for base in mapping.pop("defaults", None) or []:
            if base != "_self_":
                merged.update(read(path.parent / f"{base}.yaml"))
        return {**merged, **mapping}

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = (config_dir or default_config_dir()) / "world" / f"{name_or_path}.yaml"
    return WorldConfig(**{**read(path), **overrides})
