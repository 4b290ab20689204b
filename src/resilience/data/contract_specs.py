"""The pieces a data contract is made of: a column (:class:`ColumnSpec`), a concept
(:class:`ConceptSpec`) and a cross-column rule (:class:`RuleSpec`), the vocabularies they draw on
(dtypes, roles, the four Ps, what a column describes), and reading each from a data config.
:class:`~resilience.data.contract.DataContract` assembles and checks them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resilience.core.errors import ConfigError, nearest

DTYPES = ("string", "category", "int", "float", "bool", "date", "text")
ROLES = ("id", "line_id", "date", "feature", "label", "context", "group")
FOUR_PS = ("pursue", "prepare", "protect", "prevent", "context")
SINGLE_ROLES = ("id", "line_id", "date", "label")
# the roles whose columns hold ids: matched exactly, so checked for lookalikes and spaces
ID_ROLES = ("id", "line_id", "group")
# Columns the toolkit derives rather than reads (see resilience.data.contract's docstring), and the dtypes each may take.
DERIVED = {"record_age": ("int",)}
# The group column holds ids shared by several lines (an organised crime group): text-like only.
GROUP_DTYPES = ("string", "category")

# What a feature describes. A model of lines may use facts about the line, the disruption and the
# place; a feature that describes a person is refused, and so is one that does not say.
DESCRIBES = ("line", "disruption", "place", "person")
ALLOWED_DESCRIBES = ("line", "disruption", "place")
# Longest text accepted in a column of each text-like dtype unless the column sets max_length.
DEFAULT_MAX_LENGTH = {"string": 256, "category": 256, "text": 10_000}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the extract, as the data config declares it."""

    name: str
    dtype: str
    role: str
    label_text: str = ""
    concept: str | None = None
    nullable: bool = False
    unique: bool = False
    min: float | None = None
    max: float | None = None
    max_column: str | None = None
    allowed: tuple[str, ...] | None = None
    not_future: bool = False
    protected: bool = False
    describes: str | None = None
    max_length: int | None = None

    @property
    def text_limit(self) -> int | None:
        """The longest value accepted (text-like dtypes only): ``max_length`` or the dtype's default."""
        return (
            self.max_length if self.max_length is not None else DEFAULT_MAX_LENGTH.get(self.dtype)
        )

    ageing: bool = False  # an age/history field that shifts as the panel ages: drift is information, not an alert
    # a tactic's place in the order tactics follow one another (1, 2, ...; None: not a tactic)
    tactic: int | None = None
    # derived by the toolkit, not read from the extract (``record_age``: resilience.data.record_age)
    derived: str | None = None
    # the feature columns this one summarises (e.g. a force's grading of the package it grades): it
    # is named in a reason only where it carries an effect of its own (resilience.explain.screen)
    summarises: tuple[str, ...] | None = None
    # a category tactic: the level that means the tactic was not given (its review is "any other level against it")
    untreated: str | None = None
    # one value for every disruption of a line (error | warning: what a line recorded with two is)
    per_line: str | None = None

    @property
    def is_categorical(self) -> bool:
        return self.dtype == "category"

    def expected(self) -> str:
        """What a valid value looks like, in words, for error messages."""
        parts = {
            "string": "a non-empty string",
            "text": "text",
            "category": "one of " + ", ".join(self.allowed)
            if self.allowed
            else "a non-empty category",
            "int": "a whole number",
            "float": "a number",
            # the words resilience.data.parse reads (tests/test_validate.py holds the two together)
            "bool": "true/false, yes/no, t/f, y/n or 1/0 (any case)",
            "date": "an ISO date (YYYY-MM-DD, or with a time: YYYY-MM-DDTHH:MM:SS+01:00)",
        }
        text = parts[self.dtype]
        if self.min is not None:
            text += f" >= {self.min:g}"
        if self.max is not None:
            text += f" <= {self.max:g}"
        if self.max_column:
            text += f" and <= {self.max_column}"
        return text


@dataclass(frozen=True)
class ConceptSpec:
    """A group of columns a commander reasons about as one thing."""

    name: str
    label_text: str
    four_ps: str


@dataclass(frozen=True)
class RuleSpec:
    """A rule across two columns: ``iff`` (a == v <=> b == w) or ``implies`` (a == v => b == w)."""

    name: str
    kind: str
    column: str
    value: Any
    other: str
    other_value: Any
    severity: str = "error"


def columns_from(raw: Any, where: str) -> tuple[ColumnSpec, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}: 'columns' must map column names to their specs")
    known = {f for f in ColumnSpec.__dataclass_fields__} - {"name"}
    columns = []
    for col_name, spec in raw.items():
        if spec is not None and not isinstance(spec, Mapping):
            raise ConfigError(
                f"{where}, column '{col_name}': expected a mapping of keys "
                f"(dtype, role, ...), got {spec!r}"
            )
        spec = dict(spec or {})
        here = f"{where}, column '{col_name}'"
        unknown = set(spec) - known
        if unknown:
            close = [f"'{m}'" for m in (nearest(k, known) for k in sorted(unknown)) if m]
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ConfigError(
                f"{here}: unknown key(s) {sorted(unknown)}; {hint}allowed: {sorted(known)}"
            )
        missing = [key for key in REQUIRED_KEYS if key not in spec]
        if missing:
            raise ConfigError(
                f"{here}: missing key(s) {missing}: every column says its "
                f"dtype (one of {DTYPES}) and its role (one of {ROLES})"
            )
        for key in TEXT_KEYS & set(spec):
            spec[key] = _text_value(spec[key], key, here)
        if spec.get("allowed") is not None:
            spec["allowed"] = _words(
                spec["allowed"],
                "allowed",
                "a list",
                "an empty value; an empty cell is allowed with `nullable: true`",
                here,
            )
        if spec.get("summarises") is not None:
            spec["summarises"] = _words(
                spec["summarises"], "summarises", "a list of columns", "an empty column name", here
            )
        columns.append(ColumnSpec(name=str(col_name), **spec))
    return tuple(columns)


# the keys of a column that hold a word or a name: a number or a yes/no written there is that text
# (`untreated: 0` is the level "0", `untreated: no` the level "False", as `allowed` reads them); the
# contract checks each against its vocabulary or the columns it names
TEXT_KEYS = frozenset(
    {
        "dtype",
        "role",
        "label_text",
        "concept",
        "max_column",
        "describes",
        "derived",
        "untreated",
        "per_line",
    }
)
REQUIRED_KEYS = ("dtype", "role")
NOT_EMPTY = frozenset({"dtype", "role", "label_text"})  # the others may be null: not set


def _text_value(value: Any, key: str, where: str) -> str | None:
    if value is None and key not in NOT_EMPTY:
        return value
    if isinstance(value, (str, int, float)):  # bool is an int
        return str(value)
    raise ConfigError(f"{where}: {key} must be a word or a name, not {value!r}")


def _words(value: Any, key: str, kind: str, empty: str, where: str) -> tuple[str, ...]:
    """A column's list of levels or of column names, as text (YAML's `no` is the level "False")."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: '{key}' must be {kind}, not {value!r}")
    if any(v is None for v in value):
        raise ConfigError(f"{where}: '{key}' lists {empty}")
    return tuple(str(v) for v in value)


def concepts_from(raw: Any, where: str) -> tuple[ConceptSpec, ...]:
    raw = raw or {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for v in raw.values()):
        raise ConfigError(
            f"{where}: 'concepts' must map concept names to {{label_text, four_ps}}, not {raw!r:.80}"
        )
    return tuple(
        ConceptSpec(
            name=str(k),
            label_text=str(v.get("label_text", k)),
            four_ps=str(v.get("four_ps", "context")),
        )
        for k, v in raw.items()
    )


def rules_from(raw: Any, where: str) -> tuple[RuleSpec, ...]:
    raw = raw or []
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(f"{where}: 'rules' must be a list of rules, not {raw!r:.80}")
    keys = set(RuleSpec.__dataclass_fields__)
    required = {"name", "kind", "column", "value", "other", "other_value"}
    rules = []
    for r in raw:
        if not isinstance(r, Mapping) or set(r) - keys or required - set(r):
            raise ConfigError(
                f"{where}: rule {r!r} must be a mapping with keys {sorted(keys)} (severity optional)"
            )
        rules.append(RuleSpec(**dict(r)))
    return tuple(rules)


PER_LINE = ("error", "warning")


def per_line_refusal(column: ColumnSpec) -> str | None:
    """Why ``column`` cannot be ``per_line`` (None: it can, or does not ask to be). A per-line
    column holds one value for every disruption of a line (its type, where it is run from): it
    describes the line, so neither the row's id, line, date or label nor a fact about the
    disruption can be one."""
    if column.per_line is None:
        return None
    if column.per_line not in PER_LINE:
        return (
            f"per_line must be 'error' (a line recorded with two different values is refused) or "
            f"'warning' (reported and kept), not {column.per_line!r}"
        )
    if column.role in SINGLE_ROLES or column.describes == "disruption":
        return (
            "per_line marks a fact about the line, the same for all its disruptions; this column "
            f"(role '{column.role}', describes '{column.describes}') changes from row to row"
        )
    return None


def whole_number(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: '{key}' must be a whole number, not {value!r}")
    return value


def same_as_default(value: Any, default: Any) -> bool:
    """Equal to the field default, without 0 == False confusing the two."""
    return type(value) is type(default) and value == default


def plain_config(config: Any) -> Any:
    """DictConfig -> plain containers, leaving plain dicts alone (no Hydra needed to build one)."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            return OmegaConf.to_container(config, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra, a hard dependency
        pass
    return dict(config) if isinstance(config, Mapping) else config
