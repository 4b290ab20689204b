"""The world's knobs: :class:`WorldConfig` (``configs/world/default.yaml`` key for key), the
extra true effects of alternative worlds (:class:`ExtraEffect`), when each package field is
recorded (:class:`Recording`, :class:`RecordingDelays`, in :mod:`.recording`) and :func:`load_world_config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd
import yaml

from resilience.core.errors import ConfigError
from resilience.core.paths import config_dir as default_config_dir
from resilience.data.synthetic.columns import (
    CLOSURE_TYPES,
    COMMODITIES,
    FEATURE_COLUMNS,
    GRADES,
    HUBS,
    LINE_TYPES,
)
from resilience.data.synthetic.recording import RecordingDelays

DEFAULT_AREAS: tuple[str, ...] = (
    "Northmere",
    "Ashby Vale",
    "Kestrelholm",
    "Oakhallow",
    "Brindlecombe",
    "Greyhaven Fells",
    "Wetherdune",
    "Marrowfield",
    "Quillbrook",
    "Saltmarrow",
    "Corvid Heath",
    "Lanternmoor",
)
DEFAULT_AREA_WEIGHTS: tuple[float, ...] = (
    0.16,
    0.13,
    0.11,
    0.10,
    0.09,
    0.08,
    0.07,
    0.07,
    0.06,
    0.05,
    0.04,
    0.04,
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
        return (
            "extra_"
            + self.column
            + (f"_{self.level}" if self.level is not None else "")
            + (f"_x_{self.times}" if self.times is not None else "")
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) if self.times is None else (self.column, self.times)

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def category_levels(cfg: WorldConfig) -> dict[str, tuple[str, ...]]:
    """The simulator's category columns and their levels, in code order."""
    return {
        "line_type": LINE_TYPES,
        "origin_hub": HUBS + ("local",),
        "policing_area": cfg.policing_areas,
        "commodity": COMMODITIES,
        "closure_type": CLOSURE_TYPES,
        "disruption_grade": GRADES,
    }


def _extra_effects(cfg: WorldConfig, raw: object) -> tuple[tuple[ExtraEffect, ...], list[str]]:
    """``extra_effects`` as given (mappings from YAML, or ExtraEffect) -> checked tuple, problems."""
    effects, problems = [], []
    for item in raw or ():
        try:
            effect = item if isinstance(item, ExtraEffect) else ExtraEffect(**dict(item))
            effect = ExtraEffect(effect.column, float(effect.effect), effect.level, effect.times)
        except (TypeError, ValueError) as exc:
            problems.append(f"extra_effects entry {item!r}: needs column and effect ({exc})")
            continue
        levels = category_levels(cfg).get(effect.column)
        if effect.column not in FEATURE_COLUMNS:
            problems.append(
                f"extra_effects: {effect.column!r} is not a feature column of the contract"
            )
        elif levels is not None and effect.level not in levels:
            problems.append(
                f"extra_effects: {effect.column} is a category: level must be one of {', '.join(levels)}"
            )
        elif levels is None and effect.level is not None:
            problems.append(
                f"extra_effects: {effect.column} is not a category, so it takes no level"
            )
        if effect.times is not None and (
            effect.times not in FEATURE_COLUMNS or effect.times in category_levels(cfg)
        ):
            problems.append(
                f"extra_effects: times={effect.times!r} must be a number or yes/no feature column"
            )
        effects.append(effect)
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
    weekly_extract_weeks : ``"all"`` (every ISO week from ``start_date``'s to ``end_date``'s) or
        how many of the latest ISO weeks are exported as weekly extracts (each holds the
        disruptions open that week, so consecutive extracts share most of their rows).
    recording_delays, recording_delay_scale : when each package field's units are recorded
        (:class:`RecordingDelays`); the scale multiplies every delay in days (0.5 halves, 2 doubles).
        A field whose delays can reach past the horizon may be incomplete in the last extract that
        holds a disruption; the labelled history always holds the final package.
    conviction_orders_rate : mean extra ancillary orders made on conviction, after the outcome is
        known, for a charged holder whose line folded (0 = none): a later record leaks the outcome.
    ocg_group_size_power, ocg_group_max_size : the lines linked to an organised crime group are
        grouped (``ocg_id``) with sizes P(k) proportional to k^-power, 1 <= k <= max size.
    assignment_strength, assignment_hidden_strength, ancillary_charge_link : confounded
        assignment of tactics: the log-odds of giving each tactic (a count: at least once) rises by the first times the
        line's recorded strength and by the second times its unrecorded character (the line
        effect, in sd); the link is the share of ancillary orders that follow the charge.
    tactics_truth : also write ``tactics_truth.parquet`` (each labelled disruption's true
        probability with and without each tactic).
    ddtro_decay_per_number, extra_effects : change the true mechanism (with every ``effect_*``):
        1 removes the DDTRO x deal numbers interaction; :class:`ExtraEffect` entries give columns
        effects they lack by default. ``true_drivers(config)`` says which columns drive the result.
    covariate_shift : > 0 shifts the features of the disruptions whose outcome is not yet known
        (more contacts and bulk texts, fewer holder arrests, extra new home-grown lines); the
        labelled history is unchanged.
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
    weekly_extract_weeks: int | str = "all"
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
    # -- organised crime groups ----------------------------------------------------------------
    ocg_group_size_power: float = 1.8
    ocg_group_max_size: int = 40
    # -- confounded assignment of tactics (0 = the default world's assignment) ------------------
    assignment_strength: float = 0.0
    assignment_hidden_strength: float = 0.0
    ancillary_charge_link: float = 0.0
    # -- recording: when package fields reach the record -----------------------------------------
    recording_delays: RecordingDelays = RecordingDelays()
    recording_delay_scale: float = 1.0
    conviction_orders_rate: float = 0.0
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
    # -- outputs --------------------------------------------------------------------------------
    tactics_truth: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "policing_areas", tuple(str(a) for a in self.policing_areas))
        object.__setattr__(self, "area_weights", tuple(float(w) for w in self.area_weights))
        object.__setattr__(self, "recording_delays", RecordingDelays.of(self.recording_delays))
        extra, problems = _extra_effects(self, self.extra_effects)
        object.__setattr__(self, "extra_effects", extra)
        problems += self.recording_delays.problems()
        problems += _calendar_problems(self)
        problems += _structure_problems(self)
        problems += _place_problems(self)
        problems += _range_problems(self)
        if problems:
            raise ConfigError("world config: " + "; ".join(problems))

    @property
    def start_day(self) -> pd.Timestamp:
        """``start_date`` as a timestamp."""
        return pd.Timestamp(self.start_date).normalize()

    @property
    def end_day(self) -> pd.Timestamp:
        """``end_date`` as a timestamp."""
        return pd.Timestamp(self.end_date).normalize()

    @property
    def n_weeks(self) -> int:
        """ISO weeks from ``start_date``'s to ``end_date``'s (0 if the dates are the wrong way)."""
        start_monday = self.start_day - pd.Timedelta(days=self.start_day.weekday())
        end_monday = self.end_day - pd.Timedelta(days=self.end_day.weekday())
        return max((end_monday - start_monday).days // 7 + 1, 0)

    @property
    def export_weeks(self) -> int:
        """How many of the latest ISO weeks are exported as weekly extracts."""
        return self.n_weeks if self.weekly_extract_weeks == "all" else self.weekly_extract_weeks

    @property
    def hub_shares(self) -> tuple[float, ...]:
        """Shares of imported lines by hub, in the order of :data:`HUBS`."""
        return (
            self.hub_share_london,
            self.hub_share_liverpool,
            self.hub_share_birmingham,
            self.hub_share_manchester,
            self.hub_share_other,
        )

    @classmethod
    def from_mapping(cls, mapping: dict) -> WorldConfig:
        """Build from a YAML-shaped mapping; an unknown key is a clear error, not a TypeError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigError(
                f"world config: unknown key(s) {', '.join(unknown)}; "
                f"the keys are those of configs/world/default.yaml"
            )
        return cls(**mapping)

    def to_dict(self) -> dict:
        """Plain mapping of the fields (tuples as lists), the shape of the YAML."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["extra_effects"] = [effect.to_dict() for effect in self.extra_effects]
        out["recording_delays"] = self.recording_delays.to_dict()
        return out


# Knobs that must lie in [0, 1], be > 0, and be >= 0 (checked in this order).
_SHARES_AND_RATES: tuple[str, ...] = (
    "home_grown_share_start",
    "home_grown_share_end",
    "ocg_share",
    "sustained_rate",
    "holder_arrest_rate",
    "type1_share_of_holder_arrests",
    "type2_rate",
    "ddtro_rate",
    "runner_arrest_rate",
    "safeguarding_referral_rate",
    "miscalibration_start_fraction",
    "ddtro_decay_per_number",
    "ancillary_charge_link",
)
_POSITIVE: tuple[str, ...] = (
    "median_contacts",
    "mean_bulk_texts_per_day",
    "mean_weeks_to_first_disruption",
    "mean_line_lifetime_weeks",
)
_NON_NEGATIVE: tuple[str, ...] = (
    "contacts_log_sd",
    "mean_runners",
    "mean_extra_gap_weeks",
    "line_effect_sd",
    "covariate_shift",
    "recording_delay_scale",
    "conviction_orders_rate",
)


def _calendar_problems(cfg: WorldConfig) -> list[str]:
    """The dates, the scale and the weekly extracts; dates that do not parse raise at once."""
    problems = []
    try:
        start, end = cfg.start_day, cfg.end_day
    except ValueError as exc:
        raise ConfigError(f"world config: start_date/end_date must be ISO dates: {exc}") from exc
    if (end - start).days < 7 * (2 * cfg.horizon_weeks + 4):
        problems.append(
            "end_date must lie well after start_date (more than twice the horizon "
            "+ 4 weeks), so the world has a labelled history and open disruptions"
        )
    if cfg.n_lines < 1:
        problems.append("n_lines must be >= 1")
    weeks = cfg.weekly_extract_weeks
    if weeks != "all" and (
        isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= cfg.n_weeks
    ):
        problems.append(
            f"weekly_extract_weeks must be 'all' or a whole number from 1 to {cfg.n_weeks} "
            f"(the ISO weeks from start_date's to end_date's), not {weeks!r}"
        )
    return problems


def _structure_problems(cfg: WorldConfig) -> list[str]:
    """Organised crime groups, the tactics-truth switch, the horizon and the warm-up."""
    problems = []
    if cfg.ocg_group_max_size < 1 or cfg.ocg_group_size_power < 0:
        problems.append("ocg_group_max_size must be >= 1 and ocg_group_size_power >= 0")
    if cfg.tactics_truth not in (True, False):
        problems.append("tactics_truth must be true or false")
    if cfg.horizon_weeks < 1 or cfg.warmup_weeks < 0:
        problems.append("horizon_weeks must be >= 1 and warmup_weeks >= 0")
    return problems


def _place_problems(cfg: WorldConfig) -> list[str]:
    """Policing areas with their weights, and the hub shares."""
    problems = []
    if not cfg.policing_areas or len(set(cfg.policing_areas)) != len(cfg.policing_areas):
        problems.append("policing_areas must be non-empty and unique")
    if (
        len(cfg.area_weights) != len(cfg.policing_areas)
        or min(cfg.area_weights, default=0) < 0
        or sum(cfg.area_weights) <= 0
    ):
        problems.append("area_weights must be one non-negative weight per policing area")
    hubs = cfg.hub_shares
    if min(hubs) < 0 or sum(hubs) <= 0:
        problems.append("hub_share_* must be non-negative and not all zero")
    return problems


def _range_problems(cfg: WorldConfig) -> list[str]:
    """Shares and rates in [0, 1], positive and non-negative knobs, and the miscalibrated area."""
    problems = [
        f"{name} must be between 0 and 1"
        for name in _SHARES_AND_RATES
        if not 0.0 <= getattr(cfg, name) <= 1.0
    ]
    problems += [f"{name} must be > 0" for name in _POSITIVE if getattr(cfg, name) <= 0]
    if cfg.mean_deal_numbers < 1:
        problems.append("mean_deal_numbers must be >= 1")
    problems += [f"{name} must be >= 0" for name in _NON_NEGATIVE if getattr(cfg, name) < 0]
    if cfg.miscalibrated_area is not None and cfg.miscalibrated_area not in cfg.policing_areas:
        problems.append(
            f"miscalibrated_area {cfg.miscalibrated_area!r} is not one of policing_areas"
        )
    return problems


def load_world_config(
    name_or_path: str | Path = "default", config_dir: Path | None = None, **overrides: object
) -> WorldConfig:
    """A world config from ``configs/world/<name>.yaml`` or a path, for use outside Hydra.

    A preset's ``defaults`` list names the world it extends (as Hydra reads it); its own keys
    replace that world's, and ``overrides`` replace both.

    >>> load_world_config("sparse").line_effect_sd
    0.6
    """

    def read(path: Path) -> dict:
        if not path.is_file():
            raise ConfigError(f"world config: no file {path}")
        mapping = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged: dict = {}
        for base in mapping.pop("defaults", None) or []:
            if base != "_self_":
                merged.update(read(path.parent / f"{base}.yaml"))
        return {**merged, **mapping}

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = (config_dir or default_config_dir()) / "world" / f"{name_or_path}.yaml"
    return WorldConfig.from_mapping({**read(path), **overrides})
