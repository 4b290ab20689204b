"""What the ranges mean for this week's decision: how sure is each line's place on the shortlist?

A range per line says how far its probability may be off; a commander's question is whether the
line belongs on this week's list. The week's probabilities are drawn jointly from the ranges'
components (:mod:`resilience.learn.ranges.draws`: parts shared by lines of one cohort and band
drawn once per group, each line's own part line by line), ``draws`` times (200 by default), and in
each draw the shortlist is rebuilt exactly as the best estimate's is: the ``capacity`` lines of
highest priority = probability x max(harm, floor) (:mod:`resilience.weekly.priority`; likelihood
alone without a harm policy). Per line:

* ``on_shortlist_share``: the share of draws in which it is on the shortlist;
* ``likely_or_more_chance``: the chance its probability is "likely" or more on the yardstick (55%
  and up, values in the 50-55% gap going to the nearer band), exact from its own distribution;
* ``shortlist_group``: "in nearly every draw" when it is on the list in at least ``nearly_every``
  (90%) of draws; "at its best estimate" when it is on the best estimate's list but less often;
  empty otherwise.

A model whose ranges do not keep their components (registered before they were kept) gives a
week without these columns. ``band_uncertain`` stays in every output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resilience.core.errors import ConfigError
from resilience.core.yardstick import BAND_NAMES, band_index
from resilience.learn.ranges import chance_above, joint_draws

SHORTLIST_COLUMNS = ("on_shortlist_share", "likely_or_more_chance", "shortlist_group")
NEARLY_EVERY_DRAW = "in nearly every draw"
AT_BEST_ESTIMATE = "at its best estimate"
DEFAULT_CAPACITY = 10  # lines a force can act on each week, without a harm policy saying


@dataclass(frozen=True)
class DrawSettings:
    """How a week's probabilities are drawn (``draws:`` in ``configs/score.yaml``)."""

    draws: int = 200  # joint draws of the week (0: none)
    nearly_every: float = 0.9  # "on the list in nearly every draw" from this share of draws
    seed: int = 0  # the same week and model give the same draws (repeatable scores.csv)

    def __post_init__(self) -> None:
        if self.draws < 0 or not 0.5 < self.nearly_every <= 1.0:
            raise ConfigError(
                f"draws: draws must be >= 0 and nearly_every in (0.5, 1], not {self.draws} "
                f"and {self.nearly_every}"
            )


def likely_threshold() -> float:
    """The probability above which the yardstick says "likely" or more (the gap below "likely" goes
    to the nearer band, and whole percents are what is banded)."""
    likely = BAND_NAMES.index("likely")
    lowest = next(k for k in range(101) if band_index(k / 100) >= likely)
    return (lowest - 0.5) / 100


def shortlist_draws(
    probability: np.ndarray,
    harm: np.ndarray | None,
    harm_floor: float,
    capacity: int,
    priority_rank: np.ndarray,
    components: pd.DataFrame,
    groups: np.ndarray,
    settings: DrawSettings,
) -> pd.DataFrame:
    """:data:`SHORTLIST_COLUMNS` for every row of the week (see the module docstring)."""
    n = len(probability)
    weight = np.ones(n) if harm is None else np.maximum(np.nan_to_num(harm, nan=0.0), harm_floor)
    on_list = np.zeros(n)
    if n <= capacity:
        on_list[:] = settings.draws
    else:
        for batch in joint_draws(components, groups, settings.draws, settings.seed):
            top = np.argpartition(-(batch * weight), capacity - 1, axis=1)[:, :capacity]
            on_list += np.bincount(top.ravel(), minlength=n)
    share = on_list / max(settings.draws, 1)
    best = np.asarray(priority_rank) <= capacity
    group = np.where(
        share >= settings.nearly_every, NEARLY_EVERY_DRAW, np.where(best, AT_BEST_ESTIMATE, "")
    )
    return pd.DataFrame(
        {
            "on_shortlist_share": np.round(share, 4),
            "likely_or_more_chance": np.round(chance_above(components, likely_threshold()), 4),
            "shortlist_group": group.astype(object),
        }
    )
