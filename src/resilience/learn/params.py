"""Model parameters are checked against what the library knows before anything is fitted.

LightGBM silently ignores a keyword it does not know (``num_leavs=10`` trains the default model)
and fails late on a value of the wrong type (``num_leaves="abc"``); the logistic baseline reads only
``C``. A typo or a wrong type in a config or an override must instead be one clear error naming
the nearest valid key, or the type expected and the default. The valid keys, their types and the
defaults come from each model family (:mod:`resilience.learn.families`): for LightGBM, its own
parameter list with every alias plus the scikit-learn wrapper's typed arguments, read from the
installed library.
"""

from __future__ import annotations

from collections.abc import Mapping

from resilience.core.errors import ConfigError
from resilience.core.settings_check import setting_problems
from resilience.learn.families import family as family_of


def check_params(family: str, params: Mapping | None) -> None:
    """Raise :class:`ConfigError` naming every unknown key (and the nearest valid one) and every
    value of the wrong type (and the type expected)."""
    hooks = family_of(family)
    problems = setting_problems(
        params, hooks.known_params(), hooks.param_types(), hooks.resolved_params({})
    )
    if problems:
        raise ConfigError(
            f"model.params for the {family} model: "
            + "; ".join(problems)
            + f"; {family} would silently ignore or misread them. Valid keys are {family}'s own "
            + hooks.params_hint
        )
