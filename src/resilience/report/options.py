"""Options under the four Ps, in words: the playbook in force (from the week's manifest) and, for
each named line, the rules that hold for its record (the ``option_<rule>`` columns scoring wrote).

Options are policy, not model output: the words say "options to consider", never "recommended".
A rule that rests on something not yet recorded says how old the record is, "no referral recorded;
record 3 days old": the week's as-of date (its latest disruption date, the day the extract reaches)
minus the disruption's date, because a package is keyed in over the weeks after a disruption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from resilience.core.week_files import OPTION_PREFIX
from resilience.data.contract import DataContract
from resilience.report.words import FOUR_PS_WORDS, clean_text, plural, slice_value_text

_TESTS = {"is": "{label}: {value}", "in": "{label} is {value}"}
_TESTS["at_least"] = "{label}: at least {value}"
_TESTS["at_most"] = "{label}: at most {value}"


def playbook_rules(playbook: Mapping[str, Any]) -> list[dict]:
    """The rules recorded in the manifest (each a mapping with a name), in the playbook's order."""
    return [r for r in (playbook.get("rules") or []) if isinstance(r, Mapping) and r.get("name")]


def as_of_date(rows: pd.DataFrame) -> pd.Timestamp | None:
    """The week's as-of date: its latest disruption date (None when the week has no dates)."""
    if "disruption_date" not in rows.columns or not len(rows):
        return None
    latest = pd.to_datetime(rows["disruption_date"].astype(str), errors="coerce").max()
    return None if pd.isna(latest) else latest.normalize()


def record_age_days(disruption_date: Any, as_of: pd.Timestamp | None) -> int | None:
    """Whole days from the disruption to the week's as-of date (None when either is unknown)."""
    if as_of is None:
        return None
    try:
        day = date.fromisoformat(clean_text(disruption_date)[:10])
    except ValueError:
        return None
    return max((as_of.date() - day).days, 0)


def age_words(days: int | None) -> str:
    """ "record 3 days old" ("" when unknown)."""
    return "" if days is None else f"record {plural(days, 'day')} old"


def strand_words(strand: Any) -> str:
    return FOUR_PS_WORDS.get(str(strand), clean_text(strand).title())


def line_options(row: Mapping[str, Any], rules: Sequence[Mapping], as_of) -> list[dict]:
    """The options whose rule holds for this line's record, in the playbook's order."""
    options = []
    for rule in rules:
        value = row.get(OPTION_PREFIX + str(rule["name"]))
        if value is None or pd.isna(value) or not bool(value):
            continue
        evidence = clean_text(rule.get("evidence"))
        age = age_words(record_age_days(row.get("disruption_date"), as_of))
        basis = f"{evidence}; {age}" if rule.get("unrecorded") and age else evidence
        strand = strand_words(rule.get("strand"))
        option = clean_text(rule.get("option"))
        options.append(
            {
                "name": clean_text(rule["name"]),
                "strand": strand,
                "option": option,
                "short": clean_text(rule.get("short") or str(rule["name"]).replace("_", " ")),
                "basis": basis,
                "evidence": evidence,
                "unrecorded": bool(rule.get("unrecorded")),
                "text": f"{strand}: {option} ({basis})",
            }
        )
    return options


def compact_options(options: Sequence[Mapping[str, Any]], age: str) -> dict | None:
    """Page 1's form of a line's options: the strands and short words on one line, then what the
    record showed, with its age once ("no referral recorded; holder not recorded as arrested;
    record 3 days old"), so the whole shortlist fits on page 1. None when no rule holds."""
    if not options:
        return None
    evidence = list(dict.fromkeys(o["evidence"] for o in options if o["evidence"]))
    if age and any(o["unrecorded"] for o in options):
        evidence.append(age)
    return {
        "items": [f"{o['strand']}: {o['short']}" for o in options],
        "basis": "; ".join(evidence),
    }


def _condition_words(condition: Mapping[str, Any], contract: DataContract) -> str:
    column = str(condition.get("column", ""))
    test = next((k for k in condition if k in _TESTS), None)
    if test is None:
        return clean_text(condition)
    label = contract.describe(column) if column in contract.column_names else clean_text(column)
    value = condition[test]
    if test == "is":
        value = "yes" if value else "no"
    elif test == "in":
        value = " or ".join(slice_value_text(contract, column, v) for v in value)
    return _TESTS[test].format(label=label, value=value)


def when_words(rule: Mapping[str, Any], contract: DataContract) -> str:
    """A rule's conditions in words: "exploited children identified: at least 1 or ...; and ..."."""
    parts = []
    for item in rule.get("when") or []:
        if isinstance(item, Mapping) and "any" in item:
            parts.append(" or ".join(_condition_words(c, contract) for c in item["any"]))
        elif isinstance(item, Mapping):
            parts.append(_condition_words(item, contract))
    return "; and ".join(parts)


def option_counts(rows: pd.DataFrame, rules: Sequence[Mapping]) -> dict[str, int]:
    """How many of the week's lines each rule holds for (0 when the week has no such column)."""
    counts = {}
    for rule in rules:
        column = OPTION_PREFIX + str(rule["name"])
        values = rows[column] if column in rows.columns else pd.Series(False, index=rows.index)
        counts[str(rule["name"])] = int(np.count_nonzero(values.fillna(False).astype(bool)))
    return counts


def playbook_section(
    playbook: Mapping[str, Any], contract: DataContract, rows: pd.DataFrame
) -> dict | None:
    """The options in force this week, as the briefing prints them (None: no playbook recorded)."""
    rules = playbook_rules(playbook)
    if not rules:
        return None
    counts = option_counts(rows, rules)
    return {
        "name": clean_text(playbook.get("name")),
        "rows": [
            {
                "strand": strand_words(rule.get("strand")),
                "option": clean_text(rule.get("option")),
                "when": when_words(rule, contract),
                "rests_on": contract.describe(str(rule.get("rests_on")))
                if str(rule.get("rests_on")) in contract.column_names
                else clean_text(rule.get("rests_on")),
                "unrecorded": bool(rule.get("unrecorded")),
                "why": clean_text(rule.get("why")),
                "lines": counts[str(rule["name"])],
            }
            for rule in rules
        ],
    }
