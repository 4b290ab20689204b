"""Build a data config around one case of tests/fixtures/{protected_heldout,legitimate_police}.yaml.

Shared by the guard's tests (and runnable on its own to print both rates):
``python tests/protected_cases.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

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
    spec: dict = {"dtype": "category", "role": "feature", "describes": case.get("describes", "line")}
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
    from resilience.data.contract import DataContract
    from resilience.errors import ConfigError

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


if __name__ == "__main__":
    refused, false_rate, missed, false = rates()
    print(f"held-out refused: {refused:.1%}; legitimate refused: {false_rate:.1%}")
    for line in missed:
        print("  missed:", line)
    for line in false:
        print("  false refusal:", line)
