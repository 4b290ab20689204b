"""Options under the four Ps: a playbook in config, a policy set by people, never learned.

The model says how likely a line is to persist; the harm index how much harm it does. Neither says
what to do. ``configs/playbook/<data config>.yaml`` lists **rules drawn from the line's own record**
("line holder not recorded as arrested -> Pursue: target the line holder"), each with its reasoning.
A rule is an option to consider, not a recommendation of the model:

* it reads only columns of the data config (never the label, never a score, never an estimate of
  what works), and is never a model input;
* its strand is the data config's ``four_ps`` of the concept of the column it ``rests_on`` (so a
  force that files closure orders under Protect sees them under Protect), never a literal here;
* a value that is not recorded counts as nothing recorded (as in the harm index), so a rule that
  rests on an absence ("no referral recorded") says so with ``unrecorded: true``, and the report
  prints how old the record is.

Scoring evaluates the rules on each chunk and writes one yes/no column per rule
(``option_<rule>``, :data:`~resilience.core.week_files.OPTION_PREFIX`); the manifest records the
playbook in force, so a briefing rebuilt later prints the options that were in force that week.

Conditions, all of which must hold (an ``any:`` entry holds when one of its entries does)::

    {column: holder_arrested, is: false}          # a yes/no column
    {column: closure_type, in: [type1]}           # a category (values from the data config)
    {column: exploited_children, at_least: 1}     # a number (also at_most)

>>> playbook = load_playbook(None, load_data_contract("default"))  # doctest: +SKIP
>>> playbook.columns(frame)                 # option_<rule> per row, True where the rule holds  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError
from resilience.core.week_files import OPTION_PREFIX
from resilience.data.contract import DataContract
from resilience.weekly.policy_config import read_policy_config

STRANDS = ("pursue", "prepare", "protect", "prevent")  # four_ps an option may take (not context)
_OPERATORS = {"is": ("bool",), "in": ("category", "string"), "at_least": ("int", "float")}
_OPERATORS["at_most"] = _OPERATORS["at_least"]
_READABLE_ROLES = ("feature", "context", "group")  # never the label, an id or the date
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TEXT_KEYS = ("option", "evidence", "why")


@dataclass(frozen=True)
class Condition:
    """One test on one column of the record; a value not recorded counts as nothing recorded."""

    column: str
    operator: str
    value: Any

    def holds(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[self.column]
        if self.operator == "is":
            recorded = values.astype("boolean").fillna(False).to_numpy(dtype=bool)
            return recorded == bool(self.value)
        if self.operator == "in":
            text = values.astype(object).where(values.notna(), "").astype(str)
            return text.isin([str(v) for v in self.value]).to_numpy()
        numbers = pd.to_numeric(values, errors="coerce").fillna(0.0).to_numpy(dtype=float)
        limit = float(self.value)
        return numbers >= limit if self.operator == "at_least" else numbers <= limit

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"column": self.column, self.operator: value}


@dataclass(frozen=True)
class PlaybookRule:
    """One option: when it applies (``when``: all must hold; an inner tuple is an ``any``), the
    column it rests on and so its strand, and the words the briefing prints."""

    name: str
    when: tuple[tuple[Condition, ...], ...]
    rests_on: str
    strand: str
    option: str
    evidence: str
    why: str
    unrecorded: bool = False
    short: str = ""  # a few words for tight places (the protect list, the annex)

    @property
    def output_column(self) -> str:
        return OPTION_PREFIX + self.name

    def holds(self, frame: pd.DataFrame) -> np.ndarray:
        result = np.ones(len(frame), dtype=bool)
        for alternatives in self.when:
            result &= np.logical_or.reduce([c.holds(frame) for c in alternatives])
        return result

    def to_dict(self) -> dict[str, Any]:
        when = [
            group[0].to_dict() if len(group) == 1 else {"any": [c.to_dict() for c in group]}
            for group in self.when
        ]
        return {
            "name": self.name,
            "when": when,
            "rests_on": self.rests_on,
            "strand": self.strand,
            "option": self.option,
            "evidence": self.evidence,
            "why": self.why,
            "short": self.short or self.name.replace("_", " "),
            "unrecorded": self.unrecorded,
            "columns": sorted({c.column for group in self.when for c in group}),
        }


@dataclass(frozen=True)
class Playbook:
    """The rules in force for one data config, and the column that grades a disruption (for the
    group view: the latest disruption of a group, graded as the data config's values say)."""

    name: str
    data_config: str
    rules: tuple[PlaybookRule, ...]
    grade_column: str | None = None
    grades: tuple[str, ...] = ()  # the grade's values, lightest first (the data config's order)

    def columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row: ``option_<rule>`` (True where the rule holds) and the grade, if declared."""
        out = pd.DataFrame(
            {rule.output_column: rule.holds(frame) for rule in self.rules}, index=frame.index
        )
        if self.grade_column:
            grade = frame[self.grade_column]
            out[self.grade_column] = grade.astype(object).where(grade.notna(), "").astype(str)
        return out.reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """The playbook as recorded in the week's manifest (and printed in the briefing)."""
        return {
            "name": self.name,
            "data_config": self.data_config,
            "rules": [rule.to_dict() for rule in self.rules],
            "grade_column": self.grade_column,
            "grades": list(self.grades),
        }


def _condition(where: str, raw: Any, contract: DataContract) -> Condition:
    if not isinstance(raw, Mapping) or "column" not in raw:
        raise ConfigError(f"{where}: each condition is {{column: <name>, <test>: <value>}}")
    column = str(raw["column"])
    tests = [k for k in raw if k != "column"]
    if len(tests) != 1 or tests[0] not in _OPERATORS:
        raise ConfigError(
            f"{where}, column '{column}': give exactly one test of {sorted(_OPERATORS)}, got {tests}"
        )
    operator, value = tests[0], raw[tests[0]]
    if column not in contract.column_names:
        raise ConfigError(
            f"{where}: column '{column}' is not a column of data config '{contract.name}'"
        )
    spec = contract.column(column)
    if spec.role not in _READABLE_ROLES:
        raise ConfigError(
            f"{where}: column '{column}' has role '{spec.role}'; a rule reads the line's record "
            f"(roles {_READABLE_ROLES}), never the label, an id or the date"
        )
    if spec.dtype not in _OPERATORS[operator]:
        raise ConfigError(
            f"{where}, column '{column}' ({spec.dtype}): test '{operator}' applies to "
            f"{_OPERATORS[operator]} columns"
        )
    return Condition(column, operator, _value(where, column, operator, value, spec.allowed))


def _value(where: str, column: str, operator: str, value: Any, allowed) -> Any:
    if operator == "is" and not isinstance(value, bool):
        raise ConfigError(f"{where}, column '{column}': 'is' takes true or false, not {value!r}")
    if operator == "in":
        if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence) or not value:
            raise ConfigError(f"{where}, column '{column}': 'in' takes a list of values")
        unknown = [v for v in value if allowed and str(v) not in allowed]
        if unknown:
            raise ConfigError(
                f"{where}, column '{column}': {unknown} not among its values {list(allowed)}"
            )
        return tuple(str(v) for v in value)
    if operator in ("at_least", "at_most") and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        raise ConfigError(f"{where}, column '{column}': '{operator}' takes a number")
    return value


def _when(where: str, raw: Any, contract: DataContract) -> tuple[tuple[Condition, ...], ...]:
    if isinstance(raw, Mapping) or not isinstance(raw, Sequence) or not raw:
        raise ConfigError(f"{where}: 'when' must be a non-empty list of conditions")
    groups = []
    for item in raw:
        if isinstance(item, Mapping) and "any" in item:
            inner = item["any"]
            if isinstance(inner, Mapping) or not isinstance(inner, Sequence) or not inner:
                raise ConfigError(f"{where}: 'any' must be a non-empty list of conditions")
            groups.append(tuple(_condition(where, c, contract) for c in inner))
        else:
            groups.append((_condition(where, item, contract),))
    return tuple(groups)


def _rule(where: str, name: str, raw: Any, contract: DataContract) -> PlaybookRule:
    where = f"{where}, rule '{name}'"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with when, rests_on, option, evidence, why")
    if not _NAME.match(name):
        raise ConfigError(f"{where}: rule names are lower-case letters, digits and _")
    unknown = set(raw) - {"when", "rests_on", "unrecorded", "short", *_TEXT_KEYS}
    missing = [k for k in ("when", "rests_on", *_TEXT_KEYS) if not raw.get(k)]
    if unknown or missing:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)}, missing {missing} "
            "(every rule needs when, rests_on, option, evidence and its reasoning in why)"
        )
    rests_on = str(raw["rests_on"])
    if rests_on not in contract.column_names or not contract.column(rests_on).concept:
        raise ConfigError(
            f"{where}: rests_on '{rests_on}' must be a column of data config '{contract.name}' "
            "with a concept (the option takes its four-Ps strand from it)"
        )
    strand = contract.concept_of(rests_on).four_ps
    if strand not in STRANDS:
        raise ConfigError(
            f"{where}: rests_on '{rests_on}' belongs to concept "
            f"'{contract.concept_of(rests_on).name}', whose four_ps is '{strand}'; an option "
            f"rests on a policing strand {STRANDS}"
        )
    if not isinstance(raw.get("unrecorded", False), bool):
        raise ConfigError(f"{where}: unrecorded must be true or false")
    return PlaybookRule(
        name=name,
        when=_when(where, raw["when"], contract),
        rests_on=rests_on,
        strand=strand,
        unrecorded=bool(raw.get("unrecorded", False)),
        short=" ".join(str(raw.get("short") or name.replace("_", " ")).split()),
        **{key: " ".join(str(raw[key]).split()) for key in _TEXT_KEYS},
    )


def _grade(where: str, raw: Any, contract: DataContract) -> tuple[str | None, tuple[str, ...]]:
    """The grading column of the group view (``groups: {grade: <column>}``), if any."""
    if not raw:
        return None, ()
    column = str(raw.get("grade") or "") if isinstance(raw, Mapping) else ""
    spec = contract.column(column) if column in contract.column_names else None
    if spec is None or spec.dtype != "category" or not spec.allowed or spec.role == "label":
        raise ConfigError(
            f"{where}: groups.grade must name a category column of data config "
            f"'{contract.name}' with its values listed, lightest first (got {column!r})"
        )
    return column, tuple(spec.allowed)


def playbook_from_dict(config: Mapping[str, Any], name: str, contract: DataContract) -> Playbook:
    """A checked playbook for ``contract``; a :class:`ConfigError` names the rule and key at fault."""
    where = f"playbook config '{name}'"
    data_config = str(config.get("data_config", name))
    if data_config != contract.name:
        raise ConfigError(
            f"{where} is written for data config '{data_config}', but the model was trained on "
            f"'{contract.name}'; write configs/playbook/{contract.name}.yaml"
        )
    raw = config.get("rules")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}: 'rules' must map rule names to their when, option and why")
    unknown = set(config) - {"data_config", "rules", "groups"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    rules = tuple(_rule(where, str(key), spec, contract) for key, spec in raw.items())
    grade_column, grades = _grade(where, config.get("groups"), contract)
    return Playbook(name, data_config, rules, grade_column, grades)


def load_playbook(
    name: str | None, contract: DataContract, config_dir: Path | None = None
) -> Playbook | None:
    """``configs/playbook/<name>.yaml`` (by default named after the model's data config). With no
    name and no such file, None (the briefing then says no playbook was in force); a named playbook
    that is missing or does not fit the data config is a :class:`ConfigError`."""
    found = read_policy_config("playbook", name, contract.name, config_dir)
    if found is None:
        return None
    raw, path = found
    return playbook_from_dict(raw, path.stem, contract)
