"""The data contract's optional roles for reviews: an organised crime group id (role ``group``) and
the tactics, in the order they follow one another (``tactic: <n>``)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from resilience.core.errors import ConfigError
from resilience.data.contract import DataContract, load_data_contract

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default() -> DataContract:
    return load_data_contract("default", config_dir=ROOT / "configs")


def raw(default: DataContract) -> dict:
    return copy.deepcopy(default.to_dict())


def refused(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        DataContract.from_dict(config)
    return str(info.value)


def test_default_declares_the_group_column_as_context_never_a_feature(default):
    assert default.group_column == "ocg_id"
    spec = default.column("ocg_id")
    assert (spec.role, spec.dtype, spec.nullable) == ("group", "string", True)
    assert spec.label_text == "Organised crime group"
    assert "ocg_id" not in default.features
    assert "ocg_id" not in default.slices and default.cohort_column != "ocg_id"


def test_default_tactics_in_order(default):
    assert default.tactics == (
        "sustained_operation",
        "holder_arrested",
        "runners_arrested",
        "handsets_seized",
        "closure_type",
        "ddtro",
        "closure_orders",
        "ancillary_orders",
    )
    assert default.tactic_order("closure_type") > default.tactic_order("holder_arrested")
    assert default.tactic_order("ancillary_orders") > default.tactic_order("closure_type")
    # Equal numbers are one step: neither is before the other.
    assert default.tactic_order("holder_arrested") == default.tactic_order("runners_arrested")
    assert "runners_arrested" not in default.tactics_before("holder_arrested")
    assert default.tactics_before("sustained_operation") == ()
    assert default.tactics_before("ancillary_orders") == default.tactics[:-1]
    assert set(default.tactics) <= set(default.features)
    assert all(default.describes_of(t) == "disruption" for t in default.tactics)


def test_safeguarding_referrals_are_a_duty_not_a_tactic(default):
    assert "safeguarding_referrals" not in default.tactics
    with pytest.raises(KeyError, match="not a tactic"):
        default.tactic_order("safeguarding_referrals")


def test_the_roles_are_optional(default):
    force = load_data_contract("example_force", config_dir=ROOT / "configs")
    assert force.group_column is None and force.tactics == ()
    config = raw(default)
    del config["columns"]["ocg_id"]
    for spec in config["columns"].values():
        spec.pop("tactic", None)
    plain = DataContract.from_dict(config)
    assert plain.group_column is None and plain.tactics == ()


def test_roles_round_trip_through_the_stored_contract(default):
    again = DataContract.from_dict(default.to_dict())
    assert again == default
    assert again.group_column == "ocg_id" and again.tactics == default.tactics
    assert default.to_dict()["columns"]["ddtro"]["tactic"] == 5
    assert "tactic" not in default.to_dict()["columns"]["contacts"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ocg_id": {"dtype": "int"}}, "dtype must be one of ('string', 'category'), not 'int'"),
        ({"ocg_id": {"unique": True}}, "cannot be 'unique'"),
        ({"ocg_id": {"tactic": 1}}, "a group column cannot be a tactic"),
        ({"line_type": {"role": "group"}}, "at most one column may have role 'group'"),
        ({"contacts": {"tactic": 1}}, "only a feature that describes the disruption"),
        ({"policing_area": {"tactic": 1}}, "describes 'place'"),
        ({"ddtro": {"tactic": 0}}, "tactic must be a whole number >= 1"),
        ({"ddtro": {"tactic": True}}, "tactic must be a whole number >= 1"),
        ({"ddtro": {"tactic": "first"}}, "tactic must be a whole number >= 1"),
        ({"ddtro": {"tactic": 1.5}}, "tactic must be a whole number >= 1"),
        ({"ddtro": {"role": "context"}}, "(this column: role 'context'"),
    ],
)
def test_misused_group_or_tactic_is_refused_with_a_clear_error(default, change, expected):
    config = raw(default)
    for column, keys in change.items():
        config["columns"][column].update(keys)
    message = refused(config)
    column = next(iter(change))
    assert expected in message
    assert f"column '{column}'" in message or "role 'group'" in message


@pytest.mark.parametrize("key", ["slices", "cohort_column"])
def test_a_group_column_is_no_slice_or_cohort(default, key):
    config = raw(default)
    config[key] = ["line_type", "ocg_id"] if key == "slices" else "ocg_id"
    assert "not a slice or cohort" in refused(config)


def test_a_group_role_on_an_unknown_dtype_is_refused_before_anything_else(default):
    config = raw(default)
    config["columns"]["ocg_id"]["dtype"] = "date"
    assert "column 'ocg_id'" in refused(config)
