"""The data contract: which columns an extract has, their types, rules and roles.

A contract is built from a data config (``configs/data/<name>.yaml``) and is the single place the
rest of the toolkit asks "which columns are features?", "what is the label?", "what does a
commander call this column?". It is a plain frozen dataclass, so it pickles with a model and
round-trips through ``to_dict`` / ``from_dict``.

Example
-------
>>> contract = load_data_contract("default")
>>> contract.label
'persisted_12w'
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from resilience.errors import ConfigError

DTYPES = ("string", "category", "int", "float", "bool", "date", "text")
ROLES = ("id", "line_id", "date", "feature", "label", "context")
FOUR_PS = ("pursue", "prepare", "protect", "prevent", "context")
SINGLE_ROLES = ("id", "line_id", "date", "label")

# Words that mark a protected characteristic of a person. A column whose name or plain-English
# label contains one of these as a word is refused as a feature. This list is policy, kept in code
# on purpose: a data config cannot switch it off.
PROTECTED_WORDS = frozenset(
    {
        "ethnic", "ethnicity", "race", "racial", "religion", "religious", "faith", "belief",
        "nationality", "citizenship", "immigration", "asylum", "sex",
        "gender", "sexuality", "orientation", "transgender", "disability", "disabled",
        "pregnancy", "pregnant", "marital", "married", "skin", "complexion", "birthplace",
        "dob", "birth", "caste", "tribe", "language", "accent",
    }
)
# "age" is only a protected characteristic when it is a person's: line_age_weeks is fine.
PERSON_WORDS = frozenset(
    {"holder", "runner", "runners", "suspect", "offender", "person", "people", "victim",
     "child", "children", "adult", "controller", "member", "members"}
)


def _words(text: str) -> set[str]:
    """Lower-case words of a name or label, camelCase split, with simple plurals also singular."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    words = set(re.findall(r"[a-z]+", text.lower()))
    singular = {w[:-3] + "y" for w in words if w.endswith("ies")} | {w[:-1] for w in words if w.endswith("s")}
    return words | singular


def protected_reason(name: str, label_text: str = "") -> str | None:
    """Why a column describes a protected characteristic of a person, or None if it does not."""
    words = _words(name.replace("_", " ")) | _words(label_text)
    hit = sorted(words & PROTECTED_WORDS)
    if hit:
        return f"'{hit[0]}' describes a protected characteristic of a person"
    if "age" in words and words & PERSON_WORDS:
        return "the age of a person is a protected characteristic"
    return None


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

    @property
    def is_categorical(self) -> bool:
        return self.dtype == "category"

    def expected(self) -> str:
        """What a valid value looks like, in words, for error messages."""
        parts = {
            "string": "a non-empty string",
            "text": "text",
            "category": "one of " + ", ".join(self.allowed) if self.allowed else "a non-empty category",
            "int": "a whole number",
            "float": "a number",
            "bool": "true/false or 1/0",
            "date": "an ISO date (YYYY-MM-DD)",
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


@dataclass(frozen=True)
class DataContract:
    """Everything the toolkit knows about an extract's columns. Build with :func:`from_dict`."""

    name: str
    columns: tuple[ColumnSpec, ...]
    concepts: tuple[ConceptSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    horizon_weeks: int = 12
    slices: tuple[str, ...] = ()
    cohort_column: str | None = None
    contract_version: int = 1
    as_of_column: str | None = None          # a date column: when each row was extracted (data/asof.py)
    history_counts: tuple[str, ...] = ()     # counts of the line's earlier disruptions, as of the disruption date
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> DataContract:
        """Build and check a contract from a data config mapping (plain dict or DictConfig)."""
        config = _plain(config)
        name = str(config.get("name", "unnamed"))
        raw_columns = config.get("columns") or {}
        if not isinstance(raw_columns, Mapping) or not raw_columns:
            raise ConfigError(f"data config '{name}': 'columns' must map column names to their specs")
        known = {f for f in ColumnSpec.__dataclass_fields__} - {"name"}
        columns = []
        for col_name, spec in raw_columns.items():
            if spec is not None and not isinstance(spec, Mapping):
                raise ConfigError(f"data config '{name}', column '{col_name}': expected a mapping of keys "
                                  f"(dtype, role, ...), got {spec!r}")
            spec = dict(spec or {})
            unknown = set(spec) - known
            if unknown:
                raise ConfigError(
                    f"data config '{name}', column '{col_name}': unknown key(s) {sorted(unknown)}; "
                    f"allowed: {sorted(known)}"
                )
            if "allowed" in spec and spec["allowed"] is not None:
                spec["allowed"] = tuple(str(v) for v in spec["allowed"])
            columns.append(ColumnSpec(name=str(col_name), **spec))
        concepts = tuple(
            ConceptSpec(name=str(k), label_text=str(v.get("label_text", k)), four_ps=str(v.get("four_ps", "context")))
            for k, v in (config.get("concepts") or {}).items()
        )
        rule_keys = set(RuleSpec.__dataclass_fields__)
        rules = []
        for r in config.get("rules") or []:
            if not isinstance(r, Mapping) or set(r) - rule_keys or {"name", "kind", "column", "value", "other", "other_value"} - set(r):
                raise ConfigError(f"data config '{name}': rule {r!r} must be a mapping with keys {sorted(rule_keys)} "
                                  "(severity optional)")
            rules.append(RuleSpec(**dict(r)))
        rules = tuple(rules)
        contract = cls(
            name=name,
            columns=tuple(columns),
            concepts=concepts,
            rules=rules,
            horizon_weeks=int(config.get("horizon_weeks", 12)),
            slices=tuple(config.get("slices") or ()),
            cohort_column=config.get("cohort_column"),
            contract_version=int(config.get("contract_version", 1)),
            as_of_column=config.get("as_of_column"),
            history_counts=tuple(config.get("history_counts") or ()),
        )
        contract.check()
        return contract

    def to_dict(self) -> dict[str, Any]:
        """The contract as a plain dict in the data-config shape (stored with every model)."""
        columns = {}
        for c in self.columns:
            defaults = {f.name: f.default for f in ColumnSpec.__dataclass_fields__.values()}
            d = {k: v for k, v in asdict(c).items() if k != "name" and not _same(v, defaults.get(k))}
            if c.allowed is not None:
                d["allowed"] = list(c.allowed)
            columns[c.name] = d
        return {
            "name": self.name,
            "contract_version": self.contract_version,
            "horizon_weeks": self.horizon_weeks,
            "slices": list(self.slices),
            "cohort_column": self.cohort_column,
            "as_of_column": self.as_of_column,
            "history_counts": list(self.history_counts),
            "concepts": {k.name: {"label_text": k.label_text, "four_ps": k.four_ps} for k in self.concepts},
            "columns": columns,
            "rules": [asdict(r) for r in self.rules],
        }

    def check(self) -> None:
        """Refuse a config that is inconsistent or asks for a forbidden feature."""
        where = f"data config '{self.name}'"
        for c in self.columns:
            if c.dtype not in DTYPES:
                raise ConfigError(f"{where}, column '{c.name}': dtype '{c.dtype}' is not one of {DTYPES}")
            if c.role not in ROLES:
                raise ConfigError(f"{where}, column '{c.name}': role '{c.role}' is not one of {ROLES}")
            if c.role == "feature":
                reason = "it is declared protected" if c.protected else protected_reason(c.name, c.label_text)
                if reason:
                    raise ConfigError(
                        f"{where} refused: column '{c.name}' may not be a feature because {reason}. "
                        "The toolkit models lines, not people: remove the column or give it role "
                        "'context' only if it is not a person's characteristic."
                    )
                if c.dtype in ("text", "string", "date"):
                    raise ConfigError(
                        f"{where}, column '{c.name}': a {c.dtype} column cannot be a model feature "
                        "(free text and raw ids never reach the model); use role 'context'"
                    )
            if c.concept and c.concept not in {k.name for k in self.concepts}:
                raise ConfigError(f"{where}, column '{c.name}': concept '{c.concept}' is not declared under 'concepts'")
            if c.max_column and c.max_column not in self._by_name:
                raise ConfigError(f"{where}, column '{c.name}': max_column '{c.max_column}' is not a column")
        for concept in self.concepts:
            if concept.four_ps not in FOUR_PS:
                raise ConfigError(f"{where}, concept '{concept.name}': four_ps '{concept.four_ps}' is not one of {FOUR_PS}")
        for role in SINGLE_ROLES:
            found = [c.name for c in self.columns if c.role == role]
            if len(found) != 1:
                raise ConfigError(f"{where}: exactly one column must have role '{role}', found {found or 'none'}")
        if not self.features:
            raise ConfigError(f"{where}: no column has role 'feature'")
        for name in (*self.slices, *([self.cohort_column] if self.cohort_column else [])):
            if name not in self._by_name:
                raise ConfigError(f"{where}: slice/cohort column '{name}' is not a column")
        if self.as_of_column and (self.as_of_column not in self._by_name
                                  or self._by_name[self.as_of_column].dtype != "date"
                                  or self._by_name[self.as_of_column].role != "context"):
            raise ConfigError(f"{where}: as_of_column '{self.as_of_column}' must be a date column with role 'context'")
        for name in self.history_counts:
            if name not in self._by_name or self._by_name[name].dtype not in ("int", "float"):
                raise ConfigError(f"{where}: history_counts '{name}' must be a numeric column of the extract")
        for rule in self.rules:
            for name in (rule.column, rule.other):
                if name not in self._by_name:
                    raise ConfigError(f"{where}, rule '{rule.name}': '{name}' is not a column")
            if rule.kind not in ("iff", "implies") or rule.severity not in ("error", "warning"):
                raise ConfigError(f"{where}, rule '{rule.name}': kind must be iff/implies and severity error/warning")

    # -- questions the rest of the toolkit asks -----------------------------------------------
    def column(self, name: str) -> ColumnSpec:
        return self._by_name[name]

    def _one(self, role: str) -> str:
        return next(c.name for c in self.columns if c.role == role)

    @property
    def id_column(self) -> str:
        return self._one("id")

    @property
    def line_column(self) -> str:
        return self._one("line_id")

    @property
    def date_column(self) -> str:
        return self._one("date")

    @property
    def label(self) -> str:
        return self._one("label")

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == "feature")

    @property
    def categorical_features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == "feature" and c.dtype == "category")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def concept_of(self, feature: str) -> ConceptSpec:
        """The concept a feature belongs to; a feature with none is its own concept."""
        spec = self._by_name[feature]
        for concept in self.concepts:
            if concept.name == spec.concept:
                return concept
        return ConceptSpec(name=feature, label_text=spec.label_text or feature, four_ps="context")

    def describe(self, name: str) -> str:
        """Plain-English name of a column (never the raw column name unless nothing else exists)."""
        spec = self._by_name[name]
        return spec.label_text or name.replace("_", " ")


def _same(value: Any, default: Any) -> bool:
    """Equal to the field default, without 0 == False confusing the two."""
    return type(value) is type(default) and value == default


def _plain(config: Any) -> Any:
    """DictConfig -> plain containers, leaving plain dicts alone (no Hydra needed to build one)."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            return OmegaConf.to_container(config, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra, a hard dependency
        pass
    return dict(config)


def load_data_contract(name_or_path: str | Path, config_dir: Path | None = None) -> DataContract:
    """Load a data config by name (``configs/data/<name>.yaml``) or by path, for use outside Hydra."""
    from omegaconf import OmegaConf

    from resilience.paths import config_dir as default_config_dir

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = (config_dir or default_config_dir()) / "data" / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"no data config at {path}")
    return DataContract.from_dict(OmegaConf.load(path))
