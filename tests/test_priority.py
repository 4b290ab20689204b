"""Priority = likelihood x harm: the harm policy from config, its checks and its arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from resilience.core.errors import ConfigError
from resilience.core.paths import config_dir
from resilience.data.contract import DataContract, load_data_contract
from resilience.weekly.priority import (
    REFERRALS_COLUMN,
    HarmPolicy,
    load_priority_policy,
    priority_ranks,
)


@pytest.fixture(scope="module")
def default_contract():
    return load_data_contract("default")


def _raw(name: str = "default") -> dict:
    return yaml.safe_load((config_dir() / "priority" / f"{name}.yaml").read_text())


def test_default_policy_fits_the_default_contract_and_documents_every_weight(default_contract):
    policy = load_priority_policy(None, default_contract)
    assert policy is not None and policy.name == "default"
    assert sum(c.weight for c in policy.components) == pytest.approx(100)
    assert all(len(c.why) > 30 for c in policy.components)
    assert {
        "exploited_children",
        "exploited_adults",
        "violence",
        "weapons",
        "cuckooed_addresses",
        "market",
        "organised_crime",
    } <= {c.name for c in policy.components}
    recorded = policy.to_dict()
    assert recorded["components"][0]["weight"] == 25 and "ties" in recorded["formula"]


def test_harm_index_arithmetic(default_contract):
    policy = load_priority_policy(None, default_contract)
    frame = pd.DataFrame(
        {
            c: [0, 0, 0]
            for c in default_contract.column_names
            if c in {k.column for k in policy.components} | set(policy.referrals)
        }
    )
    frame["exploited_children"] = [0, 1, 7]  # cap 3, weight 25
    frame["weapons_linked"] = [False, True, True]  # flag, weight 10
    frame["contacts"] = [0, 500, np.nan]  # cap 1000, weight 10; missing counts as none
    frame["safeguarding_referrals"] = [0, 2, 0]
    out = policy.columns(frame)
    assert out["harm_index"].tolist() == pytest.approx([0.0, 25 / 3 + 10 + 5, 25 + 10], abs=1e-3)
    assert out["harm_exploited_children"].tolist() == [0, 1, 7]  # the recorded value, not the score
    assert out[REFERRALS_COLUMN].tolist() == [0, 2, 0]


def test_priority_is_likelihood_times_harm_with_documented_ties():
    probability = np.array([0.9, 0.5, 0.5, 0.5, 0.2, 0.2])
    harm = np.array([0.0, 40.0, 40.0, 20.0, 100.0, 0.0])
    ranks = priority_ranks(probability, harm, harm_floor=5)
    # scores: 4.5, 20, 20, 10, 20, 1 -> the three 20s tie: higher probability first, then input order
    assert ranks.tolist() == [5, 1, 2, 4, 3, 6]
    # the floor keeps likelihood ordering among lines with no recorded harm
    assert priority_ranks(np.array([0.3, 0.8]), np.zeros(2), 5).tolist() == [2, 1]


def test_example_force_policy_reads_its_own_column_names():
    contract = load_data_contract("example_force")
    policy = load_priority_policy(None, contract)
    assert policy.name == "example_force"
    assert {c.column for c in policy.components} <= set(contract.column_names)
    assert policy.referrals == ("referrals",)
    frame = pd.DataFrame(
        {
            "children_exploited": [2],
            "runner_count": [10],
            "customer_count": [0],
            "deal_lines": [1],
            "referrals": [0],
        }
    )
    assert policy.columns(frame)["harm_index"].iloc[0] == pytest.approx(45 * 2 / 3 + 25 + 10 / 5)


def test_a_policy_for_another_data_config_is_refused_with_its_name(default_contract):
    example = load_data_contract("example_force")
    with pytest.raises(ConfigError, match="written for data config 'default'.*example_force"):
        load_priority_policy("default", example)


def test_a_component_column_the_contract_lacks_is_named(default_contract, tmp_path):
    raw = _raw()
    raw["components"]["violence"]["column"] = "violent_incidents"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ConfigError, match="component 'violence': column 'violent_incidents' is not a number"
    ):
        load_priority_policy(str(path), default_contract)


def test_weights_must_add_up_to_100_and_each_needs_its_reason():
    raw = _raw()
    raw["components"]["market"]["weight"] = 30
    with pytest.raises(ConfigError, match="add up to 100"):
        HarmPolicy.from_dict(raw, "default")
    raw = _raw()
    del raw["components"]["market"]["why"]
    with pytest.raises(ConfigError, match="component 'market': missing \\['why'\\]"):
        HarmPolicy.from_dict(raw, "default")
    raw = _raw()
    raw["protect"]["exploited"] = ["nobody"]
    with pytest.raises(ConfigError, match="protect refers to component 'nobody'"):
        HarmPolicy.from_dict(raw, "default")


def test_no_policy_for_a_new_data_config_means_likelihood_alone(default_contract):
    other = DataContract.from_dict(
        {**default_contract.to_dict(), "name": "a_force_without_a_policy"}
    )
    assert load_priority_policy(None, other) is None
    with pytest.raises(ConfigError, match="no priority config"):
        load_priority_policy("a_force_without_a_policy", other)


def test_harm_is_never_a_model_input(default_contract):
    policy = load_priority_policy(None, default_contract)
    features = set(default_contract.features)
    assert not {"harm_index", "priority_rank", REFERRALS_COLUMN} & features
    assert not {c.output_column for c in policy.components} & features
