"""Tests for the synthetic world: determinism, the data contract, realism, test knobs, atomic writes."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from sklearn.metrics import roc_auc_score

from resilience.core.weeks import week_monday
from resilience.data.contract import load_data_contract
from resilience.data.synthetic import (
    ACCRUING_COLUMNS,
    COLUMNS,
    FEATURE_COLUMNS,
    LABEL,
    MONOTONE_DRIVERS,
    NO_EFFECT_FEATURES,
    TRUE_TERMS,
    ExtraEffect,
    SyntheticWorld,
    WorldConfig,
    generate_world,
    load_world_config,
    mechanism_summary,
    no_effect_features,
    true_drivers,
    true_terms,
    write_world,
)
from resilience.data.synthetic import write as synthetic_write
from resilience.data.validate import validate_frame

ROOT = Path(__file__).resolve().parents[1]
SMALL = WorldConfig(n_lines=400, seed=11)

CONTRACT = load_data_contract("default")  # the one list of columns, types and allowed values


def _columns(*dtypes: str) -> list[str]:
    """The extract's columns of these dtypes (not the label, nor those the toolkit derives)."""
    return [
        c.name
        for c in CONTRACT.columns
        if c.dtype in dtypes and c.role != "label" and c.derived is None
    ]


ALLOWED = {c.name: set(c.allowed) for c in CONTRACT.columns if c.allowed}
INTS, FLOATS, BOOLS = _columns("int"), _columns("float"), _columns("bool")
STRINGS = [c for c in _columns("string", "category") if not CONTRACT.column(c).nullable]
GROUP = CONTRACT.group_column


@pytest.fixture(scope="module")
def small_world() -> SyntheticWorld:
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def default_world() -> SyntheticWorld:
    return generate_world(WorldConfig())


def _all_rows(world: SyntheticWorld) -> pd.DataFrame:
    """History rows and every distinct weekly row (the rows of all weekly extracts, each once:
    ``tests/test_synthetic_records.py`` checks that they are the same rows)."""
    return pd.concat(
        [world.history.drop(columns=[LABEL]), *world.weekly.distinct_records()], ignore_index=True
    )


def validate_weekly(world: SyntheticWorld, config: WorldConfig) -> None:
    """Every weekly row against the data contract: the distinct rows, in layers of unique ids."""
    for k, layer in enumerate(world.weekly.distinct_records()):
        validate_frame(
            layer, CONTRACT, source=f"weekly rows, version {k + 1}", today=config.end_day
        )


def _late(frame: pd.DataFrame, config: WorldConfig) -> pd.Series:
    cutoff = config.start_day + config.miscalibration_start_fraction * (
        config.end_day - config.start_day
    )
    return frame["disruption_date"] >= cutoff


def check_contract(world: SyntheticWorld, config: WorldConfig) -> None:
    """Every rule of the data contract, on history and weekly rows."""
    history = world.history
    # every column of the contract but those the toolkit derives (the record's age)
    carried = [c for c in CONTRACT.column_names if c not in CONTRACT.derived_columns]
    assert list(history.columns) == list(COLUMNS) == carried
    for week in list(world.weekly)[-3:]:
        assert list(world.weekly[week].columns) == [c for c in COLUMNS if c != LABEL], week
    rows = _all_rows(world)
    for column in INTS:
        assert rows[column].dtype == np.int64, column
        assert (rows[column] >= 0).all(), column
    for column in FLOATS:
        assert rows[column].dtype == np.float64, column
    for column in BOOLS:
        assert rows[column].dtype == bool, column
    assert history[LABEL].dtype == bool
    for column in STRINGS:
        assert pd.api.types.is_string_dtype(rows[column]), column
        assert (rows[column].str.len() > 0).all(), column
    for column, allowed in ALLOWED.items():
        assert set(rows[column]) <= allowed, column
    assert rows["disruption_date"].dtype == "datetime64[ns]"
    assert (rows["disruption_date"] == rows["disruption_date"].dt.normalize()).all()

    assert ((rows["origin_hub"] == "local") == (rows["line_type"] == "home_grown")).all()
    assert rows.loc[rows["closure_type"] == "type1", "holder_arrested"].all()
    assert (rows["runners_arrested"] <= rows["runners"]).all()
    assert (rows["deal_numbers"] >= 1).all()
    assert (rows["bulk_texts_per_day"] >= 0).all() and (rows["drugs_seized_gbp"] >= 0).all()
    assert (rows["cash_seized_gbp"] >= 0).all()
    since = rows["weeks_since_last_disruption"]
    assert (since.isna() == (rows["prior_disruptions"] == 0)).all()
    assert (since.dropna() > config.horizon_weeks).all()  # a persisting line waits out the horizon

    assert history["disruption_id"].is_unique
    for week in world.weekly:
        open_rows, _ = world.weekly.open_rows(week)  # positions of distinct disruptions ...
        lines = world.records["line_id"].to_numpy()[open_rows]
        assert len(set(open_rows)) == len(open_rows) and len(set(lines)) == len(lines), week
    assert rows["disruption_id"].str.fullmatch(r"SYN-D\d{7,}").all()
    assert rows["line_id"].str.fullmatch(r"SYN-L\d{6,}").all()
    # A group id exactly on the lines linked to an organised crime group, empty on the others.
    assert (rows[GROUP].notna() == rows["ocg_linked"]).all()
    assert rows[GROUP].dropna().str.fullmatch(r"SYN-G\d{5,}").all()
    horizon = pd.Timedelta(weeks=config.horizon_weeks)
    assert (history["disruption_date"] >= config.start_day).all()
    assert (history["disruption_date"] <= config.end_day - horizon).all()
    assert (rows["disruption_date"] <= config.end_day).all()
    ordered = history.sort_values(["disruption_date", "disruption_id"], ignore_index=True)
    assert_frame_equal(history, ordered)


# -- determinism -----------------------------------------------------------------------------------
def test_same_seed_gives_identical_frames(small_world):
    again = generate_world(SMALL)
    assert_frame_equal(small_world.history, again.history)
    assert_frame_equal(small_world.truth, again.truth)
    assert list(small_world.weekly) == list(again.weekly)
    for week in small_world.weekly:
        assert_frame_equal(small_world.weekly[week], again.weekly[week])


def test_same_seed_gives_byte_identical_files(small_world, tmp_path):
    first = write_world(small_world, tmp_path / "a")
    second = write_world(generate_world(SMALL), tmp_path / "b")
    rewrite = write_world(small_world, tmp_path / "a")
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert first == rewrite


def test_different_seeds_differ(small_world):
    other = generate_world(WorldConfig(n_lines=SMALL.n_lines, seed=SMALL.seed + 1))
    assert not small_world.history.equals(other.history)
    assert not np.allclose(
        small_world.truth["true_probability"].iloc[:50], other.truth["true_probability"].iloc[:50]
    )


# -- the contract ----------------------------------------------------------------------------------
def test_small_world_follows_the_contract(small_world):
    assert len(small_world.history) > 200
    check_contract(small_world, SMALL)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), n_lines=st.integers(1, 300))
def test_any_seed_follows_the_contract(seed, n_lines):
    config = WorldConfig(seed=seed, n_lines=n_lines)
    check_contract(generate_world(config), config)


def test_lines_are_consistent_across_their_rows(small_world):
    history = small_world.history
    for column in ("policing_area", "line_type", "origin_hub", "commodity", "ocg_linked"):
        assert (history.groupby("line_id")[column].nunique() == 1).all(), column
    assert (history.groupby("line_id")[GROUP].nunique() <= 1).all()  # a line keeps its group
    by_line = history.sort_values(["line_id", "disruption_date"])
    same_line = by_line["line_id"].eq(by_line["line_id"].shift())
    step = by_line[same_line]
    previous = by_line.shift()[same_line]
    # Rows of a line inside the history are its consecutive disruptions.
    assert (step["prior_disruptions"] == previous["prior_disruptions"] + 1).all()
    days = (step["disruption_date"] - previous["disruption_date"]).dt.days
    assert np.allclose(step["weeks_since_last_disruption"], np.round(days / 7, 1))
    assert (step["line_age_weeks"] >= previous["line_age_weeks"]).all()
    # A line that does not persist ends: only a line's last row can be a non-persistence.
    assert previous["persisted_12w"].all()
    # History counts are as of the disruption date: never fewer than the line's earlier rows.
    earlier = by_line.groupby("line_id").cumcount()
    assert (by_line["prior_disruptions"] >= earlier).all()


def test_weekly_extracts_cover_every_iso_week_of_the_history(small_world):
    config = SMALL
    weeks = list(small_world.weekly)
    assert weeks == sorted(weeks) and len(weeks) == config.n_weeks == 156
    assert weeks[0] == "2023-W48" and weeks[-1] == "2026-W47"  # start_date's and end_date's weeks
    mondays = [week_monday(w) for w in weeks]
    assert all(b - a == pd.Timedelta(days=7) for a, b in zip(mondays, mondays[1:]))  # no gap
    horizon = pd.Timedelta(weeks=config.horizon_weeks)
    for week, frame in small_world.weekly.items():
        assert LABEL not in frame.columns
        as_of = min(week_monday(week) + pd.Timedelta(days=6), config.end_day)
        assert small_world.weekly.as_of(week) == as_of
        dates = frame["disruption_date"]
        assert ((dates > as_of - horizon) & (dates <= as_of)).all(), week  # open: outcome unknown
    latest = small_world.weekly["2026-W47"]
    assert latest["disruption_id"].size and not set(latest["disruption_id"]) & set(
        small_world.history["disruption_id"]
    )
    # Every labelled disruption appears in the weekly extracts (each week it was open).
    seen = set().union(*(set(f["disruption_id"]) for f in small_world.weekly.values()))
    assert set(small_world.history["disruption_id"]) <= seen


def test_a_number_of_weekly_weeks_exports_the_latest_weeks_unchanged(small_world):
    four = generate_world(
        WorldConfig(n_lines=SMALL.n_lines, seed=SMALL.seed, weekly_extract_weeks=4)
    )
    assert list(four.weekly) == list(small_world.weekly)[-4:]
    assert_frame_equal(four.history, small_world.history)
    for week in four.weekly:  # the recording draws do not depend on how many weeks are exported
        assert_frame_equal(four.weekly[week], small_world.weekly[week])


def test_history_holds_exactly_the_disruptions_whose_outcome_is_known(small_world):
    config = SMALL
    known_by = config.end_day - pd.Timedelta(weeks=config.horizon_weeks)
    assert (small_world.history["disruption_date"] <= known_by).all()
    truth_ids = set(small_world.truth["disruption_id"])
    latest = set(small_world.weekly["2026-W47"]["disruption_id"])
    # Every simulated disruption from start_date on is either labelled history or open this week.
    assert truth_ids == set(small_world.history["disruption_id"]) | latest


def _appearances(world: SyntheticWorld) -> pd.DataFrame:
    return pd.concat(
        [frame.assign(week=week) for week, frame in world.weekly.items()], ignore_index=True
    )


def test_consecutive_extracts_share_open_disruptions(small_world):
    weeks = list(small_world.weekly)
    kept = held = 0
    for before, after in zip(weeks, weeks[1:]):
        a, b = small_world.weekly[before], small_world.weekly[after]
        shared = a.merge(b, on="disruption_id", suffixes=("", "_next"))
        kept, held = kept + len(shared), held + len(a)
        assert (shared["line_id"] == shared["line_id_next"]).all()
        assert (shared["disruption_date"] == shared["disruption_date_next"]).all()
    assert kept >= 0.85 * held  # most stay open a week later (11 of the 12 weeks they are open)


LONG = WorldConfig(n_lines=800, seed=4, weekly_extract_weeks=20)


@pytest.fixture(scope="module")
def long_world() -> SyntheticWorld:
    """Twenty consecutive weekly extracts: longer than any disruption stays open."""
    return generate_world(LONG)


def test_a_disruption_is_open_in_horizon_weeks_consecutive_extracts(long_world):
    config, world = LONG, long_world
    weeks = list(world.weekly)
    seen = _appearances(world).assign(position=lambda f: f["week"].map(weeks.index))
    spans = seen.groupby("disruption_id")["position"].agg(["min", "max", "size"])
    assert (spans["size"] <= config.horizon_weeks).all()
    assert (spans["max"] - spans["min"] + 1 == spans["size"]).all()  # consecutive, no gaps
    inside = (spans["min"] > 0) & (spans["max"] < len(weeks) - 1)
    assert inside.any() and (spans.loc[inside, "size"] == config.horizon_weeks).all()


def test_package_fields_accrue_and_the_line_profile_stays_fixed(small_world):
    seen = _appearances(small_world).sort_values(["disruption_id", "week"])
    same = seen["disruption_id"].eq(seen["disruption_id"].shift())
    now, before = seen[same], seen.shift()[same]
    grown = {}
    for column in ACCRUING_COLUMNS:
        if column == "closure_type":
            assert ((before[column] == now[column]) | (before[column] == "none")).all()
            continue
        assert (now[column].astype(float) >= before[column].astype(float)).all(), column
        grown[column] = (now[column].astype(float) > before[column].astype(float)).sum()
    assert sum(grown.values()) > 0
    fixed = [c for c in COLUMNS[:-1] if c not in ACCRUING_COLUMNS]
    assert_frame_equal(
        now[fixed].reset_index(drop=True), before[fixed].reset_index(drop=True), check_dtype=False
    )


def test_the_last_extract_of_a_disruption_shows_its_final_package(long_world):
    world = long_world
    seen = _appearances(world).sort_values("week").groupby("disruption_id").tail(1)
    last = seen[seen["week"] != list(world.weekly)[-1]].set_index(
        "disruption_id"
    )  # outcome now known
    history = world.history.set_index("disruption_id").loc[last.index]
    assert len(last) > 50
    for column in ACCRUING_COLUMNS:
        assert (last[column] == history[column]).all(), column
    # ... while a fresh disruption usually has less on record than it will have.
    first = (
        _appearances(world)
        .sort_values("week")
        .groupby("disruption_id")
        .head(1)
        .set_index("disruption_id")
    )
    first = first.loc[first.index.intersection(history.index)]
    assert first["ancillary_orders"].sum() < history.loc[first.index, "ancillary_orders"].sum()


def test_every_weekly_extract_passes_the_data_contract(small_world):
    validate_weekly(small_world, SMALL)
    for week in list(small_world.weekly)[-2:]:  # and two whole files as they are
        validate_frame(small_world.weekly[week], CONTRACT, source=week, today=SMALL.end_day)


def test_truth_has_one_row_per_disruption_and_adds_up(small_world):
    truth = small_world.truth
    ids = pd.concat(
        [
            small_world.history["disruption_id"],
            *(f["disruption_id"] for f in small_world.weekly.values()),
        ]
    )
    assert truth["disruption_id"].is_unique
    assert set(truth["disruption_id"]) == set(ids)
    expected = ["disruption_id", "true_probability", "term_intercept"] + [
        f"term_{t}" for t in TRUE_TERMS
    ]
    assert list(truth.columns) == expected
    log_odds = truth.filter(like="term_").sum(axis=1)
    assert np.allclose(truth["true_probability"], 1 / (1 + np.exp(-log_odds)))
    assert (truth["term_area_miscalibration"] == 0).all()  # off by default


def test_public_constants_describe_the_mechanism():
    read = {column for columns in TRUE_TERMS.values() for column in columns}
    assert read <= set(COLUMNS) - {LABEL}
    assert sum(len(columns) >= 2 for columns in TRUE_TERMS.values()) >= 2  # interactions
    assert len(NO_EFFECT_FEATURES) >= 3
    assert set(NO_EFFECT_FEATURES) <= set(FEATURE_COLUMNS)
    assert not set(NO_EFFECT_FEATURES) & read
    # Every feature is classified; origin_hub is neither: "local" is line_type itself.
    assert set(FEATURE_COLUMNS) - set(NO_EFFECT_FEATURES) - read == {"origin_hub"}
    assert set(MONOTONE_DRIVERS) <= read and set(MONOTONE_DRIVERS.values()) <= {-1, 1}


def test_monotone_drivers_move_the_true_log_odds_their_way(default_world):
    history = default_world.history
    truth = default_world.truth.set_index("disruption_id").loc[history["disruption_id"]]
    for column, sign in MONOTONE_DRIVERS.items():
        terms = [f"term_{t}" for t, columns in TRUE_TERMS.items() if column in columns]
        effect = truth[terms].sum(axis=1).to_numpy()
        values = history[column].astype(float).to_numpy()
        means = pd.Series(effect).groupby(values).agg(["mean", "size"])
        means = means[means["size"] >= 50]["mean"]
        assert len(means) >= 2, column
        steps = np.diff(means.to_numpy()) * sign
        assert (steps >= 0).all() and steps.sum() > 0, column  # capped terms may level off


# -- realism of the default world -----------------------------------------------------------------
def test_default_world_is_realistic(default_world):
    history = default_world.history
    truth = default_world.truth.set_index("disruption_id").loc[history["disruption_id"]]
    assert 40_000 <= len(history) <= 70_000
    assert 0.30 <= history[LABEL].mean() <= 0.70
    auc = roc_auc_score(history[LABEL], truth["true_probability"])
    assert 0.75 <= auc <= 0.90
    home_grown = history["line_type"].eq("home_grown")
    dates = history["disruption_date"]
    first_year = dates < dates.min() + pd.Timedelta(days=365)
    last_year = dates > dates.max() - pd.Timedelta(days=365)
    assert home_grown[last_year].mean() > home_grown[first_year].mean() + 0.05
    assert history["policing_area"].nunique() == 12
    assert history["contacts"].quantile(0.05) >= 10 and history["contacts"].quantile(0.95) >= 1_000
    assert history["bulk_texts_per_day"].max() >= 60
    weekly_rows = sum(len(frame) for frame in default_world.weekly.values())
    assert weekly_rows > 4 * 100


# -- test knobs ------------------------------------------------------------------------------------
def test_covariate_shift_moves_weekly_features_only():
    # the latest 4 weeks: the shift moves the disruptions whose outcome is not yet known
    base = generate_world(WorldConfig(n_lines=3_000, seed=5, weekly_extract_weeks=4))
    shifted = generate_world(
        WorldConfig(n_lines=3_000, seed=5, covariate_shift=1.0, weekly_extract_weeks=4)
    )
    assert_frame_equal(base.history, shifted.history)
    before = pd.concat(base.weekly.values())
    after = pd.concat(shifted.weekly.values())
    assert after["contacts"].mean() > 1.3 * before["contacts"].mean()
    assert after["bulk_texts_per_day"].mean() > 1.3 * before["bulk_texts_per_day"].mean()
    assert after["holder_arrested"].mean() < before["holder_arrested"].mean()
    assert after["line_type"].eq("home_grown").mean() > before["line_type"].eq("home_grown").mean()
    assert set(after["disruption_id"]) <= set(shifted.truth["disruption_id"])
    check_contract(shifted, shifted.config)


def test_miscalibrated_area_raises_its_late_rate():
    area = "Northmere"
    config = WorldConfig(
        n_lines=6_000, seed=3, miscalibrated_area=area, miscalibration_log_odds=1.5
    )
    base = generate_world(WorldConfig(n_lines=6_000, seed=3)).history
    world = generate_world(config)
    history = world.history

    def late_rate(frame: pd.DataFrame) -> float:
        return frame.loc[_late(frame, config) & frame["policing_area"].eq(area), LABEL].mean()

    assert late_rate(history) > late_rate(base) + 0.1
    truth = world.truth.set_index("disruption_id").loc[history["disruption_id"]]
    hit = (_late(history, config) & history["policing_area"].eq(area)).to_numpy()
    assert np.allclose(truth["term_area_miscalibration"].to_numpy()[hit], 1.5)
    assert (truth["term_area_miscalibration"].to_numpy()[~hit] == 0).all()


# -- worlds with other true mechanisms ---------------------------------------------------------------
PRESETS = ("protect_driven", "pursue_driven", "sparse")  # other true mechanisms
# the default mechanism, recorded faster or slower, or with tactics assigned with confounding
RECORDING_PRESETS = ("delays_half", "delays_double")
TACTICS_PRESETS = ("confounded", "confounded_passenger", "confounded_hidden")
ALL_PRESETS = (*PRESETS, *RECORDING_PRESETS, *TACTICS_PRESETS)


@pytest.fixture(scope="module", params=PRESETS)
def preset_world(request) -> tuple[WorldConfig, SyntheticWorld]:
    config = load_world_config(request.param, n_lines=1_500, seed=8)
    return config, generate_world(config)


def _log_odds(frame: pd.DataFrame, config: WorldConfig, line_effect: np.ndarray) -> np.ndarray:
    return true_terms(frame, config, line_effect).sum(axis=1).to_numpy()


def test_presets_generate_worlds_that_follow_the_contract(preset_world):
    config, world = preset_world
    check_contract(world, config)
    validate_frame(world.history, CONTRACT, require_label=True, today=config.end_day)
    validate_weekly(world, config)
    assert 0.3 <= world.history[LABEL].mean() <= 0.6


@pytest.mark.parametrize("name", (*RECORDING_PRESETS, *TACTICS_PRESETS))
def test_recording_and_tactics_presets_follow_the_contract(name):
    config = load_world_config(name, n_lines=1_000, seed=8)
    world = generate_world(config)
    check_contract(world, config)
    validate_frame(world.history, CONTRACT, require_label=True, today=config.end_day)
    validate_weekly(world, config)
    assert 0.35 <= world.history[LABEL].mean() <= 0.55
    assert true_drivers(config) <= true_drivers(WorldConfig())  # the default mechanism (or less)


def test_true_terms_recompute_the_truth_from_the_extract(preset_world):
    config, world = preset_world
    truth = (
        world.truth.set_index("disruption_id")
        .loc[world.history["disruption_id"]]
        .reset_index(drop=True)
    )
    terms = true_terms(world.history, config, truth["term_line_random_effect"].to_numpy())
    assert_frame_equal(terms, truth[terms.columns], check_exact=False, rtol=1e-12)
    extras = {f"term_{e.name}" for e in config.extra_effects}
    assert extras and extras <= set(world.truth.columns)


def test_recorded_drivers_match_the_mechanism(preset_world):
    config, world = preset_world
    history = world.history
    effect = (
        world.truth.set_index("disruption_id")
        .loc[history["disruption_id"], "term_line_random_effect"]
        .to_numpy()
    )
    base = _log_odds(history, config, effect)
    rng = np.random.default_rng(0)
    drivers, nil = true_drivers(config), no_effect_features(config)
    assert set(drivers) | set(nil) | {"origin_hub"} >= set(FEATURE_COLUMNS)
    for column in FEATURE_COLUMNS:
        shuffled = history.copy()
        shuffled[column] = history[column].to_numpy()[rng.permutation(len(history))]
        moved = np.abs(_log_odds(shuffled, config, effect) - base).max()
        if column in nil:
            assert moved == 0, f"{column} is recorded as having no effect but moves the truth"
        elif column in drivers:
            assert moved > 0.01, f"{column} is recorded as a driver but does not move the truth"


def test_every_preset_file_is_tested_and_documented():
    folder = ROOT / "configs" / "world"
    assert set(ALL_PRESETS) == {p.stem for p in folder.glob("*.yaml")} - {"default"}
    readme = (ROOT / "data" / "synthetic" / "README.md").read_text(encoding="utf-8")
    for name in ALL_PRESETS:
        assert f"`{name}`" in readme, name
        text = (folder / f"{name}.yaml").read_text(encoding="utf-8")
        keys = set(yaml.safe_load(text)) - {"defaults"}
        assert keys <= {f.name for f in fields(WorldConfig)}, name
        load_world_config(name)  # it loads
        for line in text.splitlines():
            if line and not line.startswith((" ", "#", "defaults")) and ":" in line:
                assert "#" in line, f"{name}: uncommented key: {line}"


def test_presets_differ_materially_from_the_default_and_each_other():
    default = WorldConfig()
    configs = {name: load_world_config(name) for name in PRESETS}
    base_nil = set(no_effect_features(default))
    for name, config in configs.items():
        drivers = true_drivers(config)
        assert len(drivers & base_nil) >= 2, f"{name}: no-effect columns of the default drive it"
        assert len(true_drivers(default) - drivers) >= 2, f"{name}: default drivers have no effect"
        assert set(mechanism_summary(config)["terms"]) != set(mechanism_summary(default)["terms"])
    drivers = [true_drivers(c) for c in configs.values()]
    assert len({frozenset(d) for d in drivers}) == len(drivers)


def test_default_world_drivers_agree_with_the_public_constants():
    default = WorldConfig()
    read = {c for columns in TRUE_TERMS.values() for c in columns}
    assert true_drivers(default) == read - {"policing_area"}  # the area term is off by default
    assert set(no_effect_features(default)) == set(NO_EFFECT_FEATURES) | {"policing_area"}
    assert mechanism_summary(default)["proxies"] == {"origin_hub": "line_type"}
    assert "policing_area" in true_drivers(WorldConfig(miscalibrated_area="Northmere"))


@pytest.mark.parametrize(
    "change, column, drives",
    [
        ({"effect_log_contacts": 0.0}, "contacts", False),
        (
            {
                "effect_holder_imported": -1.0,
                "effect_holder_home_grown": -1.0,
                "drift_strength": 0.0,
                "home_grown_effect_start": 0.0,
            },
            "line_type",
            False,
        ),
        ({"ddtro_decay_per_number": 1.0, "effect_log_deal_numbers": 0.0}, "deal_numbers", False),
        (
            {"extra_effects": [{"column": "cash_seized_gbp", "effect": -0.2}]},
            "cash_seized_gbp",
            True,
        ),
        (
            {"extra_effects": [{"column": "commodity", "level": "crack", "effect": 0.4}]},
            "commodity",
            True,
        ),
        (
            {"extra_effects": [{"column": "ddtro", "times": "violence_12m", "effect": 0.4}]},
            "violence_12m",
            True,
        ),
    ],
)
def test_overrides_change_which_columns_drive_persistence(change, column, drives):
    assert (column in true_drivers(WorldConfig(**change))) is drives


@pytest.mark.parametrize(
    "bad",
    [
        [{"column": "no_such_column", "effect": 1.0}],
        [{"column": "commodity", "effect": 1.0}],  # a category needs a level
        [{"column": "commodity", "level": "tea", "effect": 1.0}],
        [{"column": "contacts", "level": "many", "effect": 1.0}],
        [{"column": "contacts", "times": "commodity", "effect": 1.0}],
        [{"column": "contacts"}],
        [{"column": "contacts", "effect": "lots"}],
        [{"column": "contacts", "effect": 1.0, "colour": "red"}],
        ["contacts"],
        [{"column": "contacts", "effect": 1.0}, {"column": "contacts", "effect": 2.0}],
    ],
)
def test_bad_extra_effects_are_refused(bad):
    with pytest.raises(Exception, match="world config: extra_effects"):
        WorldConfig(extra_effects=bad)


def test_extra_effects_round_trip_through_yaml_shape():
    config = load_world_config("pursue_driven")
    assert WorldConfig(**config.to_dict()) == config
    assert all(isinstance(e, ExtraEffect) for e in config.extra_effects)
    assert hash(config) == hash(WorldConfig(**config.to_dict()))


def test_generate_command_selects_a_preset_and_records_the_mechanism(tmp_path):
    from conftest import run_command

    out = tmp_path / "world"
    result = run_command(
        "resilience-generate", "world=sparse", "world.n_lines=300", f"out_dir={out}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((out / "world.json").read_text())
    expected = load_world_config("sparse", n_lines=300)
    assert record["mechanism"] == json.loads(json.dumps(mechanism_summary(expected)))
    config = {k: v for k, v in record.items() if k not in ("mechanism", "recording")}
    assert WorldConfig(**config) == expected
    assert record["recording"]["weeks"] == len(list((out / "weekly").glob("*.parquet")))
    assert "line_age_weeks" in record["mechanism"]["true_drivers"]
    assert "runners" in record["mechanism"]["no_effect_features"]


def test_generate_refuses_a_data_config_whose_columns_the_world_does_not_write(tmp_path):
    """``data=example_force`` (a force's own column names) cannot check the simulator's world: one
    line saying so and what to do, before anything is generated or written."""
    from conftest import run_command

    out = tmp_path / "world"
    result = run_command(
        "resilience-generate",
        "data=example_force",
        "world.n_lines=300",
        f"out_dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and not out.exists()
    assert (
        "columns the simulator does not write" in result.stderr and "data=default" in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1


# -- config ----------------------------------------------------------------------------------------
def test_yaml_mirrors_the_dataclass_and_every_key_is_commented():
    path = ROOT / "configs" / "world" / "default.yaml"
    mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(mapping) == {f.name for f in fields(WorldConfig)}
    assert WorldConfig(**mapping) == WorldConfig()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")) and ":" in line:
            assert "#" in line, f"uncommented key: {line}"


@pytest.mark.parametrize(
    "bad",
    [
        {"n_lines": 0},
        {"weekly_extract_weeks": 0},
        {"weekly_extract_weeks": 157},  # the world has 156 ISO weeks
        {"weekly_extract_weeks": "some"},
        {"recording_delay_scale": -1},
        {"recording_delays": {"no_such_field": {"last": 3}}},
        {"recording_delays": {"ddtro": {"first": 9, "last": 3}}},
        {"recording_delays": {"ddtro": {"on_day": 2.0}}},
        {"recording_delays": {"ddtro": {"slowly": 1}}},
        {"recording_delays": {"ddtro": 7}},
        {"ocg_group_max_size": 0},
        {"ancillary_charge_link": 1.5},
        {"conviction_orders_rate": -0.1},
        {"miscalibrated_area": "Nowhere"},
        {"home_grown_share_end": 1.5},
        {"area_weights": [1.0, 2.0]},
        {"end_date": "2023-12-01"},
        {"start_date": "not a date"},
    ],
)
def test_bad_config_is_refused(bad):
    with pytest.raises(Exception, match="world config"):
        WorldConfig(**bad)


def test_unknown_keys_are_refused_by_name():
    with pytest.raises(Exception, match="world config: unknown key.*colour"):
        WorldConfig.from_mapping({"n_lines": 5, "colour": "red"})
    with pytest.raises(Exception, match="world config: no file"):
        load_world_config("no_such_world")


def test_config_accepts_yaml_lists_and_stays_hashable():
    config = WorldConfig(policing_areas=["A", "B"], area_weights=[1, 1])
    assert config.policing_areas == ("A", "B") and hash(config) == hash(
        WorldConfig(**config.to_dict())
    )


# -- writing ---------------------------------------------------------------------------------------
def test_write_world_round_trips(small_world, tmp_path):
    paths = write_world(small_world, tmp_path)
    assert paths[0] == tmp_path / "disruptions.parquet" and paths[-2] == tmp_path / "truth.parquet"
    assert json.loads(paths[-1].read_text())["mechanism"] == mechanism_summary(SMALL)
    assert sorted(p.stem for p in (tmp_path / "weekly").glob("*.parquet")) == sorted(
        small_world.weekly
    )
    assert_frame_equal(pd.read_parquet(paths[0]), small_world.history)
    assert_frame_equal(pd.read_parquet(paths[-2]), small_world.truth)
    week = sorted(small_world.weekly)[0]
    assert_frame_equal(
        pd.read_parquet(tmp_path / "weekly" / f"{week}.parquet"), small_world.weekly[week]
    )


def test_write_world_removes_weekly_files_of_an_older_world(small_world, tmp_path):
    stale = tmp_path / "weekly" / "2019-W01.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    write_world(small_world, tmp_path)
    assert not stale.exists()


def test_write_world_is_atomic(small_world, tmp_path, monkeypatch):
    write_world(small_world, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    real_writer = synthetic_write._write_parquet
    calls = []

    def failing_writer(frame, path):
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_bytes(b"half a file")
            raise OSError("disk full")
        real_writer(frame, path)

    monkeypatch.setattr(synthetic_write, "_write_parquet", failing_writer)
    other = generate_world(WorldConfig(n_lines=400, seed=99))
    with pytest.raises(OSError, match="disk full"):
        write_world(other, tmp_path)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # no temp file left, nothing replaced

    fresh = tmp_path / "fresh"
    calls.clear()
    with pytest.raises(OSError):
        write_world(other, fresh)
    assert not [p for p in fresh.rglob("*") if p.is_file()]


def test_a_world_with_no_disruptions_is_still_well_formed(tmp_path):
    config = WorldConfig(n_lines=1, seed=0)
    world = generate_world(config)
    assert world.truth.empty
    assert list(world.history.columns) == list(COLUMNS)
    assert world.history["contacts"].dtype == np.int64
    assert len(write_world(world, tmp_path)) == 3 + len(world.weekly)


# -- learnability ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_gradient_boosting_gets_close_to_the_oracle():
    lightgbm = pytest.importorskip("lightgbm")
    world = generate_world(WorldConfig(n_lines=120_000, seed=2))
    history = world.history
    truth = world.truth.set_index("disruption_id").loc[history["disruption_id"], "true_probability"]
    features = history[list(FEATURE_COLUMNS)].copy()
    for column in features.columns:
        if pd.api.types.is_string_dtype(features[column]):
            features[column] = features[column].astype("category")
    dates = history["disruption_date"]
    elapsed = (dates - dates.min()) / (dates.max() - dates.min())
    train, test = (elapsed <= 0.7).to_numpy(), (elapsed >= 0.8).to_numpy()
    label = history[LABEL].to_numpy()
    model = lightgbm.LGBMClassifier(
        n_estimators=200,
        learning_rate=0.05,
        min_child_samples=50,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        verbose=-1,
        n_jobs=1,
        random_state=0,
    )
    model.fit(features[train], label[train])
    model_auc = roc_auc_score(label[test], model.predict_proba(features[test])[:, 1])
    oracle_auc = roc_auc_score(label[test], truth.to_numpy()[test])
    assert oracle_auc - model_auc < 0.02


# -- one place for the columns ---------------------------------------------------------------------
def test_the_simulator_refuses_a_contract_it_cannot_follow():
    from resilience.core.errors import ConfigError
    from resilience.data.contract import DataContract
    from resilience.data.synthetic.columns import check_levels
    from resilience.data.synthetic.config import category_levels

    check_levels(
        category_levels(SMALL), CONTRACT
    )  # the default contract takes every level it writes
    mapping = CONTRACT.to_dict()
    mapping["columns"]["commodity"]["allowed"] = ["heroin_crack", "crack", "heroin", "cocaine"]
    with pytest.raises(ConfigError, match="commodity.*cannabis"):
        check_levels(category_levels(SMALL), DataContract.from_dict(mapping))
