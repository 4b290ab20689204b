"""The protected-characteristic guard reads meaning, not spelling (issue 22, item 4).

The two lists under tests/fixtures were committed before the guard was changed; this file measures
the guard on them and holds it to the targets: every family refused, >= 95% of the held-out list
refused, 0 false refusals on the legitimate list. ``python tests/test_protected_guard.py`` prints
both rates and every miss.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from resilience.core.errors import ConfigError
from resilience.core.paths import config_dir
from resilience.data import protected
from resilience.data.contract import PROTECTED_WORDS, DataContract, load_data_contract
from resilience.data.protected import feature_refusal, fold, read

LANGUAGES = ("welsh", "french", "german", "spanish", "italian", "portuguese", "polish", "romanian")


FIXTURES = Path(__file__).parent / "fixtures"
HELD_OUT = FIXTURES / "protected_heldout.yaml"
LEGITIMATE = FIXTURES / "legitimate_police.yaml"

# A minimal valid config whose own names are neutral; each case adds one feature (or replaces
# the probe) so a refusal can only come from the case.
BASE = {
    "name": "probe",
    "concepts": {"market": {"label_text": "Size of the line's market", "four_ps": "context"}},
    "columns": {
        "probe_ref": {"dtype": "string", "role": "id", "unique": True, "label_text": "Reference"},
        "probe_line": {"dtype": "string", "role": "line_id", "label_text": "Line"},
        "probe_day": {"dtype": "date", "role": "date", "label_text": "Day of the action"},
        "probe_contacts": {
            "dtype": "int",
            "role": "feature",
            "describes": "line",
            "concept": "market",
            "label_text": "customer contacts",
        },
        "probe_outcome": {"dtype": "bool", "role": "label", "nullable": True},
    },
}


def load_cases(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def case_id(case: dict) -> str:
    shown = case.get("text") if case["as"] != "values" else "|".join(map(str, case["values"]))
    return f"{case['family']}:{case['as']}:{shown}"[:80]


def case_config(case: dict) -> dict:
    """A data config holding the case as a category feature (name, label, concept or values)."""
    config = copy.deepcopy(BASE)
    spec: dict = {
        "dtype": "category",
        "role": "feature",
        "describes": case.get("describes", "line"),
    }
    if case.get("label"):
        spec["label_text"] = case["label"]
    kind = case["as"]
    column = case.get("column", "probe")
    if kind == "name":
        column = case["text"]
    elif kind == "label":
        spec["label_text"] = case["text"]
    elif kind == "concept":
        config["concepts"]["probe_concept"] = {"label_text": case["text"], "four_ps": "context"}
        spec["concept"] = "probe_concept"
    elif kind == "values":
        spec["allowed"] = [str(v) for v in case["values"]]
    else:
        raise ValueError(f"unknown case kind {kind!r}")
    config["columns"][column] = spec
    return config


def refusal(case: dict) -> str | None:
    """The guard's message if the case's config is refused, else None."""
    from resilience.core.errors import ConfigError
    from resilience.data.contract import DataContract

    try:
        DataContract.from_dict(case_config(case), source=f"configs/data/{case['family']}.yaml")
    except TypeError:  # a contract without the source argument (before issue 22)
        try:
            DataContract.from_dict(case_config(case))
        except ConfigError as exc:
            return str(exc)
    except ConfigError as exc:
        return str(exc)
    return None


def rates() -> tuple[float, float, list[str], list[str]]:
    """(share of held-out cases refused, share of legitimate cases refused, missed, false refusals)."""
    held_out, legitimate = load_cases(HELD_OUT), load_cases(LEGITIMATE)
    missed = [case_id(c) for c in held_out if refusal(c) is None]
    false = [f"{case_id(c)} -> {refusal(c)}" for c in legitimate if refusal(c) is not None]
    return 1 - len(missed) / len(held_out), len(false) / len(legitimate), missed, false


def test_both_rates_meet_the_targets(record_property):
    refused, false_rate, missed, false = rates()
    report = (
        f"held-out protected list refused: {refused:.1%} ({len(load_cases(HELD_OUT))} cases); "
        f"legitimate list refused: {false_rate:.1%} ({len(load_cases(LEGITIMATE))} cases)"
    )
    print(report)
    record_property("held_out_refused", round(refused, 4))
    record_property("legitimate_refused", round(false_rate, 4))
    assert refused >= 0.95, f"{report}; missed: {missed}"
    assert not false, f"{report}; false refusals: {false}"


def test_every_family_of_the_held_out_list_is_refused():
    by_family = defaultdict(list)
    for case in load_cases(HELD_OUT):
        by_family[case["family"]].append(refusal(case) is not None)
    assert {*LANGUAGES, "english", "abbreviations", "police_codes", "small_capitals"} <= set(
        by_family
    )
    weak = {f: f"{sum(r)}/{len(r)}" for f, r in by_family.items() if sum(r) < 0.9 * len(r)}
    assert not weak, weak


def test_the_lists_are_large_enough_and_cover_the_shipped_configs():
    held_out, legitimate = load_cases(HELD_OUT), load_cases(LEGITIMATE)
    assert len(held_out) >= 100 and len(legitimate) >= 100
    names = {c["text"] for c in legitimate if c["as"] == "name"}
    labels = {c.get("label") for c in legitimate} | {c.get("text") for c in legitimate}
    values = {str(v) for c in legitimate if c["as"] == "values" for v in c["values"]}
    for config_name in ("default", "example_force"):
        config = yaml.safe_load((config_dir() / "data" / f"{config_name}.yaml").read_text())
        for name, spec in config["columns"].items():
            assert name in names, name
            assert spec.get("label_text", "") in labels | {""}, spec
            assert {str(v) for v in spec.get("allowed") or ()} <= values, name
        for concept in config["concepts"].values():
            assert concept["label_text"] in labels, concept


@pytest.mark.parametrize("config_name", ["default", "example_force"])
def test_the_shipped_configs_load(config_name):
    assert load_data_contract(config_name).features


# Every family the red team got through (issue 22), as written in the issue.
ISSUE_CASES = [
    {"family": "small_capitals", "as": "name", "text": "ᴇᴛʜɴɪᴄɪᴛʏ"},
    {"family": "codes", "as": "name", "text": "ic1_flag"},
    {"family": "codes", "as": "name", "text": "share_ic3"},
    {"family": "abbreviations", "as": "name", "text": "eth"},
    {"family": "abbreviations", "as": "name", "text": "gndr"},
    {"family": "abbreviations", "as": "name", "text": "holder_sx"},
    {"family": "languages", "as": "name", "text": "ethnie"},
    {"family": "languages", "as": "name", "text": "etnia"},
    {"family": "languages", "as": "name", "text": "sexe"},
    {"family": "languages", "as": "name", "text": "geschlecht"},
    {"family": "languages", "as": "name", "text": "nationalite"},
    {"family": "compounds", "as": "name", "text": "skintone"},
    {"family": "compounds", "as": "name", "text": "haircolour"},
    {"family": "proxies", "as": "name", "text": "pcode"},
    {"family": "proxies", "as": "name", "text": "holder_outcode"},
    {"family": "proxies", "as": "name", "text": "holder_nm"},
    {"family": "foreign_label", "as": "label", "text": "Origine ethnique du titulaire"},
    {"family": "concept", "as": "concept", "text": "Ethnicity of the line holder"},
    {"family": "values", "as": "values", "values": ["White British", "Black Caribbean"]},
]


@pytest.mark.parametrize("case", ISSUE_CASES, ids=case_id)
def test_every_family_in_the_issue_is_refused_naming_file_key_and_reading(case):
    with pytest.raises(ConfigError) as caught:
        DataContract.from_dict(case_config(case), source="configs/data/x.yaml")
    message = str(caught.value)
    assert message.startswith("configs/data/x.yaml: data config 'probe' refused: column ")
    assert "reads as '" in message and "Equality Act 2010" in message
    key = {
        "name": f"'{case.get('text')}' reads as",
        "label": f"its label '{case.get('text')}'",
        "concept": f"its concept label '{case.get('text')}'",
        "values": "its category value 'White British' reads as 'british'",
    }[case["as"]]
    assert key in message, message


def test_the_issue_example_reads_as_ethnicity():
    message = feature_refusal("ᴇᴛʜɴɪᴄɪᴛʏ", concept_label="Ethnicity of the line holder")
    assert message.startswith("'ᴇᴛʜɴɪᴄɪᴛʏ' reads as 'ethnicity' (race, a protected characteristic")


def test_a_refusal_names_the_file_it_was_loaded_from(tmp_path):
    config = case_config({"family": "x", "as": "name", "text": "holder_age"})
    path = tmp_path / "force.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_data_contract(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: data config 'probe' refused: column 'holder_age'")
    assert "of 'holder', a person" in message and "describes: line" in message


@pytest.mark.parametrize("describes", ["line", "disruption", "place"])
def test_a_declaration_never_vouches_for_a_person_word(describes):
    for name in ("holder_age", "age", "runner_colour", "suspect_name"):
        assert feature_refusal(name, describes=describes), name


def test_whose_age_the_name_or_label_says():
    assert read("line_age_weeks") is None
    assert read("age_weeks", ["the line's age in weeks"]) is None
    assert read("age_weeks") is not None  # nothing says whose
    assert read("Âge de la ligne") is None and read("Âge du titulaire") is not None
    assert read("Età della linea") is None and read("età") is not None
    assert read("eta_minutes") is None  # ETA, not the Italian età: accents are kept for it
    assert read("postage") is None and read("runnerage") is not None


def test_a_colour_is_a_thing_s_when_the_column_says_so():
    assert feature_refusal("vehicle_colour", allowed=["black", "white"]) is None
    assert feature_refusal("commodity", "main drugs sold", allowed=["brown", "white"]) is None
    refused = feature_refusal("group", allowed=["White", "Black", "Mixed"])
    assert refused and "its category value 'White'" in refused


def test_intelligence_grades_pass_and_ethnicity_code_sets_do_not():
    grades = [f"{a}{n}" for a in "ABCDE" for n in range(1, 6)]
    assert feature_refusal("intel_grade", allowed=grades) is None
    assert feature_refusal("grade", allowed=["A1", "B2", "3x5x2", "5x5x5"]) is None
    refused = feature_refusal("code", allowed=["A1", "A2", "A9", "B1", "B9", "M1", "O9"])
    assert refused and "read together" in refused and "self-defined ethnicity codes" in refused
    assert feature_refusal("main_route", allowed=["M1", "M6", "M62", "A1"]) is None


def test_folding_reads_look_alikes():
    assert fold("ᴇᴛʜɴɪᴄɪᴛʏ") == "ethnicity"  # small capitals
    assert fold("ｈｏｌｄｅｒ＿ｓｅｘ") == "holder sex"  # fullwidth
    assert fold("ρostcοde") == "postcode"  # Greek rho and omicron
    assert fold("pօstcօde") == "postcode"  # Armenian o
    assert fold("re|igion") == "religion" and fold("m@le") == "male"
    assert fold("reli\u200bgion") == "religion"  # a zero-width space is not a separator
    assert fold("HairColor") == "hair color"


def test_the_word_list_is_package_data_and_the_module_stays_small():
    source = Path(protected.__file__)
    assert (source.parent / "protected_words.yaml").is_file()
    assert len(source.read_text(encoding="utf-8").splitlines()) < 500
    assert {"ethnicity", "age", "postcode", "sexe"} <= PROTECTED_WORDS


if __name__ == "__main__":
    refused, false_rate, missed, false = rates()
    print(f"held-out refused: {refused:.1%}; legitimate refused: {false_rate:.1%}")
    for line in missed:
        print("  missed:", line)
    for line in false:
        print("  false refusal:", line)
