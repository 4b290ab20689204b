"""Records as they stood: the record's age, the snapshot loader, the rows training learns from and
is judged on, and everything that must count disruptions rather than rows."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_WORLD

from resilience.core.errors import ConfigError, ContractError, ResilienceError
from resilience.core.week_files import KEPT_KEY, MANIFEST, WeekManifest
from resilience.data.contract import DataContract, load_data_contract
from resilience.data.record_age import (
    ages,
    extract_as_of,
    record_age_weeks,
    require_record_age,
    with_record_age,
)
from resilience.data.snapshots import check_kept, find_snapshots, iter_snapshots, snapshot_index
from resilience.data.validate import validate_frame
from resilience.explain.screen import permuted
from resilience.learn.by_age import by_record_age
from resilience.learn.models import PersistenceModel
from resilience.learn.ranges import draw_labels
from resilience.learn.records import RecordsConfig, pick_ages, records_as_they_stood
from resilience.learn.split import SplitConfig, calibration_slice, split_history

TODAY = pd.Timestamp(TINY_WORLD.end_date)


@pytest.fixture(scope="module")
def history(tiny_world_dir, contract):
    raw = pd.read_parquet(tiny_world_dir / "disruptions.parquet")
    return validate_frame(raw, contract, require_label=True, today=TODAY).frame


@pytest.fixture(scope="module")
def stood(tiny_world_dir, history, contract):
    config = SplitConfig(test_weeks=13, min_train_to_test=1.0)
    split = split_history(history, contract, config)
    found = find_snapshots(tiny_world_dir / "weekly")
    return records_as_they_stood(history, split, contract, found, RecordsConfig(), TODAY)


# -- the record's age in the data contract -----------------------------------------------------
def _with_column(contract: DataContract, **spec) -> dict:
    config = contract.to_dict()
    config["columns"]["record_age_weeks"] = {**config["columns"]["record_age_weeks"], **spec}
    return config


def test_the_default_contract_derives_the_record_age(contract):
    assert contract.record_age_column == "record_age_weeks"
    assert contract.derived_columns == ("record_age_weeks",)
    assert "record_age_weeks" in contract.features
    assert load_data_contract("example_force").record_age_column is None


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"derived": "record_ages"}, "derived 'record_ages' is not one of"),
        ({"dtype": "float"}, "must be a feature of dtype int"),
        ({"role": "context", "describes": None}, "must be a feature of dtype int"),
    ],
)
def test_a_derived_column_is_checked(contract, spec, message):
    with pytest.raises(ConfigError, match=message):
        DataContract.from_dict(_with_column(contract, **spec))


def test_only_one_record_age_column(contract):
    config = contract.to_dict()
    config["columns"]["weeks_on_record"] = dict(config["columns"]["record_age_weeks"])
    with pytest.raises(ConfigError, match="only one column may be derived as record_age"):
        DataContract.from_dict(config)


def test_an_extract_need_not_carry_the_record_age_but_a_given_one_is_checked(
    tiny_world_dir, contract
):
    raw = pd.read_parquet(sorted((tiny_world_dir / "weekly").glob("*.parquet"))[-1])
    assert "record_age_weeks" not in validate_frame(raw, contract, today=TODAY).frame
    raw["record_age_weeks"] = -1
    with pytest.raises(ContractError, match="record_age_weeks.*value out of range"):
        validate_frame(raw, contract, source="week.parquet", today=TODAY)


def test_record_age_counts_whole_weeks_to_the_extracts_date(contract):
    dates = pd.Series(pd.to_datetime(["2026-11-22", "2026-11-16", "2026-11-15", "2026-09-01"]))
    assert record_age_weeks(dates, pd.Timestamp("2026-11-22")).tolist() == [0, 0, 1, 11]
    frame = pd.DataFrame({contract.date_column: dates})
    assert extract_as_of(frame, contract) == pd.Timestamp("2026-11-22")
    assert with_record_age(frame, contract)["record_age_weeks"].tolist() == [0, 0, 1, 11]


def test_an_extraction_date_column_gives_each_row_its_own_age(contract):
    config = contract.to_dict()
    config["columns"]["extracted_on"] = {"dtype": "date", "role": "context"}
    config["as_of_column"] = "extracted_on"
    dated = DataContract.from_dict(config)
    frame = pd.DataFrame(
        {
            dated.date_column: pd.to_datetime(["2026-11-01", "2026-11-01"]),
            "extracted_on": pd.to_datetime(["2026-11-08", "2026-11-29"]),
        }
    )
    assert extract_as_of(frame, dated) == pd.Timestamp("2026-11-29")
    assert ages(frame, dated).tolist() == [1, 4]
    # the pyfunc derives it from the extraction date when the column is not given ...
    assert require_record_age(frame, dated, dated.features, "input")[
        "record_age_weeks"
    ].tolist() == [1, 4]
    # ... and says what it needs when neither is there
    with pytest.raises(
        ResilienceError, match="give that column or the extraction date 'extracted_on'"
    ):
        require_record_age(frame.drop(columns="extracted_on"), dated, dated.features, "input")
    with pytest.raises(ResilienceError, match="declares no as_of_column"):
        require_record_age(frame, contract, contract.features, "input")


# -- the snapshot loader --------------------------------------------------------------------------
def test_weekly_extracts_are_read_with_their_as_of_date_and_ages(tiny_world_dir, contract):
    found = find_snapshots(tiny_world_dir / "weekly")
    assert len(found.files) == 40 and not found.skipped
    index = snapshot_index(found, contract)
    assert index["age"].between(0, contract.horizon_weeks - 1).all()
    snapshot = next(iter_snapshots(found, contract, TODAY))
    frame = snapshot.frame
    assert snapshot.as_of == pd.to_datetime(frame[contract.date_column]).max()
    assert (frame["record_age_weeks"] == index[index["file"] == 0]["age"].to_numpy()).all()


def test_a_bad_value_in_one_extract_names_that_file_and_row(tiny_world_dir, contract, tmp_path):
    folder = tmp_path / "weekly"
    shutil.copytree(tiny_world_dir / "weekly", folder)
    bad = sorted(folder.glob("*.parquet"))[7]
    frame = pd.read_parquet(bad)
    frame.loc[2, "contacts"] = -5
    frame.to_parquet(bad, index=False)
    with pytest.raises(ContractError) as info:
        list(iter_snapshots(find_snapshots(folder), contract, TODAY))
    assert f"{bad}: column 'contacts'" in str(info.value) and "row 3" in str(info.value)


def test_a_week_given_twice_or_no_extract_at_all_is_refused(tiny_world_dir, tmp_path):
    folder = tmp_path / "weekly"
    shutil.copytree(tiny_world_dir / "weekly", folder)
    week = sorted(folder.glob("*.parquet"))[0]
    pd.read_parquet(week).to_csv(week.with_suffix(".csv"), index=False)
    with pytest.raises(ResilienceError, match=f"week {week.stem} is there twice"):
        find_snapshots(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResilienceError, match="holds no weekly extracts"):
        find_snapshots(tmp_path / "empty")
    with pytest.raises(ResilienceError, match="does not exist"):
        find_snapshots(tmp_path / "missing")


def _scored_week(folder, week_file, sha256=None):
    """A scored week folder keeping ``week_file`` (as scoring leaves it)."""
    week = folder / week_file.stem
    week.mkdir(parents=True)
    shutil.copyfile(week_file, week / "extract.parquet")
    manifest = WeekManifest(
        week=week.name,
        input={"sha256": sha256 or _sha(week_file), KEPT_KEY: "extract.parquet"},
    )
    (week / MANIFEST).write_text(manifest.to_json())
    return week


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scored_weeks_that_kept_their_extract_are_snapshots_checked_by_hash(
    tiny_world_dir, tmp_path
):
    weeks = sorted((tiny_world_dir / "weekly").glob("*.parquet"))[-6:]
    for week_file in weeks[:5]:
        _scored_week(tmp_path, week_file)
    old = tmp_path / weeks[5].stem  # scored before extracts were kept
    old.mkdir()
    (old / MANIFEST).write_text(WeekManifest(week=old.name, input={"sha256": "x"}).to_json())
    found = find_snapshots(tmp_path)
    assert [f.week for f in found.files] == [w.stem for w in weeks[:5]]
    assert all(f.kept for f in found.files) and list(found.skipped) == [old.name]
    check_kept(found)  # unchanged: accepted
    changed = [found.files[1].path, found.files[3].path]
    for path in changed:
        frame = pd.read_parquet(path)
        frame.loc[0, "contacts"] += 1
        frame.to_parquet(path, index=False)
    with pytest.raises(ResilienceError, match="2 kept extract") as info:
        check_kept(find_snapshots(tmp_path))
    assert all(str(path) in str(info.value) for path in changed)


# -- the rows training learns from ------------------------------------------------------------------
def test_pick_ages_gives_every_disruption_k_rows():
    available = pd.DataFrame(
        {"id": ["a"] * 12 + ["b"], "file": list(range(12)) + [3], "age": list(range(12)) + [5]}
    )
    picked = pick_ages(available, 2, seed=0)
    assert picked.groupby("id").size().to_dict() == {"a": 2, "b": 2}
    assert picked[picked["id"] == "a"]["age"].nunique() == 2  # without replacement
    assert (picked[picked["id"] == "b"]["age"] == 5).all()  # repeated when there are fewer
    firsts = [
        pick_ages(available, 2, seed)[lambda d: d["pick"] == 0].iloc[0]["age"]
        for seed in range(200)
    ]
    assert len(set(firsts)) == 12  # pick 0 is a drawn age, any of them


def test_training_rows_are_records_as_they_stood_never_past_the_horizon(stood, history, contract):
    split, horizon = stood.split, contract.horizon_weeks
    label = history.set_index(contract.id_column)[contract.label]
    for frame in (split.train, split.test, split.test_by_age, stood.all_rows):
        assert frame["record_age_weeks"].between(0, horizon).all()
        assert (
            frame[contract.label].to_numpy() == label.loc[frame[contract.id_column]].to_numpy()
        ).all()
    # every labelled disruption weighs the same: k rows each
    assert (stood.all_rows.groupby(contract.id_column).size() == 2).all()
    assert len(stood.all_rows) == 2 * len(history)
    # a disruption no snapshot holds keeps its final record, counted complete
    held = stood.summary["disruptions_in_snapshots"]
    assert (
        0 < held < len(history)
        and stood.summary["disruptions_final_record_only"] == len(history) - held
    )
    final_only = stood.all_rows.groupby(contract.id_column)["record_age_weeks"].min() == horizon
    assert final_only.sum() == len(history) - held


def test_a_disruption_is_on_one_side_and_judged_once_per_age(stood, contract):
    split = stood.split
    train, test = set(split.train[contract.id_column]), set(split.test[contract.id_column])
    assert not train & test
    assert split.test[contract.id_column].is_unique  # headline: one row per test disruption
    per_age = split.test_by_age.groupby("record_age_weeks")[contract.id_column]
    assert all(ids.is_unique for _, ids in per_age)
    assert set(split.test_by_age[contract.id_column]) == test
    assert split.train_latest[contract.id_column].is_unique
    assert set(split.train_latest[contract.id_column]) == train
    assert stood.scoring_rows[contract.id_column].is_unique


def test_snapshots_need_a_record_age_column(tiny_world_dir, history, contract):
    plain = DataContract.from_dict(
        {
            **contract.to_dict(),
            "columns": {
                k: v for k, v in contract.to_dict()["columns"].items() if k != "record_age_weeks"
            },
        }
    )
    split = split_history(history, plain, SplitConfig(test_weeks=13, min_train_to_test=1.0))
    with pytest.raises(ResilienceError, match="derived: record_age"):
        records_as_they_stood(
            history, split, plain, find_snapshots(tiny_world_dir / "weekly"), RecordsConfig()
        )


def test_records_config_refuses_nonsense():
    with pytest.raises(ConfigError, match="per_disruption"):
        RecordsConfig(per_disruption=0)


# -- per disruption, never per row ------------------------------------------------------------------
def test_the_calibration_slice_keeps_a_disruptions_snapshots_together():
    dates = pd.Series(
        pd.to_datetime(["2024-01-01"] * 30 + ["2024-02-01"] * 30 + ["2024-03-01"] * 40)
    )
    groups = pd.Series([f"d{i // 2}" for i in range(100)])
    fit, cal = calibration_slice(dates, 0.25, groups)
    assert not set(groups.iloc[fit]) & set(groups.iloc[cal])
    assert len(cal) >= 25


def test_bootstrap_labels_and_permutations_are_shared_by_a_disruptions_snapshots():
    rng = np.random.default_rng(0)
    disruptions = pd.Series(np.repeat([f"d{i}" for i in range(300)], 3))
    lines = disruptions.str.slice(0, 3)
    drawn = draw_labels(np.full(900, 0.5), lines, 0.3, rng, disruptions)
    assert (pd.Series(drawn).groupby(disruptions.to_numpy()).nunique() == 1).all()
    assert 0.4 < drawn.mean() < 0.6
    y = np.repeat(rng.integers(0, 2, 300), 3)
    shuffled = permuted(y, disruptions, rng)
    assert (pd.Series(shuffled).groupby(disruptions.to_numpy()).nunique() == 1).all()
    assert shuffled.sum() == y.sum()


def test_settings_that_count_rows_count_disruptions(history, contract):
    once = PersistenceModel(
        contract, exclude=["record_age_weeks"], n_jobs=1, early_stopping_rounds=0
    )
    twice = pd.concat([history, history]).sort_values(contract.date_column, kind="stable")
    a = once.fit(history).lgbm_params_["min_child_samples"]
    b = PersistenceModel(
        contract, exclude=["record_age_weeks"], n_jobs=1, early_stopping_rounds=0
    ).fit(twice)
    assert b.rows_per_disruption_ == 2.0
    assert b.lgbm_params_["min_child_samples"] == 2 * a


# -- judged by record age ---------------------------------------------------------------------------
def test_by_record_age_counts_bias_per_age_and_labels_the_complete_record(contract):
    class Fixed:
        def persistence_probability(self, frame):
            return frame["p"].to_numpy()

        def parts(self, frame):
            return {"": (self, np.arange(len(frame)))}

        interval_ensemble_ = None

    rows = pd.DataFrame(
        {
            contract.id_column: [f"d{i % 4}" for i in range(8)],
            contract.label: [1, 0, 1, 0, 1, 1, 0, 0],
            "record_age_weeks": [0, 0, 0, 0, 12, 12, 12, 12],
            "p": [0.8, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5, 0.5],
        }
    )
    truth = pd.DataFrame({contract.id_column: [f"d{i}" for i in range(4)], "true_probability": 0.5})
    table = by_record_age(Fixed(), rows, contract, truth).set_index("record_age")
    assert list(table.index) == ["0", "complete"]
    assert table.loc["0", "bias_vs_observed_points"] == pytest.approx(30.0)
    assert table.loc["0", "bias_vs_truth_points"] == pytest.approx(30.0)
    assert table.loc["complete", "bias_vs_truth_points"] == pytest.approx(0.0)
