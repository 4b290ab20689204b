"""Model parameters are checked against what the library knows before anything is fitted.

LightGBM silently ignores a keyword it does not know (``num_leavs=10`` trains the default model),
and the logistic baseline reads only ``C``; a typo in a config or an override must instead be one
clear error naming the nearest valid key. The valid keys come from each model family
(:mod:`resilience.learn.families`): for LightGBM, its own parameter list with every alias plus the
scikit-learn wrapper's arguments, read from the installed library.
"""

from __future__ import annotations

from collections.abc import Mapping

from resilience.core.errors import ConfigError, nearest
from resilience.learn.families import family as family_of


def check_params(family: str, params: Mapping | None) -> None:
    """Raise :class:`ConfigError` naming every unknown key and the nearest valid one."""
    hooks = family_of(family)
    known = hooks.known_params()
    problems = []
    for key in params or {}:
        if key in known:
            continue
        close = nearest(key, known)
        hint = f"did you mean '{close}'?" if close else "no similar parameter exists"
        problems.append(f"'{key}' ({hint})")
    if problems:
        raise ConfigError(
            f"model.params for the {family} model: unknown parameter(s) "
            + ", ".join(problems)
            + f"; {family} would silently ignore them. Valid keys are {family}'s own "
            + hooks.params_hint
        )
