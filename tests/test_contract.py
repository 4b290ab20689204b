"""The data config as a contract (resilience.data.contract): roles, round trip, refusals."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from resilience.core.errors import ConfigError, ResilienceError
from resilience.data.contract import DataContract, load_data_contract, protected_reason
from resilience.data.protected import fold

ROOT = Path(__file__).resolve().parents[1]
DATA_CONFIGS = ROOT / "configs" / "data"


def raw_config(name: str = "default") -> dict:
    """The data config as a plain dict, straight from its YAML file."""
    return OmegaConf.to_container(OmegaConf.load(DATA_CONFIGS / f"{name}.yaml"), resolve=True)


def refused(config: dict) -> str:
    """Build a contract that must be refused; return the ConfigError message."""
    with pytest.raises(ConfigError) as info:
        DataContract.from_dict(config)
    return str(info.value)


def with_column(name: str, **spec) -> dict:
    config = raw_config()
    config["columns"][name] = spec
    return config


@pytest.fixture(scope="module")
def default() -> DataContract:
    return load_data_contract("default", config_dir=ROOT / "configs")


@pytest.fixture(scope="module")
def example_force() -> DataContract:
    return load_data_contract("example_force", config_dir=ROOT / "configs")


# --------------------------------------------------------------------------------------------
# The default config
# --------------------------------------------------------------------------------------------


def test_default_config_loads(default):
    """The contract is the data config, key for key: every column in the file's order with the
    type, role and label written there (nothing pinned here that the file could change)."""
    raw = raw_config()
    assert isinstance(default, DataContract)
    assert (default.name, default.contract_version, default.horizon_weeks) == (
        raw["name"],
        raw["contract_version"],
        raw["horizon_weeks"],
    )
    assert default.cohort_column == raw["cohort_column"] and default.slices == tuple(raw["slices"])
    assert list(default.column_names) == list(raw["columns"])
    for column in default.columns:
        spec = raw["columns"][column.name]
        assert (column.dtype, column.role) == (spec["dtype"], spec["role"]), column.name
        if "label_text" in spec:  # what a commander reads instead of the column name
            assert default.describe(column.name) == spec["label_text"], column.name
    assert default.to_dict()["columns"].keys() == raw["columns"].keys()


def test_default_single_roles(default):
    """Each single role is the one column the file gives it."""
    raw = raw_config()
    by_role = {}
    for name, spec in raw["columns"].items():
        by_role.setdefault(spec["role"], []).append(name)
    for role, attribute in (
        ("id", "id_column"),
        ("line_id", "line_column"),
        ("date", "date_column"),
        ("label", "label"),
    ):
        assert by_role[role] == [getattr(default, attribute)], role


def test_default_features(default):
    """The model's inputs are exactly the file's ``role: feature`` columns, in its order; the
    categorical ones are its ``category`` columns; no id, date, label or free text is an input."""
    raw = raw_config()
    assert isinstance(default.features, tuple)
    assert list(default.features) == [
        n for n, c in raw["columns"].items() if c["role"] == "feature"
    ]
    assert set(default.categorical_features) == {
        n for n in default.features if raw["columns"][n]["dtype"] == "category"
    }
    for name in (default.id_column, default.line_column, default.date_column, default.label):
        assert name not in default.features
    assert all(default.column(f).dtype not in ("text", "string", "date") for f in default.features)
    # every feature says what it describes, and none describes a person
    assert all(default.describes_of(f) in ("line", "disruption", "place") for f in default.features)


def test_default_column_details(default):
    assert default.column("origin_hub").allowed == (
        "london",
        "birmingham",
        "liverpool",
        "manchester",
        "other_hub",
        "local",
    )
    assert default.column("deal_numbers").min == 1
    assert default.column("runners_arrested").max_column == "runners"
    assert default.column("weeks_since_last_disruption").nullable
    assert default.column("disruption_id").unique
    assert default.column("disruption_date").not_future
    assert default.column_names[0] == "disruption_id"


def test_default_rules_and_concepts(default):
    assert [r.kind for r in default.rules] == ["iff", "implies"]
    assert [r.severity for r in default.rules] == ["error", "warning"]
    assert default.concept_of("exploited_children").four_ps == "protect"
    assert default.describe("contacts") == "customer contacts"
    every_concept = {c.name for c in default.concepts}
    assert all(default.column(f).concept in every_concept for f in default.features)


def test_load_by_path_equals_load_by_name(default):
    assert load_data_contract(DATA_CONFIGS / "default.yaml") == default


def test_unknown_data_config_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_data_contract("no_such_force", config_dir=tmp_path)
    assert "no_such_force" in str(info.value)


def test_from_dict_accepts_a_dictconfig(default):
    assert DataContract.from_dict(OmegaConf.load(DATA_CONFIGS / "default.yaml")) == default


def test_contract_pickles(default):
    assert pickle.loads(pickle.dumps(default)) == default


def test_contract_is_frozen(default):
    with pytest.raises(Exception):
        default.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# to_dict / from_dict
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "example_force"])
def test_round_trip_is_equal(name):
    contract = load_data_contract(name, config_dir=ROOT / "configs")
    assert DataContract.from_dict(contract.to_dict()) == contract


@pytest.mark.parametrize("name", ["default", "example_force"])
def test_round_trip_keeps_names_roles_dtypes_rules_and_concepts(name):
    contract = load_data_contract(name, config_dir=ROOT / "configs")
    again = DataContract.from_dict(contract.to_dict())
    assert again.name == contract.name
    assert again.column_names == contract.column_names
    assert again.features == contract.features
    assert again.label == contract.label and again.id_column == contract.id_column
    for a, b in zip(contract.columns, again.columns):
        assert (
            a.dtype,
            a.role,
            a.allowed,
            a.nullable,
            a.unique,
            a.max_column,
            a.label_text,
            a.concept,
        ) == (
            b.dtype,
            b.role,
            b.allowed,
            b.nullable,
            b.unique,
            b.max_column,
            b.label_text,
            b.concept,
        )
    assert again.rules == contract.rules
    assert again.concepts == contract.concepts
    assert (again.slices, again.cohort_column, again.horizon_weeks, again.contract_version) == (
        contract.slices,
        contract.cohort_column,
        contract.horizon_weeks,
        contract.contract_version,
    )


def test_to_dict_is_plain_data(default):
    d = default.to_dict()
    assert isinstance(d["columns"], dict) and isinstance(d["rules"], list)
    assert d["columns"]["origin_hub"]["allowed"] == list(default.column("origin_hub").allowed)
    # a plain dict survives YAML (how it is stored with a model)
    assert OmegaConf.to_container(OmegaConf.create(OmegaConf.to_yaml(OmegaConf.create(d)))) == d


def test_round_tripped_contract_still_refuses_negative_counts(default):
    import pandas as pd

    from resilience.core.errors import ContractError
    from resilience.data.validate import validate_frame

    again = DataContract.from_dict(default.to_dict())
    assert again.column("contacts").min == 0
    row = {
        "disruption_id": "SYN-D1",
        "line_id": "SYN-L1",
        "disruption_date": "2023-01-01",
        "policing_area": "A",
        "line_type": "imported",
        "origin_hub": "london",
        "line_age_weeks": "1",
        "deal_numbers": "1",
        "contacts": "-5",
        "bulk_texts_per_day": "0",
        "runners": "1",
        "exploited_children": "0",
        "exploited_adults": "0",
        "cuckooed_addresses": "0",
        "violence_12m": "0",
        "weapons_linked": "false",
        "ocg_linked": "false",
        "linked_lines": "0",
        "prior_disruptions": "0",
        "weeks_since_last_disruption": "",
        "commodity": "crack",
        "holder_arrested": "false",
        "closure_type": "none",
        "runners_arrested": "0",
        "handsets_seized": "0",
        "ddtro": "false",
        "closure_orders": "0",
        "ancillary_orders": "0",
        "safeguarding_referrals": "0",
        "drugs_seized_gbp": "0",
        "cash_seized_gbp": "0",
        "sustained_operation": "false",
        "disruption_grade": "minor",
    }
    with pytest.raises(ContractError):
        validate_frame(pd.DataFrame([row]), again, today=pd.Timestamp("2025-01-01"))


# --------------------------------------------------------------------------------------------
# Forbidden features
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "word", "characteristic"),
    [
        ("holder_ethnicity", "ethnicity", "race"),
        ("suspect_nationality", "nationality", "race"),
        ("runner_age", "age", "age"),
        ("age_of_holder", "age", "age"),
        ("offender_religion", "religion", "religion or belief"),
        ("victim_gender", "gender", "sex"),
        ("controller_sex", "sex", "sex"),
        ("holder_dob", "dob", "age"),
        ("runner_immigration_status", "immigration", "race"),
    ],
)
def test_forbidden_feature_is_refused(column, word, characteristic):
    message = refused(
        with_column(
            column, dtype="category", role="feature", describes="line", label_text="something"
        )
    )
    assert f"column '{column}'" in message
    assert "may not be a feature" in message
    assert (
        f"reads as '{word}'" in message
        and characteristic in message
        and "protected characteristic" in message
    )
    assert "data config 'default'" in message


def test_forbidden_feature_found_through_its_label_text():
    message = refused(
        with_column("hx", dtype="category", role="feature", label_text="Ethnicity of the holder")
    )
    assert "column 'hx'" in message and "'ethnicity'" in message


def test_line_age_weeks_stays_allowed(default):
    assert default.column("line_age_weeks").role == "feature"
    assert protected_reason("line_age_weeks", "weeks since the line was first known") is None
    config = with_column(
        "line_age_days",
        dtype="int",
        role="feature",
        describes="line",
        min=0,
        label_text="age of the line in days",
    )
    assert "line_age_days" in DataContract.from_dict(config).features


def test_protected_flag_is_refused_as_feature():
    message = refused(
        with_column("postcode_band", dtype="category", role="feature", protected=True)
    )
    assert "column 'postcode_band'" in message
    assert "it is declared protected" in message


def test_protected_column_may_be_context_only():
    contract = DataContract.from_dict(
        with_column("postcode_band", dtype="category", role="context", protected=True)
    )
    assert "postcode_band" not in contract.features


def test_protected_words_cannot_be_switched_off_by_config():
    # `protected: false` does not make an ethnicity column acceptable
    message = refused(
        with_column("holder_ethnicity", dtype="category", role="feature", protected=False)
    )
    assert "holder_ethnicity" in message


@pytest.mark.parametrize("column", ["holderEthnicity", "SuspectNationality", "RunnerAge"])
def test_camel_case_forbidden_feature_is_refused(column):
    refused(with_column(column, dtype="category", role="feature"))


@pytest.mark.parametrize("column", ["suspect_nationalities", "holder_ethnicities", "runner_ages"])
def test_plural_forbidden_feature_is_refused(column):
    refused(with_column(column, dtype="category", role="feature"))


@pytest.mark.parametrize("dtype", ["text", "string", "date"])
def test_text_string_and_date_features_are_refused(dtype):
    message = refused(with_column("officer_notes", dtype=dtype, role="feature"))
    assert "column 'officer_notes'" in message
    assert f"a {dtype} column cannot be a model feature" in message
    assert "role 'context'" in message


def test_text_column_as_context_is_fine():
    contract = DataContract.from_dict(
        with_column("officer_notes", dtype="text", role="context", nullable=True)
    )
    assert "officer_notes" not in contract.features


# --------------------------------------------------------------------------------------------
# Malformed configs
# --------------------------------------------------------------------------------------------


def test_unknown_column_key_is_refused():
    config = raw_config()
    config["columns"]["contacts"]["minimum"] = 0
    message = refused(config)
    assert "column 'contacts'" in message and "unknown key(s) ['minimum']" in message
    assert "did you mean 'min'?" in message and "allowed:" in message


@pytest.mark.parametrize(
    ("column", "key", "value", "expected"),
    [
        ("contacts", "nullable", "maybe", "nullable must be true or false, not 'maybe'"),
        ("contacts", "ageing", 3, "ageing must be true or false, not 3"),
        (
            "contacts",
            "label_text",
            ["a", "b"],
            "label_text must be a word or a name, not ['a', 'b']",
        ),
        ("contacts", "label_text", None, "label_text must be a word or a name, not None"),
        ("contacts", "dtype", None, "dtype must be a word or a name, not None"),
        ("contacts", "min", "zero", "min must be a number, not 'zero'"),
        ("contacts", "max_length", 50, "max_length applies to"),
        ("disruption_grade", "max_length", 2.5, "max_length must be a whole number"),
        ("disruption_grade", "allowed", ["minor", None], "'allowed' lists an empty value"),
    ],
)
def test_a_column_setting_of_the_wrong_type_is_refused_by_the_contract(
    column, key, value, expected
):
    """The contract is the one place a column's settings are checked (Hydra composes the columns
    untyped): every file it is built from, a data config or a model's stored contract, is held to it."""
    config = raw_config()
    config["columns"][column][key] = value
    message = refused(config)
    assert f"column '{column}'" in message and expected in message


@pytest.mark.parametrize("key", ["dtype", "role"])
def test_a_column_without_its_dtype_or_role_is_one_clear_refusal(key):
    config = raw_config()
    del config["columns"]["contacts"][key]
    message = refused(config)
    assert "column 'contacts'" in message and f"missing key(s) ['{key}']" in message


def test_a_number_or_a_yes_no_written_where_a_column_takes_a_word_is_that_word():
    """As ``allowed`` reads its levels: YAML's `no` is the level "False" in both."""
    config = raw_config()
    config["columns"]["contacts"]["label_text"] = 12
    config["columns"]["disruption_grade"]["allowed"] = ["minor", False]
    config["columns"]["disruption_grade"]["untreated"] = False
    contract = DataContract.from_dict(config)
    assert contract.column("contacts").label_text == "12"
    grade = contract.column("disruption_grade")
    assert grade.allowed == ("minor", "False") and grade.untreated == "False"


@pytest.mark.parametrize(
    ("summarises", "expected"),
    [
        (["no_such_column"], "names ['no_such_column']"),
        (["disruption_grade"], "names ['disruption_grade']"),  # itself
        (["disruption_date"], "names ['disruption_date']"),  # not a feature
        ("holder_arrested", "must be a list of columns"),
    ],
)
def test_a_summary_column_must_summarise_other_features(summarises, expected):
    config = raw_config()
    config["columns"]["disruption_grade"]["summarises"] = summarises
    message = refused(config)
    assert "column 'disruption_grade'" in message and expected in message


def test_the_default_grading_is_declared_a_summary_of_the_package(default):
    summarised = default.summaries["disruption_grade"]
    assert "holder_arrested" in summarised and "sustained_operation" in summarised
    assert set(summarised) <= set(default.features)


def test_unknown_concept_is_refused():
    config = raw_config()
    config["columns"]["contacts"]["concept"] = "customer_base"
    message = refused(config)
    assert "column 'contacts'" in message
    assert "concept 'customer_base' is not declared under 'concepts'" in message


def test_bad_role_is_refused():
    config = raw_config()
    config["columns"]["contacts"]["role"] = "target"
    message = refused(config)
    assert "column 'contacts'" in message and "role 'target' is not one of" in message


def test_bad_dtype_is_refused():
    config = raw_config()
    config["columns"]["contacts"]["dtype"] = "integer"
    message = refused(config)
    assert "column 'contacts'" in message and "dtype 'integer' is not one of" in message


def test_two_label_columns_are_refused():
    config = raw_config()
    config["columns"]["ddtro"]["role"] = "label"
    message = refused(config)
    assert "exactly one column must have role 'label'" in message
    assert "ddtro" in message and "persisted_12w" in message


@pytest.mark.parametrize("role", ["id", "line_id", "date", "label"])
def test_missing_single_role_is_refused(role):
    config = raw_config()
    for spec in config["columns"].values():
        if spec["role"] == role:
            spec["role"] = "context"
    message = refused(config)
    assert f"exactly one column must have role '{role}', found none" in message


def test_two_id_columns_are_refused():
    config = raw_config()
    config["columns"]["line_id"]["role"] = "id"
    message = refused(config)
    assert "exactly one column must have role 'id'" in message


def test_no_feature_is_refused():
    config = raw_config()
    for spec in config["columns"].values():
        if spec["role"] == "feature":
            spec["role"] = "context"
    assert "no column has role 'feature'" in refused(config)


def test_empty_columns_are_refused():
    config = raw_config()
    config["columns"] = {}
    assert "'columns' must map column names to their specs" in refused(config)


def test_bad_four_ps_is_refused():
    config = raw_config()
    config["concepts"]["area"]["four_ps"] = "punish"
    message = refused(config)
    assert "concept 'area'" in message and "four_ps 'punish'" in message


def test_bad_max_column_is_refused():
    config = raw_config()
    config["columns"]["runners_arrested"]["max_column"] = "runner_total"
    message = refused(config)
    assert (
        "column 'runners_arrested'" in message
        and "max_column 'runner_total' is not a column" in message
    )


@pytest.mark.parametrize("key", ["slices", "cohort_column"])
def test_unknown_slice_or_cohort_column_is_refused(key):
    config = raw_config()
    config[key] = ["area_code"] if key == "slices" else "area_code"
    assert "slice/cohort column 'area_code' is not a column" in refused(config)


def test_rule_on_unknown_column_is_refused():
    config = raw_config()
    config["rules"][0]["other"] = "line_kind"
    message = refused(config)
    assert (
        "rule 'local exactly when home-grown'" in message
        and "'line_kind' is not a column" in message
    )


@pytest.mark.parametrize(("key", "value"), [("kind", "xor"), ("severity", "fatal")])
def test_rule_with_bad_kind_or_severity_is_refused(key, value):
    config = raw_config()
    config["rules"][0][key] = value
    assert "kind must be iff/implies and severity error/warning" in refused(config)


def test_unknown_rule_key_is_a_config_error():
    config = raw_config()
    config["rules"][0]["colum"] = "origin_hub"
    refused(config)


def test_column_spec_that_is_not_a_mapping_is_a_config_error():
    config = raw_config()
    config["columns"]["contacts"] = "int"
    refused(config)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("concepts", ["area", "market"], "'concepts' must map concept names"),
        ("concepts", {"area": "Policing area"}, "'concepts' must map concept names"),
        ("rules", "local exactly when home-grown", "'rules' must be a list"),
        ("slices", "line_type", "'slices' must be a list of column names"),
        ("horizon_weeks", "twelve", "'horizon_weeks' must be a whole number"),
        ("contract_version", 1.5, "'contract_version' must be a whole number"),
        ("columns", ["contacts", "runners"], "'columns' must map column names"),
    ],
)
def test_malformed_config_shapes_are_config_errors_not_crashes(key, value, expected):
    # a config of the wrong shape is a ConfigError (which the commands report without a
    # traceback), never a TypeError/ValueError/AttributeError from deep inside from_dict
    config = raw_config()
    config[key] = value
    try:
        DataContract.from_dict(config)
    except ResilienceError as exc:
        assert isinstance(exc, ConfigError) and expected in str(exc)
    else:
        pytest.fail(f"{key}={value!r} was accepted")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("min", "zero", "min must be a number"),
        ("nullable", "yes", "nullable must be true or false"),
        ("allowed", "imported", "'allowed' must be a list"),
        ("describes", "brand", "describes 'brand' is not one of"),
    ],
)
def test_malformed_column_keys_are_config_errors(key, value, expected):
    config = raw_config()
    config["columns"]["contacts"][key] = value
    message = refused(config)
    assert "column 'contacts'" in message and expected in message


def test_a_config_that_is_not_a_mapping_is_a_config_error():
    with pytest.raises(ConfigError, match="must be a mapping"):
        DataContract.from_dict(["columns"])


def test_refusal_does_not_mutate_the_input():
    config = with_column("holder_ethnicity", dtype="category", role="feature")
    before = copy.deepcopy(config)
    refused(config)
    assert config == before


# --------------------------------------------------------------------------------------------
# example_force
# --------------------------------------------------------------------------------------------


def test_example_force_loads(example_force):
    assert example_force.name == "example_force"
    assert example_force.id_column == "ref"
    assert example_force.line_column == "line_ref"
    assert example_force.date_column == "date_of_action"
    assert example_force.label == "active_after_12w"
    assert example_force.cohort_column == "line_kind"
    assert example_force.slices == ("line_kind", "lpa")
    assert len(example_force.features) == 12


def test_example_force_text_column_is_not_a_feature(example_force):
    notes = example_force.column("officer_notes")
    assert notes.dtype == "text" and notes.role == "context"
    assert "officer_notes" not in example_force.features
    assert "officer_notes" not in example_force.categorical_features
    assert all(example_force.column(f).dtype != "text" for f in example_force.features)


def test_example_force_text_column_as_feature_is_refused():
    config = raw_config("example_force")
    config["columns"]["officer_notes"]["role"] = "feature"
    config["columns"]["officer_notes"]["concept"] = "market"
    message = refused(config)
    assert "data config 'example_force'" in message and "column 'officer_notes'" in message


# --------------------------------------------------------------------------------------------
# protected_reason itself
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "line_age_weeks",
        "contacts",
        "runners",
        "exploited_children",
        "average_line_age",
        "sustained_operation",
    ],
)
def test_ordinary_names_are_not_protected(name):
    assert protected_reason(name) is None


def test_every_default_feature_passes_the_protected_check(default):
    for name in default.features:
        assert protected_reason(name, default.column(name).label_text) is None, name


# --------------------------------------------------------------------------------------------
# Protected characteristics by declaration and by folded spelling (issue 15.2)
# --------------------------------------------------------------------------------------------

# Every name the red team got through the old word list.
RED_TEAM_NAMES = [
    "postcode",
    "ethnicgroup",
    "is_female",
    "male",
    "age",
    "holder_yob",
    "religiousaffiliation",
    "\u0435thnicity",
    "eth_nicity",
    "ethn1city",
    "colour",
    "muslim",
    "ethn!city",
    "re|igion",
    "m@le",
    "s3xuality",
    "p0stc0de",
    "ISFEMALE",
    "religion\u200b",
]
# One or more words for each of the Equality Act 2010's protected characteristics, and common proxies.
CHARACTERISTIC_WORDS = {
    "age": ["age", "date_of_birth", "year_of_birth", "dob", "yob", "birthday"],
    "disability": ["disability", "disabled", "impairment"],
    "gender reassignment": ["transgender", "gender_reassignment"],
    "marriage or civil partnership": ["marital_status", "married", "civil_partnership", "spouse"],
    "pregnancy or maternity": ["pregnant", "maternity"],
    "race": [
        "race",
        "ethnicity",
        "ethnic_group",
        "nationality",
        "skin_colour",
        "national_origin",
        "citizenship",
    ],
    "religion or belief": ["religion", "faith", "belief", "muslim", "christian", "sikh", "jewish"],
    "sex": ["sex", "gender", "female", "male", "woman"],
    "sexual orientation": ["sexual_orientation", "sexuality", "gay", "lesbian", "bisexual"],
    "proxy": [
        "postcode",
        "post_code",
        "first_name",
        "last_name",
        "surname",
        "forename",
        "full_name",
        "name",
        "holder_name",
    ],
}
# Names that must keep passing: lines, disruptions and places, including near misses.
ORDINARY_NAMES = [
    "line_age_weeks",
    "weapons_linked",
    "exploited_adults",
    "policing_area",
    "average_line_age",
    "sexual_exploitation_referrals",
    "traced_handsets",
    "pill_colour",
    "origin_hub",
    "broadcasts_per_day",
    "missed_calls",
    "manager_count",
    "violence_12m",
    "cuckooed_addresses",
    "deal_numbers",
    "area_name",
    "hub_name",
    "handset_origin",
]
CYRILLIC = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "c": "\u0441",
    "p": "\u0440",
    "x": "\u0445",
    "i": "\u0456",
}
LEET = {"i": "1", "e": "3", "o": "0", "a": "4", "s": "5", "t": "7"}


def variants(name: str) -> list[str]:
    """Ways an analyst (or an attacker) might spell the same column."""
    squashed = name.replace("_", "")
    words = name.split("_")
    out = {
        name,
        name.upper(),
        squashed,
        "-".join(words),
        " ".join(words),
        ".".join(words),
        words[0] + "".join(w.title() for w in words[1:]),  # camelCase
        "".join(w.title() for w in words),  # PascalCase
        "holder_" + name,
        "suspect" + name.title().replace("_", ""),  # a person's
        name + "s" if not name.endswith("s") else name,  # plural
        "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in name),  # fullwidth
        name[:2] + "\u200b" + name[2:],  # zero-width space
        name[: len(name) // 2] + "_" + name[len(name) // 2 :],  # split mid-word
    }
    for table in (CYRILLIC, LEET):
        for letter, swap in table.items():
            if letter in name:
                out.add(name.replace(letter, swap, 1))
    return sorted(out)


def feature_config(name: str, **spec) -> dict:
    return with_column(
        name, **{"dtype": "category", "role": "feature", "describes": "line", **spec}
    )


@pytest.mark.parametrize("name", RED_TEAM_NAMES)
def test_red_team_feature_names_are_refused(name):
    message = refused(feature_config(name))
    assert (
        f"column '{name}' may not be a feature" in message and "protected characteristic" in message
    )


@pytest.mark.parametrize("characteristic", sorted(CHARACTERISTIC_WORDS))
def test_every_characteristic_is_refused_in_every_spelling(characteristic):
    accepted = [
        v
        for word in CHARACTERISTIC_WORDS[characteristic]
        for v in variants(word)
        if not protected_reason(v)
    ]
    assert not accepted, f"{characteristic}: accepted {accepted}"


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_line_and_disruption_names_pass(name):
    assert protected_reason(name) is None
    assert (
        name in DataContract.from_dict(feature_config(name, dtype="int")).features
        or name in raw_config()["columns"]
    )


@pytest.mark.parametrize("config_name", ["default", "example_force"])
def test_every_column_of_the_shipped_configs_passes(config_name):
    config = raw_config(config_name)
    for name, spec in config["columns"].items():
        assert protected_reason(name, spec.get("label_text", "")) is None, name
    for concept in config["concepts"].values():
        assert protected_reason(concept["label_text"]) is None, concept


def test_names_are_folded_before_matching():
    assert fold("\u0435th_N1city") == "eth nicity"  # Cyrillic e, separator, leet
    assert "".join(fold("\uff25\uff34\uff28\uff2e\uff29\uff23").split()) == "ethnic"  # fullwidth
    assert fold("M\u00e4le") == "male"  # accents removed


def test_a_feature_must_declare_what_it_describes():
    config = with_column("handsets_examined", dtype="int", role="feature", min=0)
    message = refused(config)
    assert "feature 'handsets_examined' does not declare what it describes" in message
    assert "describes: line" in message


def test_a_feature_declared_to_describe_a_person_is_refused():
    message = refused(feature_config("handsets_examined", dtype="int", describes="person"))
    assert (
        "column 'handsets_examined' may not be a feature because it is declared to describe a person"
        in message
    )


def test_a_context_column_may_describe_a_person_or_nothing():
    config = with_column(
        "officer_notes", dtype="text", role="context", nullable=True, describes="person"
    )
    assert DataContract.from_dict(config).describes_of("officer_notes") == "person"
    assert (
        DataContract.from_dict(with_column("notes", dtype="text", role="context")).describes_of(
            "notes"
        )
        is None
    )


@pytest.mark.parametrize("config_name", ["default", "example_force"])
def test_every_shipped_feature_declares_line_disruption_or_place(config_name):
    contract = load_data_contract(config_name, config_dir=ROOT / "configs")
    declared = {f: contract.describes_of(f) for f in contract.features}
    assert set(declared.values()) <= {"line", "disruption", "place"} and all(declared.values()), (
        declared
    )
    again = DataContract.from_dict(contract.to_dict())
    assert {f: again.describes_of(f) for f in again.features} == declared


def test_default_declarations_match_the_meaning_of_the_columns(default):
    assert default.describes_of("policing_area") == "place"
    assert default.describes_of("contacts") == "line"
    assert default.describes_of("holder_arrested") == "disruption"


# --------------------------------------------------------------------------------------------
# Text length caps
# --------------------------------------------------------------------------------------------


def test_text_columns_have_a_length_cap(default, example_force):
    assert default.column("disruption_id").text_limit == 256
    assert example_force.column("officer_notes").text_limit == 10_000
    assert default.column("contacts").text_limit is None


def test_max_length_is_configurable_and_round_trips():
    config = raw_config()
    config["columns"]["disruption_id"]["max_length"] = 20
    contract = DataContract.from_dict(config)
    assert contract.column("disruption_id").text_limit == 20
    assert DataContract.from_dict(contract.to_dict()).column("disruption_id").text_limit == 20


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("disruption_id", 0, "max_length must be a whole number of characters >= 1"),
        ("disruption_id", "long", "max_length must be a whole number of characters >= 1"),
        ("contacts", 10, "max_length applies to"),
    ],
)
def test_bad_max_length_is_refused(column, value, expected):
    config = raw_config()
    config["columns"][column]["max_length"] = value
    message = refused(config)
    assert f"column '{column}'" in message and expected in message
