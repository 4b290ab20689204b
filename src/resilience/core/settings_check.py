"""Keyword settings checked against the names and types a library accepts, before any work.

A library that takes ``**kwargs`` (LightGBM) silently ignores a name it does not know and fails
late, deep inside, on a value of the wrong type (``num_leaves="abc"``). :func:`setting_problems`
says, for each bad setting, what is wrong and the nearest valid choice: the nearest known name for
a typo, the expected type and the default for a value. The names, types and defaults come from the
caller (a model family's hooks, or the CLI's schema snapshot of them): this module only checks.

>>> setting_problems({"num_leavs": 10}, {"num_leaves"}, {"num_leaves": "int"}, {"num_leaves": 5})
["'num_leavs' (did you mean 'num_leaves'?) is not a parameter"]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from resilience.core.errors import nearest

# the types a setting can be checked against, by name (names travel in JSON: the CLI's snapshot)
TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}


def _fits(value: object, kind: str) -> bool:
    """Is ``value`` (as Hydra parsed it) acceptable for a setting of type ``kind``?"""
    if value is None:  # null: the default
        return True
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):  # bool is an int in Python, never a number here
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "str":
        return isinstance(value, str)
    return True  # anything else is the library's to judge


def setting_problems(
    values: Mapping | None,
    known: Collection[str],
    types: Mapping[str, str],
    defaults: Mapping[str, object] | None = None,
) -> list[str]:
    """One sentence per bad setting: an unknown name (with the nearest known one) or a value of the
    wrong type (with the type expected and the default in force)."""
    problems = []
    for key, value in (values or {}).items():
        if key not in known:
            close = nearest(key, known)
            hint = f"did you mean '{close}'?" if close else "no similar parameter exists"
            problems.append(f"'{key}' ({hint}) is not a parameter")
            continue
        kind = types.get(key)
        if kind in TYPE_WORDS and not _fits(value, kind):
            default = (defaults or {}).get(key)
            example = f", e.g. {key}={default}" if default is not None else ""
            problems.append(f"'{key}={value}' must be {TYPE_WORDS[kind]}{example}")
    return problems
