"""The synthetic world's records as they stood: weekly extracts over the whole history, recording
delays per field (and past the horizon), their scale, orders made on conviction, and the files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from resilience.data.contract import load_data_contract
from resilience.data.synthetic import (
    ACCRUING_COLUMNS,
    LABEL,
    RecordingDelays,
    SyntheticWorld,
    WorldConfig,
    generate_world,
    load_world_config,
    uncapped_fields,
    write_world,
)

CONTRACT = load_data_contract("default")
SMALL = WorldConfig(n_lines=500, seed=21)
COUNTS = [c for c in ACCRUING_COLUMNS if c != "closure_type"]


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return generate_world(SMALL)


def appearances(world: SyntheticWorld) -> pd.DataFrame:
    """Every row of every weekly extract, with its week's position and the record's age in weeks."""
    weeks = list(world.weekly)
    frames = [
        frame.assign(
            position=i,
            age_weeks=(world.weekly.as_of(week) - frame["disruption_date"]).dt.days // 7,
        )
        for i, (week, frame) in enumerate(world.weekly.items())
    ]
    assert len(frames) == len(weeks)
    return pd.concat(frames, ignore_index=True)


def last_appearance(world: SyntheticWorld) -> pd.DataFrame:
    """Each labelled disruption as the last weekly extract holding it recorded it."""
    seen = appearances(world).sort_values("position").groupby("disruption_id").tail(1)
    labelled = world.history["disruption_id"]
    return seen.set_index("disruption_id").loc[labelled]


def completeness(world: SyntheticWorld, age_weeks: int) -> float:
    """Share of (labelled disruption, accruing field) pairs whose record at this age is final."""
    seen = appearances(world)
    labelled = seen["disruption_id"].isin(world.history["disruption_id"])
    seen = seen[labelled & (seen["age_weeks"] == age_weeks)].set_index("disruption_id")
    final = world.history.set_index("disruption_id").loc[seen.index]
    return float(np.mean([(seen[c] == final[c]).mean() for c in ACCRUING_COLUMNS]))


def test_a_labelled_disruption_is_in_every_weekly_extract_of_the_weeks_it_is_open(world):
    seen = appearances(world)
    labelled = seen[seen["disruption_id"].isin(world.history["disruption_id"])]
    spans = labelled.groupby("disruption_id")["position"].agg(["min", "max", "size"])
    assert len(spans) == len(world.history)  # every labelled disruption, ...
    assert (spans["size"] == SMALL.horizon_weeks).all()  # ... in horizon_weeks extracts ...
    assert (spans["max"] - spans["min"] + 1 == spans["size"]).all()  # ... consecutive
    ages = labelled.groupby("disruption_id")["age_weeks"].agg(["min", "max"])
    assert (ages["min"] == 0).all() and (ages["max"] == SMALL.horizon_weeks - 1).all()


def test_the_package_never_falls_and_never_exceeds_the_final_one(world):
    seen = appearances(world).sort_values(["disruption_id", "position"])
    final = world.records.set_index("disruption_id").loc[seen["disruption_id"]]
    same = seen["disruption_id"].eq(seen["disruption_id"].shift()).to_numpy()
    now, before = seen[same], seen.shift()[same]
    for column in COUNTS:
        values = seen[column].astype(float).to_numpy()
        assert (values <= final[column].astype(float).to_numpy() + 1e-9).all(), column
        assert (now[column].astype(float) >= before[column].astype(float)).all(), column
    recorded = seen["closure_type"].to_numpy()
    assert ((recorded == "none") | (recorded == final["closure_type"].to_numpy())).all()
    assert (
        (before["closure_type"] == now["closure_type"]) | (before["closure_type"] == "none")
    ).all()


def test_default_delays_end_within_the_horizon_so_the_last_extract_is_final(world):
    assert uncapped_fields(SMALL) == ()
    last = last_appearance(world)
    final = world.history.set_index("disruption_id")
    for column in ACCRUING_COLUMNS:
        assert (last[column] == final[column]).all(), column


def test_delays_longer_than_the_horizon_can_leave_the_last_extract_incomplete():
    config = load_world_config("delays_double", n_lines=SMALL.n_lines, seed=SMALL.seed)
    assert "safeguarding_referrals" in uncapped_fields(config)
    assert config.recording_delay_scale * config.recording_delays.safeguarding_referrals.last > 84
    world = generate_world(config)
    last = last_appearance(world)
    final = world.history.set_index("disruption_id")
    short = (last["safeguarding_referrals"] < final["safeguarding_referrals"]).sum()
    assert short > 0  # some referrals are recorded only after the disruption left the extracts
    assert (last["safeguarding_referrals"] <= final["safeguarding_referrals"]).all()
    # A field whose delays stay within the horizon is still complete in the last extract.
    assert "closure_orders" not in uncapped_fields(config)
    assert (last["closure_orders"] == final["closure_orders"]).all()


def test_the_delay_scale_changes_how_complete_fresh_records_are_not_the_world(world):
    half = generate_world(
        WorldConfig(n_lines=SMALL.n_lines, seed=SMALL.seed, recording_delay_scale=0.5)
    )
    double = generate_world(
        WorldConfig(n_lines=SMALL.n_lines, seed=SMALL.seed, recording_delay_scale=2.0)
    )
    fresh = [completeness(w, 0) for w in (half, world, double)]
    assert fresh[0] > fresh[1] > fresh[2]
    a_month = [completeness(w, 4) for w in (half, world, double)]
    assert a_month[0] > a_month[1] > a_month[2]
    # Delays are about recording, not events: the history and the truth are the same world.
    for other in (half, double):
        assert_frame_equal(other.history, world.history)
        assert_frame_equal(other.truth, world.truth)


def test_recording_delays_are_configurable_per_field():
    base = WorldConfig(n_lines=SMALL.n_lines, seed=SMALL.seed)
    instant = WorldConfig(
        n_lines=SMALL.n_lines,
        seed=SMALL.seed,
        recording_delays={"ancillary_orders": {"on_day": 1.0}},
    )
    assert instant.recording_delays.ancillary_orders.on_day == 1.0
    assert instant.recording_delays.ddtro == RecordingDelays().ddtro  # the others keep defaults
    assert WorldConfig(**instant.to_dict()) == instant
    seen = appearances(generate_world(instant))
    seen = seen[seen["age_weeks"] == 0].set_index("disruption_id")
    final = generate_world(base).records.set_index("disruption_id").loc[seen.index]
    assert len(seen) > 100
    assert (seen["ancillary_orders"] == final["ancillary_orders"]).all()  # on record on the day
    assert (seen["ddtro"].astype(int) < final["ddtro"].astype(int)).any()  # still takes weeks


def test_orders_on_conviction_leak_the_outcome_only_into_final_records(world):
    config = WorldConfig(n_lines=SMALL.n_lines, seed=SMALL.seed, conviction_orders_rate=1.0)
    leaky = generate_world(config)
    assert_frame_equal(leaky.truth, world.truth)  # the truth was drawn before them
    assert_frame_equal(
        leaky.history.drop(columns=["ancillary_orders"]),
        world.history.drop(columns=["ancillary_orders"]),
    )
    extra = leaky.history["ancillary_orders"] - world.history["ancillary_orders"]
    assert (extra >= 0).all() and extra.sum() > 0
    on_conviction = extra > 0
    assert not leaky.history.loc[on_conviction, LABEL].any()  # only lines that folded
    assert (leaky.history.loc[on_conviction, "closure_type"] == "type1").all()  # once charged
    # No weekly extract ever holds them: they are recorded after the outcome is known.
    assert "ancillary_orders" in uncapped_fields(config)
    last = last_appearance(leaky)
    assert_frame_equal(last[["ancillary_orders"]], last_appearance(world)[["ancillary_orders"]])


def test_distinct_records_hold_every_row_of_every_weekly_extract_once(world):
    layers = world.weekly.distinct_records()
    assert all(layer["disruption_id"].is_unique for layer in layers)
    distinct = pd.concat(layers, ignore_index=True)
    every = pd.concat(world.weekly.values(), ignore_index=True)
    columns = list(every.columns)
    assert list(distinct.columns) == columns
    key = every.astype(str).agg("|".join, axis=1)
    assert sorted(set(key)) == sorted(distinct.astype(str).agg("|".join, axis=1))
    assert len(distinct) == key.nunique()


def test_weekly_files_are_the_extracts_and_world_json_describes_them(world, tmp_path):
    paths = write_world(world, tmp_path)
    weekly = sorted((tmp_path / "weekly").glob("*.parquet"))
    assert [p.stem for p in weekly] == list(world.weekly)
    for path in weekly[:: len(weekly) // 5]:
        frame = pd.read_parquet(path)
        assert_frame_equal(frame, world.weekly[path.stem])
        # every column of the contract but the label and what the toolkit derives (the record's age)
        expected = [c.name for c in CONTRACT.columns if c.name != LABEL and not c.derived]
        assert list(frame.columns) == expected
    record = json.loads(paths[-1].read_text())["recording"]
    assert (record["first_week"], record["last_week"], record["weeks"]) == (
        "2023-W48",
        "2026-W47",
        156,
    )
    assert record["incomplete_in_last_extract"] == []
    assert not (tmp_path / "tactics_truth.parquet").exists()


def test_generation_stays_fast_with_every_week():
    import time

    started = time.process_time()
    world = generate_world(WorldConfig(n_lines=6_000, seed=3))
    layers = world.weekly.distinct_records()
    assert len(world.weekly) == 156 and sum(map(len, layers)) > len(world.records)
    assert time.process_time() - started < 5  # about 0.3 s of CPU
