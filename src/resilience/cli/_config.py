"""Hydra structured configs: a schema for every config group, so a composed config refuses unknown
keys and wrong types (``split.test_weks=13``, ``split.test_weeks=abc``, a typo in a YAML file)
before any work, with one line naming the nearest key. The data config's columns are the one
exception: a free mapping here, each column is checked where the contract is built
(``DataContract.from_dict``, run by the settings check before any work), its keys, types and
vocabularies with the nearest key named.

Each schema is derived from the library's own dataclass (or, for the model, from the estimator's
constructor), so every setting, its type and its default is written once: :func:`schema_of` makes
a non-frozen copy OmegaConf can type-check. Every main config lists ``<group>/schema@<group>``
before the group itself, so the schema is merged first and each YAML option on top of it. The
library never sees Hydra: :func:`typed` turns a composed group into the library's dataclass.

The dataclasses live beside code that takes seconds to import, so the schemas are registered from
a snapshot of them (:mod:`resilience.cli._snapshot`, rebuilt whenever the package's source
changes) and the library is imported only once the config is known to be good: a bad config is
refused within a second of the command starting. The model's parameters (``model.params``, a free
mapping in the schema) are checked against the family's own names and types from the same
snapshot (:func:`check_model_params`).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any, Optional, Union

from hydra.core.config_store import ConfigStore
from hydra.errors import (
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import MISSING, OmegaConf, ValueNode
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from resilience.cli import _snapshot
from resilience.core.errors import ConfigError, nearest
from resilience.core.settings_check import TYPE_WORDS, setting_problems

SCHEMA = "schema"  # each group's schema option: <group>/schema


@dataclasses.dataclass
class FeaturesConfig:
    """Which of the data config's features the model sees (``configs/features/``)."""

    include: Optional[list[str]] = None  # noqa: UP045 - OmegaConf reads typing.Optional
    exclude: list[str] = dataclasses.field(default_factory=list)


def _hydra_type(hint: Any) -> Any:
    """The annotation OmegaConf can check for a library type hint (tuples become lists, mappings
    dicts, ``X | None`` Optional; a dataclass its own schema)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = _hydra_type(rest[0]) if len(rest) == 1 else Any
        return Optional[inner]  # noqa: UP045 - OmegaConf reads typing.Optional
    if hint in (tuple, list) or origin in (tuple, list):
        element = args[0] if args and args[0] is not Ellipsis else Any
        return list[_hydra_type(element)] if element is not Any else list[Any]
    if hint in (dict, Mapping) or origin in (dict, Mapping):
        return dict[str, Any]
    if dataclasses.is_dataclass(hint):
        return schema_of(hint)
    if hint in (int, float, str, bool):
        return hint
    return Any


def _field(hint: Any, default: Any) -> dataclasses.Field:
    if dataclasses.is_dataclass(default):  # a nested config: its schema's own defaults
        return dataclasses.field(default_factory=hint)
    if isinstance(default, (list, tuple, dict)):
        value = list(default) if isinstance(default, tuple) else default
        return dataclasses.field(default_factory=lambda: value)
    return dataclasses.field(default=default)


def schema_of(cls: type, drop: tuple[str, ...] = (), **fields: Any) -> type:
    """A schema with the fields, types and defaults of dataclass ``cls``, in its order (``drop``: left out;
    ``fields``: name -> (type, default) added or replacing one)."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if f.name in fields:
            hint, default = fields.pop(f.name)
            specs.append((f.name, hint, _field(hint, default)))
            continue
        if f.name in drop or f.name.startswith("_"):
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = MISSING  # "???": a required setting
        hint = _hydra_type(hints[f.name])
        specs.append((f.name, hint, _field(hint, default)))
    for name, (hint, default) in fields.items():
        specs.append((name, hint, _field(hint, default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", specs)


def _estimator_schema(cls: type, drop: tuple[str, ...]) -> type:
    """A schema for a ``hydra.utils.instantiate`` target: its constructor's arguments."""
    hints = typing.get_type_hints(cls.__init__)
    specs = [("_target_", str, dataclasses.field(default=f"{cls.__module__}.{cls.__name__}"))]
    specs.append(("_convert_", str, dataclasses.field(default="all")))
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or name in drop:
            continue
        hint = _hydra_type(hints[name])
        specs.append((name, hint, _field(hint, parameter.default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", specs)


def _schemas() -> dict[str, type]:
    """Each config group's schema, from the library's dataclasses (slow: it imports the library)."""
    from resilience.data.contract import ConceptSpec, DataContract, RuleSpec
    from resilience.data.synthetic import WorldConfig
    from resilience.explain.screen import ScreenConfig
    from resilience.governance.card import GovernanceConfig
    from resilience.governance.champion import ChampionConfig
    from resilience.learn.evaluation import EvaluationConfig
    from resilience.learn.models import PersistenceModel
    from resilience.learn.ranges import IntervalConfig
    from resilience.learn.records import RecordsConfig
    from resilience.learn.split import SplitConfig
    from resilience.pipelines.backtest import BacktestConfig
    from resilience.pipelines.sweep import SweepConfig
    from resilience.tracking.store import TrackingConfig
    from resilience.weekly.drift import DriftConfig
    from resilience.weekly.shortlist import DrawSettings

    screen = schema_of(ScreenConfig)
    return {
        "data": schema_of(
            DataContract,
            # the columns are checked where the contract is built (DataContract.from_dict: every
            # key, type and vocabulary, the nearest key named), not typed twice here: a typed
            # mapping of every column more than doubled the time Hydra takes to compose a run
            columns=(dict[str, Any], {}),
            concepts=(dict[str, schema_of(ConceptSpec, drop=("name",))], {}),
            rules=(list[schema_of(RuleSpec)], []),
        ),
        "features": FeaturesConfig,
        "model": _estimator_schema(PersistenceModel, drop=("contract", "features", "exclude")),
        "split": schema_of(SplitConfig),
        "records": schema_of(RecordsConfig),
        "evaluation": schema_of(EvaluationConfig),
        "mlflow": schema_of(TrackingConfig, champion=(schema_of(ChampionConfig), ChampionConfig())),
        "governance": schema_of(GovernanceConfig),
        "explain": dataclasses.make_dataclass(
            "ExplainSchema",
            [("screen", screen, dataclasses.field(default_factory=screen))],
        ),
        "intervals": schema_of(IntervalConfig),
        "sweep": schema_of(SweepConfig),
        "drift": schema_of(DriftConfig),
        "draws": schema_of(DrawSettings),
        "world": schema_of(WorldConfig),
        "backtest": schema_of(BacktestConfig),
    }


def _build_snapshot() -> dict:
    """What the schemas and the families' parameters are, as JSON (slow: imports the library)."""
    from resilience.learn.families import FAMILIES

    return {
        "groups": {group: _snapshot.encode_schema(s) for group, s in _schemas().items()},
        "families": {
            name: {
                "known": sorted(hooks.known_params()),
                "types": hooks.param_types(),
                "defaults": hooks.resolved_params({}),
            }
            for name, hooks in FAMILIES.items()
        },
    }


def snapshot() -> dict:
    """The schemas and the families' parameters for this source tree (cached; see the docstring)."""
    return _snapshot.cached(_build_snapshot)


def register_schemas() -> None:
    """Store every group's schema in Hydra's ConfigStore (``<group>/schema``); idempotent."""
    store = ConfigStore.instance()
    for group, encoded in snapshot()["groups"].items():
        store.store(group=group, name=SCHEMA, node=_snapshot.decode_schema(encoded))


def check_model_params(model) -> None:
    """``model.params`` against the family's own parameter names and types (a typo or a wrong
    type is one line naming the nearest name, or the type expected), before anything is read."""
    families = snapshot()["families"]
    if model.family not in families:
        raise ConfigError(
            f"config: model.family={model.family}: must be one of {', '.join(sorted(families))}"
        )
    known = families[model.family]
    params = OmegaConf.to_container(model.params, resolve=True) if model.params else {}
    problems = setting_problems(params, known["known"], known["types"], known["defaults"])
    if problems:
        raise ConfigError(f"config: model.params ({model.family}): " + "; ".join(problems))


def _command_numbers(config_name: str) -> dict[str, object]:
    """The numbers and yes/no settings a command's own config file sets (its top level and the
    blocks in it, by dotted key), and those of a main config it builds on (``- train``): the
    settings no group schema types."""
    from resilience.core.paths import config_dir

    path = config_dir() / f"{config_name}.yaml"
    if not path.is_file():
        return {}
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    found: dict[str, object] = {}
    for entry in raw.pop("defaults", None) or []:
        if isinstance(entry, str) and "/" not in entry and entry != "_self_":
            found.update(_command_numbers(entry))
    raw.pop("hydra", None)
    stack = [("", raw)]
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", value))
            elif isinstance(value, bool | int | float):
                found[f"{prefix}{key}"] = value
    return found


def check_command_settings(cfg, config_name: str) -> None:
    """A command's own number and yes/no settings (``lines=abc``, ``overwrite=maybe``) against the
    type its config file gives them: one line naming the setting and its default, before any work
    (a group's settings are typed by its schema)."""
    numbers = _command_numbers(config_name)
    values = {key: OmegaConf.select(cfg, key, throw_on_resolution_failure=False) for key in numbers}
    kinds = {
        key: "bool" if isinstance(v, bool) else "int" if isinstance(v, int) else "float"
        for key, v in numbers.items()
    }
    defaults = {key: _as_written(value) for key, value in numbers.items()}
    problems = setting_problems(values, numbers, kinds, defaults)
    if problems:
        raise ConfigError(f"config: {'; '.join(problems)} (see --help)")


def typed(cls: type, node, **replace: Any):
    """A composed group (or block) as the library's dataclass ``cls``."""
    values = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return cls(**{**dict(values), **replace})


def tracking_configs(cfg):
    """The ``mlflow`` group: the champion rule's settings (``ChampionConfig``), and where runs are
    recorded (``TrackingConfig``)."""
    from resilience.governance.champion import ChampionConfig
    from resilience.tracking.store import TrackingConfig

    mlflow = OmegaConf.to_container(cfg.mlflow, resolve=True)
    return typed(ChampionConfig, mlflow.pop("champion")), typed(TrackingConfig, mlflow)


SYNTAX_HINT = "write key=value, a list as key=[a,b] and text with spaces in quotes: key='a b'"


def error_message(exc: Exception) -> str:
    """One line for a config Hydra could not compose or resolve: the key, what is wrong and the
    nearest valid key, option or value."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
    space = re.match(r"Sweep parameters '(sweep\.space\.[^=']+)=", str(exc))
    if space:  # Hydra's advice, --multirun, would run a grid of fixed values instead of a study
        return _search_space_hint(space.group(1))
    if isinstance(cause, ConfigKeyError | AttributeError) and getattr(cause, "key", None):
        key, full_key = str(cause.key), str(cause.full_key or cause.key)
        if full_key.startswith("sweep.space."):  # the space's keys hold dots: never nested
            return _search_space_hint(full_key)
        close = nearest(key, _keys_beside(cause))
        prefix = full_key[: -len(key)] if full_key.endswith(key) else ""
        hint = (
            f"; did you mean '{prefix}{close}'?" if close else f"; to add it, write +{full_key}=..."
        )
        return f"config: unknown key '{full_key}'{hint} (see --help)"
    if isinstance(cause, ValidationError):
        return _wrong_value(cause)
    if isinstance(exc, MissingConfigException):
        return _unknown_option(exc)
    if isinstance(exc, OverrideParseException):
        key, _, value = str(exc.override).partition("=")
        if "'" in value and not value.startswith(("'", '"')):  # an apostrophe opens a quote
            return (
                f"config: cannot read the override '{exc.override}': an apostrophe starts quoted "
                f"text; to keep one, quote the text and write it as \\': {key}=\"'it\\'s'\" "
                "(see --help)"
            )
        lines = [line for line in str(exc).splitlines() if not line.startswith("See https://")]
        detail = lines[-1].strip() if lines else ""
        return f"config: cannot read the override '{exc.override}': {detail} ({SYNTAX_HINT})"
    ambiguous = re.match(r"Ambiguous value for argument '([^=']+)=", str(exc))
    if ambiguous:  # text with a comma (reason="a, b") reads as a list unless quoted inside
        key = ambiguous.group(1)
        return (
            f"config: {key}=...: a comma makes the value a list; to keep it as text, put it in "
            f"single quotes inside the double ones: {key}=\"'a, b'\" (see --help)"
        )
    no_group = re.match(r"Could not override '([^']+)'\. No match in the defaults list", str(exc))
    if no_group:  # Hydra's advice (append it with +) would add a group the command never reads
        group = no_group.group(1)
        return f"config: this command has no '{group}' setting or group to choose (see --help)"
    appended = re.match(r"Could not append to config\. An item is already at '([^']+)'", str(exc))
    if appended:
        key = appended.group(1)
        return f"config: +{key}=...: '{key}' is already set; write {key}=<value> without the '+'"
    text = " ".join(str(exc).split())  # Hydra's multi-line advice, on one line
    if isinstance(exc, ConfigCompositionException) and exc.__cause__ is not None:
        text += f" {str(exc.__cause__).splitlines()[0]}"
    return f"config: {text.split(' See https://')[0]} (see --help)"


def _search_space_hint(key: str) -> str:
    """One line for a search dimension set as a nested key (``sweep.space.model.params.x=...``):
    the whole key as the command line gave it (a refusal may name only its first part)."""
    given = [a.lstrip("+~").split("=", 1)[0] for a in sys.argv[1:]]
    key = next((g for g in given if g.startswith(key)), key)
    name = key.removeprefix("sweep.space.")
    return (
        f"config: {key}: a study's search space is keyed by whole setting names, so set a "
        f"dimension inside it: 'sweep.space={{{name}:\"choice(7,15)\"}}' (with sweep.n_trials; "
        "--multirun would run a grid, not a study)"
    )


def _wrong_value(cause: ValidationError) -> str:
    """A value of the wrong type: what the setting takes and the value in force before it."""
    key = str(getattr(cause, "key", "") or "")
    schema = getattr(cause, "object_type", None)
    expected, example = "", ""
    value = getattr(cause, "value", None)
    current = getattr(cause, "child_node", None)
    current = current._value() if isinstance(current, ValueNode) else current
    if current is not None and not OmegaConf.is_config(current) and "${" not in str(current):
        example = f", e.g. {cause.full_key}={_as_written(current)}"
    if key and dataclasses.is_dataclass(schema):
        hint = typing.get_type_hints(schema).get(key)
        optional = typing.get_origin(hint) in (Union, types.UnionType)
        inner = [a for a in typing.get_args(hint) if a is not type(None)] if optional else [hint]
        if typing.get_origin(inner[0]) is list:
            expected, example = "must be a list", f", e.g. {cause.full_key}=[{value}]"
        name = getattr(inner[0], "__name__", "")
        expected = f"must be {TYPE_WORDS[name]}" if name in TYPE_WORDS else expected
    expected = expected or str(cause.msg).splitlines()[0]
    shown = f"{cause.full_key}={_as_written(value)}" if value is not None else str(cause.full_key)
    if "interpolation" in str(cause.msg).lower() or "dereferencing" in str(cause):
        expected = " ".join(str(cause).split("full_key:")[0].split())
    return f"config: {shown}: {expected}{example} (see --help)"


def _as_written(value: object) -> str:
    """A value as an override writes it (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _unknown_option(exc: MissingConfigException) -> str:
    """A config group option that does not exist (``experiment=baseline_logistc``)."""
    group, _, option = str(exc.missing_cfg_file).rpartition("/")
    options = [o for o in exc.options or [] if o != SCHEMA]
    close = nearest(option, options) if option else None
    hint = f"; did you mean '{close}'?" if close else ""
    listed = f" (options: {', '.join(options)})" if options else ""
    if not group:  # a main config or a defaults-list entry of a YAML file
        return f"config: {str(exc).splitlines()[0]}{hint}"
    return f"config: {group}={option}: no such option{hint}{listed}"


def _keys_beside(exc: OmegaConfBaseException) -> list[str]:
    """The keys a mistyped key could have meant: the schema's fields, or the node's keys."""
    if isinstance(exc.object_type, type) and dataclasses.is_dataclass(exc.object_type):
        return [f.name for f in dataclasses.fields(exc.object_type)]
    parent = getattr(exc, "parent_node", None)
    return [str(k) for k in parent.keys()] if parent is not None else []
