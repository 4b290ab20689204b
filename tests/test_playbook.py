"""Options under the four Ps: the playbook from config, its checks, what it reads and what it writes."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from resilience.core.errors import ConfigError
from resilience.core.paths import config_dir
from resilience.data.contract import load_data_contract
from resilience.report.options import age_words, line_options, record_age_days, when_words
from resilience.weekly.playbook import STRANDS, load_playbook, playbook_from_dict


@pytest.fixture(scope="module")
def contract():
    return load_data_contract("default")


def _raw(name: str = "default") -> dict:
    return yaml.safe_load((config_dir() / "playbook" / f"{name}.yaml").read_text())


def _record(**values) -> pd.DataFrame:
    """One line's record with nothing recorded but ``values``."""
    base = {
        "exploited_children": 0,
        "exploited_adults": 0,
        "safeguarding_referrals": 0,
        "holder_arrested": True,
        "cuckooed_addresses": 0,
        "closure_orders": 0,
        "prior_disruptions": 0,
        "closure_type": "none",
        "ancillary_orders": 0,
        "sustained_operation": False,
        "disruption_grade": "minor",
    }
    return pd.DataFrame([{**base, **values}])


def _holds(playbook, **values) -> set[str]:
    row = playbook.columns(_record(**values)).iloc[0]
    return {rule.name for rule in playbook.rules if bool(row[rule.output_column])}


def test_each_default_rule_reads_the_lines_own_record(contract):
    playbook = load_playbook(None, contract)
    assert _holds(playbook) == set()  # a holder arrested and nothing else: no option
    assert _holds(playbook, exploited_children=2) == {"safeguarding_referral"}
    assert _holds(playbook, exploited_adults=1, safeguarding_referrals=1) == set()
    assert _holds(playbook, holder_arrested=False) == {"holder_at_large"}
    assert _holds(playbook, cuckooed_addresses=2) == {"closure_orders"}
    assert _holds(playbook, cuckooed_addresses=2, closure_orders=1) == set()
    assert _holds(playbook, closure_type="type1") == {"ancillary_orders"}
    assert _holds(playbook, prior_disruptions=2) == {"ancillary_orders", "sustained_operation"}
    assert (
        _holds(playbook, prior_disruptions=2, sustained_operation=True, ancillary_orders=1) == set()
    )


def test_a_value_not_recorded_counts_as_nothing_recorded(contract):
    playbook = load_playbook(None, contract)
    missing = _record(exploited_children=1)
    missing["safeguarding_referrals"] = None
    missing["holder_arrested"] = pd.array([pd.NA], dtype="boolean")
    row = playbook.columns(missing).iloc[0]
    assert row["option_safeguarding_referral"] and row["option_holder_at_large"]


def test_each_option_takes_its_strand_from_the_data_config(contract):
    playbook = load_playbook(None, contract)
    for rule in playbook.rules:
        assert rule.strand == contract.concept_of(rule.rests_on).four_ps in STRANDS
        assert len(rule.why) > 60 and rule.option and rule.evidence
    strands = {rule.name: rule.strand for rule in playbook.rules}
    assert strands == {
        "safeguarding_referral": "protect",
        "holder_at_large": "pursue",
        "closure_orders": "protect",
        "ancillary_orders": "prevent",
        "sustained_operation": "prepare",
    }
    # a force that files safeguarding under another strand sees the option under that strand
    moved = contract.to_dict()
    moved["concepts"]["safeguarding"]["four_ps"] = "prevent"
    from resilience.data.contract import DataContract

    other = load_playbook(None, DataContract.from_dict(moved))
    assert {r.name: r.strand for r in other.rules}["safeguarding_referral"] == "prevent"


@pytest.mark.parametrize(
    "change,message",
    [
        (
            lambda r: r["rules"]["holder_at_large"].update(rests_on="contacts"),
            "whose four_ps is 'context'",
        ),
        (
            lambda r: r["rules"]["holder_at_large"]["when"].append(
                {"column": "persisted_12w", "is": True}
            ),
            "never the label",
        ),
        (
            lambda r: r["rules"]["holder_at_large"]["when"].append(
                {"column": "persistence_probability", "at_least": 0.5}
            ),
            "is not a column of data config",
        ),
        (lambda r: r["rules"]["holder_at_large"].pop("why"), "its reasoning in why"),
        (
            lambda r: r["rules"]["holder_at_large"]["when"].append(
                {"column": "contacts", "is": True}
            ),
            "applies to ('bool',) columns",
        ),
        (
            lambda r: r["rules"]["ancillary_orders"]["when"][0]["any"].append(
                {"column": "closure_type", "in": ["type9"]}
            ),
            "not among its values",
        ),
        (lambda r: r["rules"]["holder_at_large"].update(typo=1), "unknown key(s) ['typo']"),
        (lambda r: r.update(data_config="example_force"), "write configs/playbook/default.yaml"),
        (
            lambda r: r.update(groups={"grade": "contacts"}),
            "groups.grade must name a category column",
        ),
    ],
)
def test_a_rule_that_would_not_be_policy_is_refused_by_name(contract, change, message):
    raw = copy.deepcopy(_raw())
    change(raw)
    with pytest.raises(ConfigError) as error:
        playbook_from_dict(raw, "default", contract)
    assert message in str(error.value)
    assert "playbook config 'default'" in str(error.value)


def test_options_are_never_a_model_input_nor_read_a_score(contract):
    playbook = load_playbook(None, contract)
    read = {c.column for rule in playbook.rules for group in rule.when for c in group}
    assert read <= set(contract.column_names) and contract.label not in read
    assert not {rule.output_column for rule in playbook.rules} & set(contract.features)


def test_the_example_force_has_its_own_playbook_on_its_own_columns():
    contract = load_data_contract("example_force")
    playbook = load_playbook(None, contract)
    assert {r.name for r in playbook.rules} == {
        "safeguarding_referral",
        "holder_at_large",
        "sustained_operation",
    }
    assert playbook.grade_column is None
    with pytest.raises(ConfigError, match="no playbook config at"):
        load_playbook("missing_force", contract)


def test_an_option_that_rests_on_an_absence_says_how_old_the_record_is(contract):
    playbook = load_playbook(None, contract).to_dict()
    as_of = pd.Timestamp("2026-11-22")
    row = {
        "disruption_date": "2026-11-19",
        "option_safeguarding_referral": True,
        "option_sustained_operation": True,
        "option_holder_at_large": False,
    }
    options = line_options(row, playbook["rules"], as_of)
    assert [o["text"] for o in options] == [
        "Protect: make a safeguarding (NRM) referral for each exploited person now "
        "(no referral recorded; record 3 days old)",
        "Prepare: plan a sustained operation and how to hold the area "
        "(disrupted before; this one a one-off)",  # not an absence: no record age
    ]
    assert record_age_days("2026-11-22", as_of) == 0 and age_words(1) == "record 1 day old"
    assert record_age_days("not a date", as_of) is None
    rule = next(r for r in playbook["rules"] if r["name"] == "ancillary_orders")
    assert when_words(rule, contract) == (
        "earlier disruptions: at least 1 or closure type is Type1; and ancillary orders: at most 0"
    )
