"""Model parameters are checked against what the library knows before anything is fitted.

LightGBM silently ignores a keyword it does not know (``num_leavs=10`` trains the default model),
and the logistic baseline reads only ``C``; a typo in a config or an override must instead be one
clear error naming the nearest valid key. The valid keys come from the installed libraries:
LightGBM's own parameter list with every alias (``lightgbm.basic._ConfigAliases``, the table
LightGBM's C API publishes) plus the scikit-learn wrapper's arguments.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import lru_cache

from resilience.core.errors import ConfigError

LOGISTIC_PARAMS = frozenset({"C"})  # what PersistenceModel's logistic family reads


@lru_cache(maxsize=1)
def lightgbm_params() -> frozenset[str]:
    """Every parameter name (and alias) the installed LightGBM accepts, with its sklearn arguments."""
    import lightgbm
    from lightgbm.basic import _ConfigAliases

    names = set(lightgbm.LGBMClassifier().get_params())
    for name, aliases in _ConfigAliases._get_all_param_aliases().items():
        names.add(name)
        names.update(aliases)
    return frozenset(names)


def known_params(family: str) -> frozenset[str]:
    if family == "lightgbm":
        return lightgbm_params()
    if family == "logistic":
        return LOGISTIC_PARAMS
    raise ConfigError(f"model family must be one of ('lightgbm', 'logistic'), not {family!r}")


def check_params(family: str, params: Mapping | None) -> None:
    """Raise :class:`ConfigError` naming every unknown key and the nearest valid one."""
    known = known_params(family)
    problems = []
    for key in params or {}:
        if key in known:
            continue
        lowered = {name.lower(): name for name in sorted(known)}
        nearest = difflib.get_close_matches(str(key).lower(), list(lowered), n=1, cutoff=0.6)
        hint = (
            f"did you mean '{lowered[nearest[0]]}'?" if nearest else "no similar parameter exists"
        )
        problems.append(f"'{key}' ({hint})")
    if problems:
        raise ConfigError(
            f"model.params for the {family} model: unknown parameter(s) "
            + ", ".join(problems)
            + f"; {family} would silently ignore them. Valid keys are {family}'s own "
            + (
                "parameters and aliases (see the LightGBM parameter docs)"
                if family == "lightgbm"
                else f"parameters: {', '.join(sorted(known))}"
            )
        )
