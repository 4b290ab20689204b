"""The settings of a tactics review: one frozen record, read from ``configs/tactics.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field

# LightGBM nuisance models: small, regularised trees; one thread each (reviews run side by side)
DEFAULT_LEARNER = {
    "n_estimators": 100,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 50,
    "subsample": 1.0,
    "verbose": -1,
}


@dataclass(frozen=True)
class ReviewSettings:
    """How each tactic's effect is estimated.

    ``trim`` drops disruptions whose cross-fitted chance of receiving the tactic lies below it or
    above ``1 - trim`` (no comparable lines with the other choice); ``n_folds`` folds of lines
    cross-fit every nuisance model; ``min_pairs`` consecutive disruptions of the same line are
    needed to gauge an unrecorded line character; ``adjust_describes`` are the ``describes``
    values of the features adjusted for besides the earlier tactics, and ``adjust_also`` names
    other columns a force declares safe to adjust for (never a tactic, never the label);
    ``tactics`` limits the review to some tactics (each still adjusted for those before it).
    """

    n_folds: int = 5
    trim: float = 0.02
    level: float = 0.95
    min_pairs: int = 200
    min_rows: int = 200
    seed: int = 0
    n_jobs: int = 1
    adjust_describes: tuple[str, ...] = ("line", "place")
    adjust_also: tuple[str, ...] = ()
    tactics: tuple[str, ...] = ()  # the tactics to review (empty: every tactic of the data config)
    learner: dict = field(default_factory=lambda: dict(DEFAULT_LEARNER))
