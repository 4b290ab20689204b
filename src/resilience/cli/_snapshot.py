"""A snapshot of the config schemas and the model families' parameters, so a command refuses a bad
config within a second of starting, before the libraries behind the schemas are loaded.

The schemas are derived from the toolkit's own dataclasses (:mod:`resilience.cli._config`), which
live beside code that loads pandas, scikit-learn, LightGBM and MLflow: importing them takes seconds.
The snapshot is what those imports produce, as plain JSON (every field's name, type and default,
and each family's parameter names, types and defaults), rebuilt into the same schemas by
:func:`decode`. It is derived data, never edited: it is kept in ``<project>/.cache/`` under a key
that hashes every source file of the package and the installed LightGBM's version, so any change
to either builds a new one (the first command after a change is as slow as before). A cache that
cannot be written (a read-only checkout) is skipped, never an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import typing
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING

import resilience
from resilience.core.paths import project_root

SCALARS = {"int": int, "float": float, "str": str, "bool": bool, "any": Any}
SCALAR_NAMES = {v: k for k, v in SCALARS.items()}


def encode_type(hint: Any) -> Any:
    """A schema field's type as JSON (scalars, Optional, list, dict and nested schemas)."""
    if hint in SCALAR_NAMES:
        return SCALAR_NAMES[hint]
    if dataclasses.is_dataclass(hint):
        return encode_schema(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:  # Optional[X]: the only union a schema holds
        return {"optional": encode_type(next(a for a in args if a is not type(None)))}
    if origin is list:
        return {"list": encode_type(args[0] if args else Any)}
    if origin is dict:
        return {"dict": encode_type(args[1] if len(args) == 2 else Any)}
    return "any"


def encode_schema(schema: type) -> dict:
    """A schema dataclass as JSON: its name and, per field, the type and default."""
    hints = typing.get_type_hints(schema)
    fields = []
    for f in dataclasses.fields(schema):
        if f.default is not dataclasses.MISSING:
            default = {"value": f.default} if f.default != MISSING else {"missing": True}
        elif dataclasses.is_dataclass(hints[f.name]):
            default = {"nested": True}
        else:
            default = {"value": f.default_factory()}
        fields.append({"name": f.name, "type": encode_type(hints[f.name]), "default": default})
    return {"schema": schema.__name__, "fields": fields}


def decode_type(encoded: Any) -> Any:
    if isinstance(encoded, str):
        return SCALARS[encoded]
    if "schema" in encoded:
        return decode_schema(encoded)
    if "optional" in encoded:
        return Optional[decode_type(encoded["optional"])]  # noqa: UP045 - OmegaConf reads typing.Optional
    if "list" in encoded:
        return list[decode_type(encoded["list"])]
    return dict[str, decode_type(encoded["dict"])]


def _default(hint: Any, default: dict) -> dataclasses.Field:
    if default.get("missing"):
        return dataclasses.field(default=MISSING)
    if default.get("nested"):
        return dataclasses.field(default_factory=hint)
    value = default["value"]
    if isinstance(value, list | dict):
        return dataclasses.field(default_factory=lambda: json.loads(json.dumps(value)))
    return dataclasses.field(default=value)


def decode_schema(encoded: dict) -> type:
    """The schema dataclass :func:`encode_schema` described."""
    specs = []
    for f in encoded["fields"]:
        hint = decode_type(f["type"])
        specs.append((f["name"], hint, _default(hint, f["default"])))
    return dataclasses.make_dataclass(encoded["schema"], specs)


def source_key() -> str:
    """A digest of every source file of the package and the installed LightGBM's version."""
    digest = hashlib.sha256()
    package = Path(resilience.__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    try:
        digest.update(version("lightgbm").encode())
    except PackageNotFoundError:
        digest.update(b"no lightgbm")
    return digest.hexdigest()[:24]


def cached(build: Callable[[], dict], folder: Path | None = None) -> dict:
    """The snapshot for this source tree: read from the cache, or built (slow) and stored."""
    folder = folder or project_root() / ".cache"
    path = folder / f"config-snapshot-{source_key()}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    snapshot = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("config-snapshot-*.json"):  # an earlier source tree's
            old.unlink(missing_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(snapshot, out)
        os.replace(temporary, path)
    except OSError:  # a read-only checkout: every command builds it (slower, still correct)
        pass
    return snapshot
