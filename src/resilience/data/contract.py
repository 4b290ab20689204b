"""The data contract: which columns an extract has, their types, rules and roles.

A contract is built from a data config (``configs/data/<name>.yaml``) and is the single place the
rest of the toolkit asks "which columns are features?", "what is the label?", "what does a
commander call this column?". It is a plain frozen dataclass, so it pickles with a model and
round-trips through ``to_dict`` / ``from_dict``.

One kind of column is **derived** by the toolkit rather than read from the extract: a feature
with ``derived: record_age`` (:attr:`DataContract.record_age_column`) is the record's age, whole
weeks from the disruption date to the day the extract holding the record was taken
(:mod:`resilience.data.record_age`). An extract need not carry it: training derives it for each
weekly snapshot of a record and scoring for the week's extract; the pyfunc takes it as an input
column (or derives it from ``as_of_column``).

Two optional kinds of column serve reviews, never the model: a column with role ``group`` holds
the organised crime group a line belongs to (:attr:`DataContract.group_column`; context for a group
view), and a package column may carry ``tactic: <n>``, its place in the order tactics follow one
another (:attr:`DataContract.tactics`; a larger number follows a smaller one, equal numbers are the
same step), so a review of tactics knows which tactics came before the one it estimates.

Example
-------
>>> contract = load_data_contract("default")
>>> contract.label
'persisted_12w'
>>> contract.group_column
'ocg_id'
>>> contract.tactics[:2]
('sustained_operation', 'holder_arrested')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from resilience.core.errors import ConfigError
from resilience.core.paths import config_dir as default_config_dir
from resilience.data.contract_specs import (
    DEFAULT_MAX_LENGTH,
    DERIVED,
    DESCRIBES,
    DTYPES,
    FOUR_PS,
    GROUP_DTYPES,
    ROLES,
    SINGLE_ROLES,
    ColumnSpec,
    ConceptSpec,
    RuleSpec,
    columns_from,
    concepts_from,
    per_line_refusal,
    plain_config,
    rules_from,
    same_as_default,
    whole_number,
)
from resilience.data.protected import PROTECTED_WORDS, feature_refusal, protected_reason

__all__ = [
    "PROTECTED_WORDS",
    "protected_reason",
    "DataContract",
    "ColumnSpec",
    "ConceptSpec",
    "RuleSpec",
    "load_data_contract",
]


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
    as_of_column: str | None = None  # a date column: when each row was extracted (data/asof.py)
    history_counts: tuple[
        str, ...
    ] = ()  # counts of the line's earlier disruptions, as of the disruption date
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, config: Mapping[str, Any], source: str | None = None) -> DataContract:
        """Build and check a contract from a data config mapping (plain dict or DictConfig).

        ``source``: the file the config came from, named in every refusal.
        """
        config = plain_config(config)
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"a data config must be a mapping of keys (name, columns, ...), got {config!r:.80}"
            )
        name = str(config.get("name", "unnamed"))
        where = f"{source}: data config '{name}'" if source else f"data config '{name}'"
        slices = config.get("slices") or ()
        if isinstance(slices, str) or not isinstance(slices, (list, tuple)):
            raise ConfigError(f"{where}: 'slices' must be a list of column names, not {slices!r}")
        contract = cls(
            name=name,
            columns=columns_from(config.get("columns"), where),
            concepts=concepts_from(config.get("concepts"), where),
            rules=rules_from(config.get("rules"), where),
            horizon_weeks=whole_number(config.get("horizon_weeks", 12), "horizon_weeks", where),
            slices=tuple(str(s) for s in slices),
            cohort_column=config.get("cohort_column"),
            contract_version=whole_number(
                config.get("contract_version", 1), "contract_version", where
            ),
            as_of_column=config.get("as_of_column"),
            history_counts=tuple(config.get("history_counts") or ()),
        )
        contract.check(source)
        return contract

    def to_dict(self) -> dict[str, Any]:
        """The contract as a plain dict in the data-config shape (stored with every model)."""
        columns = {}
        for c in self.columns:
            defaults = {f.name: f.default for f in ColumnSpec.__dataclass_fields__.values()}
            d = {
                k: v
                for k, v in asdict(c).items()
                if k != "name" and not same_as_default(v, defaults.get(k))
            }
            if c.allowed is not None:
                d["allowed"] = list(c.allowed)
            if c.summarises is not None:
                d["summarises"] = list(c.summarises)
            columns[c.name] = d
        return {
            "name": self.name,
            "contract_version": self.contract_version,
            "horizon_weeks": self.horizon_weeks,
            "slices": list(self.slices),
            "cohort_column": self.cohort_column,
            "as_of_column": self.as_of_column,
            "history_counts": list(self.history_counts),
            "concepts": {
                k.name: {"label_text": k.label_text, "four_ps": k.four_ps} for k in self.concepts
            },
            "columns": columns,
            "rules": [asdict(r) for r in self.rules],
        }

    def check(self, source: str | None = None) -> None:
        """Refuse a config that is inconsistent or asks for a forbidden feature."""
        where = f"{source}: data config '{self.name}'" if source else f"data config '{self.name}'"
        for c in self.columns:
            self._check_column(c, where)
            if c.role == "feature":
                self._check_feature(c, where)
        for concept in self.concepts:
            if concept.four_ps not in FOUR_PS:
                raise ConfigError(
                    f"{where}, concept '{concept.name}': four_ps '{concept.four_ps}' is not one of {FOUR_PS}"
                )
        for role in SINGLE_ROLES:
            found = [c.name for c in self.columns if c.role == role]
            if len(found) != 1:
                raise ConfigError(
                    f"{where}: exactly one column must have role '{role}', found {found or 'none'}"
                )
        if not self.features:
            raise ConfigError(f"{where}: no column has role 'feature'")
        self._check_group_and_tactics(where)
        self._check_derived(where)
        for name in (*self.slices, *([self.cohort_column] if self.cohort_column else [])):
            if name not in self._by_name:
                raise ConfigError(f"{where}: slice/cohort column '{name}' is not a column")
        if self.as_of_column and (
            self.as_of_column not in self._by_name
            or self._by_name[self.as_of_column].dtype != "date"
            or self._by_name[self.as_of_column].role != "context"
        ):
            raise ConfigError(
                f"{where}: as_of_column '{self.as_of_column}' must be a date column with role 'context'"
            )
        self._check_summaries(where)
        for name in self.history_counts:
            if name not in self._by_name or self._by_name[name].dtype not in ("int", "float"):
                raise ConfigError(
                    f"{where}: history_counts '{name}' must be a numeric column of the extract"
                )
        for rule in self.rules:
            for name in (rule.column, rule.other):
                if name not in self._by_name:
                    raise ConfigError(f"{where}, rule '{rule.name}': '{name}' is not a column")
            if rule.kind not in ("iff", "implies") or rule.severity not in ("error", "warning"):
                raise ConfigError(
                    f"{where}, rule '{rule.name}': kind must be iff/implies and severity error/warning"
                )

    def _check_group_and_tactics(self, where: str) -> None:
        """At most one group column (ids shared by lines, never a model input, never a slice) and
        tactics only on features describing the disruption, each with a whole-number order."""
        groups = [c for c in self.columns if c.role == "group"]
        if len(groups) > 1:
            raise ConfigError(
                f"{where}: at most one column may have role 'group' (the organised crime group "
                f"id), found {[c.name for c in groups]}"
            )
        for c in groups:
            here = f"{where}, column '{c.name}'"
            if c.dtype not in GROUP_DTYPES:
                raise ConfigError(
                    f"{here}: a group column holds group ids, so its dtype must be one of "
                    f"{GROUP_DTYPES}, not '{c.dtype}'"
                )
            if c.unique:
                raise ConfigError(
                    f"{here}: a group column is shared by the lines of a group; it cannot be "
                    "'unique' (use role 'id' for a row id)"
                )
            if c.name in self.slices or c.name == self.cohort_column:
                raise ConfigError(
                    f"{here}: a group column is context for a group view, not a slice or cohort "
                    "(thousands of groups would make every per-slice figure noise)"
                )
            if c.tactic is not None:
                raise ConfigError(f"{here}: a group column cannot be a tactic")
        for c in self.columns:
            if c.tactic is None:
                continue
            here = f"{where}, column '{c.name}'"
            if isinstance(c.tactic, bool) or not isinstance(c.tactic, int) or c.tactic < 1:
                raise ConfigError(
                    f"{here}: tactic must be a whole number >= 1 (its place in the order tactics "
                    f"follow one another), not {c.tactic!r}"
                )
            if c.role != "feature" or c.describes != "disruption":
                raise ConfigError(
                    f"{here}: only a feature that describes the disruption (`role: feature`, "
                    "`describes: disruption`) can be a tactic: a tactic is part of what police "
                    f"did, not a fact about the line, the place or a group (this column: role "
                    f"'{c.role}', describes '{c.describes}')"
                )
            if c.untreated is not None and (
                c.dtype != "category" or c.untreated not in (c.allowed or ())
            ):
                raise ConfigError(
                    f"{here}: `untreated` names a category tactic's level meaning 'not given', one "
                    f"of its allowed levels (this column: dtype '{c.dtype}', allowed "
                    f"{list(c.allowed or ())}, untreated {c.untreated!r})"
                )

    def _check_summaries(self, where: str) -> None:
        """A summary column and the columns it summarises are all features, and it is not its own."""
        for c in self.columns:
            if c.summarises is None:
                continue
            here = f"{where}, column '{c.name}'"
            if c.role != "feature" or not c.summarises:
                raise ConfigError(
                    f"{here}: 'summarises' lists the feature columns a feature summarises; "
                    f"this column has role '{c.role}' and lists {list(c.summarises)}"
                )
            wrong = [n for n in c.summarises if n == c.name or self._by_name.get(n) is None]
            wrong += [
                n for n in c.summarises if n in self._by_name and self._by_name[n].role != "feature"
            ]
            if wrong:
                raise ConfigError(
                    f"{here}: 'summarises' names {sorted(set(wrong))}, which must be other feature "
                    f"columns of the data config (its features: {', '.join(self.features)})"
                )

    def _check_derived(self, where: str) -> None:
        """A derived column is a numeric feature the toolkit computes: one per kind, never the
        id, date, label, a slice or a tactic."""
        seen: dict[str, str] = {}
        for c in self.columns:
            if c.derived is None:
                continue
            here = f"{where}, column '{c.name}'"
            if c.derived not in DERIVED:
                raise ConfigError(
                    f"{here}: derived '{c.derived}' is not one of {tuple(DERIVED)} (the toolkit "
                    "derives only these; a column the extract carries needs no 'derived' key)"
                )
            if c.role != "feature" or c.dtype not in DERIVED[c.derived]:
                raise ConfigError(
                    f"{here}: a derived {c.derived} column must be a feature of dtype "
                    f"{' or '.join(DERIVED[c.derived])} (role '{c.role}', dtype '{c.dtype}' here)"
                )
            if c.derived in seen:
                raise ConfigError(
                    f"{here}: only one column may be derived as {c.derived} "
                    f"('{seen[c.derived]}' already is)"
                )
            if c.tactic is not None or c.name in self.slices or c.name == self.cohort_column:
                raise ConfigError(f"{here}: a derived column cannot be a tactic, slice or cohort")
            seen[c.derived] = c.name

    def _check_column(self, c: ColumnSpec, where: str) -> None:
        """Keys every column may set: dtype, role, concept, max_column, describes, max_length."""
        here = f"{where}, column '{c.name}'"
        if c.dtype not in DTYPES:
            raise ConfigError(f"{here}: dtype '{c.dtype}' is not one of {DTYPES}")
        if c.role not in ROLES:
            raise ConfigError(f"{here}: role '{c.role}' is not one of {ROLES}")
        if c.concept and c.concept not in {k.name for k in self.concepts}:
            raise ConfigError(f"{here}: concept '{c.concept}' is not declared under 'concepts'")
        if c.max_column and c.max_column not in self._by_name:
            raise ConfigError(f"{here}: max_column '{c.max_column}' is not a column")
        for key in ("min", "max"):
            value = getattr(c, key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ConfigError(f"{here}: {key} must be a number, not {value!r}")
        for key in ("nullable", "unique", "not_future", "protected", "ageing"):
            if not isinstance(getattr(c, key), bool):
                raise ConfigError(f"{here}: {key} must be true or false, not {getattr(c, key)!r}")
        if c.describes is not None and c.describes not in DESCRIBES:
            raise ConfigError(f"{here}: describes '{c.describes}' is not one of {DESCRIBES}")
        if reason := per_line_refusal(c):
            raise ConfigError(f"{here}: {reason}")
        if c.max_length is not None:
            if c.dtype not in DEFAULT_MAX_LENGTH:
                raise ConfigError(
                    f"{here}: max_length applies to {tuple(DEFAULT_MAX_LENGTH)} columns, "
                    f"not {c.dtype}"
                )
            if (
                isinstance(c.max_length, bool)
                or not isinstance(c.max_length, int)
                or c.max_length < 1
            ):
                raise ConfigError(
                    f"{here}: max_length must be a whole number of characters >= 1, "
                    f"not {c.max_length!r}"
                )

    def _check_feature(self, c: ColumnSpec, where: str) -> None:
        """A feature must declare what it describes, never a person, and never read as one."""
        if c.protected:
            reason = "it is declared protected"
        elif c.describes == "person":
            reason = "it is declared to describe a person"
        else:
            concept = next((k.label_text for k in self.concepts if k.name == c.concept), "")
            reason = feature_refusal(c.name, c.label_text, concept, c.allowed, c.describes)
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
        if c.describes is None:
            raise ConfigError(
                f"{where} refused: feature '{c.name}' does not declare what it describes; add "
                "`describes: line`, `describes: disruption` or `describes: place` to the column "
                "(a feature may not describe a person)"
            )

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
    def record_age_column(self) -> str | None:
        """The feature holding the record's age in weeks (``derived: record_age``), or None."""
        return next((c.name for c in self.columns if c.derived == "record_age"), None)

    @property
    def derived_columns(self) -> tuple[str, ...]:
        """Columns the toolkit derives (an extract need not carry them)."""
        return tuple(c.name for c in self.columns if c.derived is not None)

    @property
    def per_line_columns(self) -> tuple[str, ...]:
        """Columns holding one value for every disruption of a line (``per_line``)."""
        return tuple(c.name for c in self.columns if c.per_line is not None)

    @property
    def group_column(self) -> str | None:
        """The organised crime group id column (role ``group``), or None. Context, never a feature."""
        return next((c.name for c in self.columns if c.role == "group"), None)

    @property
    def tactics(self) -> tuple[str, ...]:
        """The tactic columns in the order they follow one another (then in column order)."""
        flagged = [(c.tactic, i, c.name) for i, c in enumerate(self.columns) if c.tactic]
        return tuple(name for _, _, name in sorted(flagged))

    def tactic_order(self, name: str) -> int:
        """A tactic's place in the order (a larger number follows a smaller)."""
        order = self._by_name[name].tactic
        if order is None:
            raise KeyError(f"{name} is not a tactic of data config '{self.name}'")
        return order

    def tactics_before(self, name: str) -> tuple[str, ...]:
        """The tactics that come strictly before ``name`` (those a review of it adjusts for)."""
        order = self.tactic_order(name)
        return tuple(t for t in self.tactics if self.tactic_order(t) < order)

    @property
    def summaries(self) -> dict[str, tuple[str, ...]]:
        """Each feature that summarises others (``summarises`` in the data config) -> those columns."""
        return {c.name: tuple(c.summarises) for c in self.columns if c.summarises}

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

    def describes_of(self, name: str) -> str | None:
        """What a column describes (``line``, ``disruption``, ``place``; None if not declared).

        Every feature declares it (the contract refuses one that does not), so model cards can list
        each feature with what it describes.
        """
        return self._by_name[name].describes

    def describe(self, name: str) -> str:
        """Plain-English name of a column (never the raw column name unless nothing else exists)."""
        spec = self._by_name[name]
        return spec.label_text or name.replace("_", " ")


def load_data_contract(name_or_path: str | Path, config_dir: Path | None = None) -> DataContract:
    """Load a data config by name (``configs/data/<name>.yaml``) or by path, for use outside Hydra."""
    from omegaconf import OmegaConf

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = (config_dir or default_config_dir()) / "data" / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"no data config at {path}")
    return DataContract.from_dict(OmegaConf.load(path), source=str(path))
