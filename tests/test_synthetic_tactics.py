"""The synthetic world's tactics: confounded assignment, the truth of each tactic's effect
(total, with and without it, from the world's own mechanism) and organised crime group ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from resilience.core.errors import ConfigError
from resilience.data.contract import load_data_contract
from resilience.data.synthetic import (
    LABEL,
    WORLD_TACTICS,
    SyntheticWorld,
    WorldConfig,
    generate_world,
    load_world_config,
    tactic_effect_truth,
    tactic_effects,
    write_world,
)
from resilience.data.synthetic.package import Replay, package, recorded_strength
from resilience.data.synthetic.tactics import _Population, _positions

CONTRACT = load_data_contract("default")
SIZE = {"n_lines": 8_000, "seed": 1}


@pytest.fixture(scope="module")
def default_world() -> SyntheticWorld:
    return generate_world(WorldConfig(n_lines=3_000, seed=4))


@pytest.fixture(scope="module")
def worlds() -> dict[str, SyntheticWorld]:
    names = ("confounded", "confounded_passenger", "confounded_hidden")
    return {name: generate_world(load_world_config(name, **SIZE)) for name in names}


def effects(world: SyntheticWorld) -> pd.DataFrame:
    table = tactic_effects(world)
    return table[table["cohort"] == "all"].set_index("tactic")


# -- the truth function -----------------------------------------------------------------------------
def test_the_world_tactics_are_the_contract_tactics_and_safeguarding_is_not_one():
    assert set(WORLD_TACTICS) == set(CONTRACT.tactics)
    assert "safeguarding_referrals" not in CONTRACT.tactics
    with pytest.raises(ConfigError, match="duty, not a tactic"):
        tactic_effect_truth(generate_world(WorldConfig(n_lines=200)), "safeguarding_referrals")


def test_replaying_the_package_without_intervention_is_the_world(default_world):
    population = _Population(default_world, _positions(default_world, None))
    factual, _ = population.replay()
    truth = default_world.truth.set_index("disruption_id").loc[
        default_world.history["disruption_id"], "true_probability"
    ]
    assert np.array_equal(population.probability(factual), truth.to_numpy())
    history = default_world.history
    for key, column in (("closure", "closure_type"), ("grade", "disruption_grade")):
        codes = pd.Categorical(history[column], categories=CONTRACT.column(column).allowed)
        assert len(codes) == len(factual[key])
    for column in ("holder_arrested", "runners_arrested", "handsets_seized", "ddtro"):
        assert np.array_equal(np.asarray(factual[column]), history[column].to_numpy()), column
    assert np.allclose(factual["drugs_seized_gbp"], history["drugs_seized_gbp"])


def test_truth_rows_hold_with_without_and_the_effect_in_points(default_world):
    ids = default_world.history["disruption_id"].iloc[::7].tolist()
    truth = tactic_effect_truth(default_world, "holder_arrested", ids)
    assert truth["disruption_id"].tolist() == ids
    assert list(truth.columns) == [
        "disruption_id",
        "given",
        "propensity",
        "probability_with",
        "probability_without",
        "effect_points",
    ]
    assert np.allclose(
        truth["effect_points"], 100 * (truth["probability_with"] - truth["probability_without"])
    )
    history = default_world.history.set_index("disruption_id").loc[ids]
    assert (truth["given"].to_numpy() == history["holder_arrested"].to_numpy()).all()
    assert truth["propensity"].between(0, 1).all()
    # The observed probability is the one of the package that was given.
    observed = np.where(truth["given"], truth["probability_with"], truth["probability_without"])
    expected = default_world.truth.set_index("disruption_id").loc[ids, "true_probability"]
    assert np.allclose(observed, expected.to_numpy())
    with pytest.raises(ConfigError, match="not disruptions of this world"):
        tactic_effect_truth(default_world, "ddtro", ["SYN-D9999999"])


def test_every_tactic_lowers_persistence_and_handsets_do_nothing(default_world):
    for tactic in WORLD_TACTICS:
        effect = tactic_effect_truth(default_world, tactic)["effect_points"]
        if tactic == "handsets_seized":  # no effect of its own, and nothing follows from it
            assert (effect == 0).all()
        else:
            assert (effect <= 1e-9).all() and effect.mean() < -1, tactic


def test_a_count_tactic_compares_any_with_none(default_world):
    population = _Population(default_world, _positions(default_world, None))
    factual, _ = population.replay()
    with_it, draws = population.replay("runners_arrested", "with")
    without, _ = population.replay("runners_arrested", "without")
    assert (without["runners_arrested"] == 0).all() and (with_it["runners_arrested"] >= 1).all()
    given = factual["runners_arrested"] >= 1
    assert np.array_equal(with_it["runners_arrested"][given], factual["runners_arrested"][given])
    runners = default_world.history["runners"].to_numpy()
    assert np.allclose(draws.propensity[runners == 0], 0)  # nobody to arrest: never given


def test_the_effect_is_total_downstream_tactics_follow_upstream_ones_do_not(default_world):
    population = _Population(default_world, _positions(default_world, None))
    factual, _ = population.replay()
    with_it, _ = population.replay("holder_arrested", "with")
    without, _ = population.replay("holder_arrested", "without")
    # Upstream: unchanged.
    assert np.array_equal(with_it["sustained_operation"], factual["sustained_operation"])
    # Downstream: an arrest leads to a charge (type 1 closure) and more handsets and orders.
    assert (with_it["closure"] == 1).mean() > 0.85 and not (without["closure"] == 1).any()
    assert with_it["handsets_seized"].mean() > without["handsets_seized"].mean()
    assert with_it["ancillary_orders"].mean() > without["ancillary_orders"].mean()
    # So the total effect of the arrest is larger than the arrest's own term.
    total = tactic_effect_truth(default_world, "holder_arrested")["effect_points"].mean()
    direct_only = dict(without, holder_arrested=np.ones_like(without["holder_arrested"]))
    direct = 100 * (population.probability(direct_only) - population.probability(without)).mean()
    assert total < direct - 2


def test_the_contract_order_is_the_world_order_of_tactics(default_world):
    """A tactic changes only tactics the contract orders after it (never one before or level)."""
    population = _Population(default_world, _positions(default_world, None))
    key = {"closure_type": "closure"}
    for tactic in WORLD_TACTICS:
        with_it, _ = population.replay(tactic, "with")
        without, _ = population.replay(tactic, "without")
        for other in WORLD_TACTICS:
            if other == tactic:
                continue
            moved = not np.array_equal(
                with_it[key.get(other, other)], without[key.get(other, other)]
            )
            if moved:
                assert CONTRACT.tactic_order(other) > CONTRACT.tactic_order(tactic), (tactic, other)


# -- confounded assignment ------------------------------------------------------------------------
def test_no_confounding_by_default_leaves_the_world_as_it_was(default_world):
    again = generate_world(
        WorldConfig(n_lines=3_000, seed=4, assignment_strength=0.0, ancillary_charge_link=0.0)
    )
    assert_frame_equal(again.history, default_world.history)


def test_stronger_lines_get_heavier_packages(worlds, default_world):
    world = worlds["confounded"]
    history = world.history
    strength = recorded_strength(
        world.config,
        {c: history[c].to_numpy() for c in ("contacts", "ocg_linked", "linked_lines", "runners")},
    )
    strong = strength > np.median(strength)
    for tactic in ("holder_arrested", "ddtro", "sustained_operation"):
        assert history.loc[strong, tactic].mean() > history.loc[~strong, tactic].mean() + 0.05
    truth = tactic_effect_truth(world, "ddtro")
    assert np.corrcoef(truth["propensity"], strength)[0, 1] > 0.5


def test_naive_comparisons_miss_the_true_effect_on_confounded_worlds(worlds):
    confounded = effects(worlds["confounded"])
    gap = confounded["naive_points"] - confounded["true_points"]
    assert gap["ancillary_orders"] < -10  # orders come with arrests and strong lines' packages
    assert (gap.abs() > 2).sum() >= 4
    hidden = effects(worlds["confounded_hidden"])
    gap = hidden["naive_points"] - hidden["true_points"]
    assert gap["holder_arrested"] > 5  # arrests go to lines whose hidden character persists


def test_a_passenger_tactic_has_no_effect_but_looks_effective(worlds):
    passenger = effects(worlds["confounded_passenger"])
    assert passenger.loc["ancillary_orders", "true_points"] == 0  # no effect of its own ...
    assert (
        passenger.loc["ancillary_orders", "naive_points"] < -15
    )  # ... but travels with the charge
    truth = tactic_effect_truth(worlds["confounded_passenger"], "ancillary_orders")
    assert (truth["effect_points"] == 0).all()
    history = worlds["confounded_passenger"].history
    charged = history["closure_type"] == "type1"
    assert (
        history.loc[charged, "ancillary_orders"].mean()
        > 5 * history.loc[~charged, "ancillary_orders"].mean()
    )


def test_hidden_confounding_runs_through_the_unrecorded_line_effect(worlds):
    world = worlds["confounded_hidden"]
    truth = tactic_effect_truth(world, "holder_arrested")
    effect = world.truth.set_index("disruption_id").loc[
        truth["disruption_id"], "term_line_random_effect"
    ]
    assert np.corrcoef(truth["propensity"], effect)[0, 1] > 0.3
    plain = tactic_effect_truth(worlds["confounded"], "holder_arrested")
    plain_effect = (
        worlds["confounded"]
        .truth.set_index("disruption_id")
        .loc[plain["disruption_id"], "term_line_random_effect"]
    )
    assert abs(np.corrcoef(plain["propensity"], plain_effect)[0, 1]) < 0.1


def test_confounded_presets_write_the_truth_of_tactics(tmp_path):
    world = generate_world(load_world_config("confounded", n_lines=400, seed=2))
    paths = write_world(world, tmp_path)
    assert tmp_path / "tactics_truth.parquet" in paths
    table = pd.read_parquet(tmp_path / "tactics_truth.parquet")
    assert list(table["tactic"].unique()) == list(WORLD_TACTICS)
    assert len(table) == len(WORLD_TACTICS) * len(world.history)
    assert "effect_points" in table and LABEL not in table
    write_world(generate_world(WorldConfig(n_lines=400, seed=2)), tmp_path)
    assert not (tmp_path / "tactics_truth.parquet").exists()  # not this world's


def test_the_package_function_replays_any_subset(default_world):
    ids = default_world.history["disruption_id"].iloc[5:40]
    population = _Population(default_world, _positions(default_world, ids))
    replayed = package(
        default_world.config,
        population.inputs,
        population.shift,
        population.line_effect,
        Replay(population.noise),
    )
    assert np.array_equal(
        replayed["closure_orders"], default_world.history["closure_orders"].iloc[5:40].to_numpy()
    )


# -- organised crime groups -----------------------------------------------------------------------
def test_group_ids_only_on_linked_lines_stable_per_line_and_skewed(default_world):
    group = CONTRACT.group_column
    rows = pd.concat([default_world.history, *list(default_world.weekly.values())[-3:]])
    assert (rows[group].notna() == rows["ocg_linked"]).all()
    per_line = rows.groupby("line_id")[group].nunique(dropna=False)
    assert (per_line == 1).all()  # one group (or none) per line, in history and extracts alike
    lines = rows.drop_duplicates("line_id").dropna(subset=[group])
    sizes = lines.groupby(group).size()
    assert sizes.max() >= 5 and (sizes == 1).mean() > 0.3  # skewed: many small, a few large
    assert sizes.mean() < sizes.max() / 2
    # A group is run from one territory: one hub (imported) or one area (home-grown).
    territory = np.where(
        lines["line_type"] == "imported", lines["origin_hub"], lines["policing_area"]
    )
    assert (lines.assign(t=territory).groupby(group)["t"].nunique() == 1).all()


def test_group_ids_never_change_the_rest_of_the_world(default_world):
    other = generate_world(WorldConfig(n_lines=3_000, seed=4, ocg_group_size_power=0.5))
    group = CONTRACT.group_column
    assert_frame_equal(
        other.history.drop(columns=[group]), default_world.history.drop(columns=[group])
    )
    assert not other.history[group].equals(default_world.history[group])
