"""The truth of each tactic's effect: every disruption's true probability with and without it.

Method. The package is a structural causal model (:mod:`~resilience.data.synthetic.package`):
each element is a function of the line's state at the disruption, the elements before it and its
own noise, which the world keeps (``SyntheticWorld.noise``). :func:`tactic_effect_truth` replays
each disruption's package twice from that noise, with the tactic set "with" and "without" it
(for a count, "any" against none: the count given if it was at least 1, else the value its own
noise gives conditional on at least one, at least 1), recomputes every element after it (an arrest
leads to a charge, hence a type 1 closure, more handsets seized and, where they follow the charge,
ancillary orders; the elements before it do not depend on it and are unchanged), and evaluates the
true mechanism on both packages. The effect is therefore **total**: what the tactic leads to is in
it. The average of ``probability_with - probability_without`` over a population is that
population's true average effect; ``effect_points`` is the difference in points (x 100).

The population is the reviewer's (``population_ids``): compute the truth on the disruptions the
estimate is about (after trimming, say), not on the whole history. ``propensity`` is the world's
true chance of giving the tactic on each disruption (given the elements before it), for overlap.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.special import expit

from resilience.core.errors import ConfigError
from resilience.data.synthetic.columns import CONTRACT, LABEL
from resilience.data.synthetic.mechanism import mechanism_inputs, mechanism_terms
from resilience.data.synthetic.package import PACKAGE_INPUTS, WORLD_TACTICS, Replay, package
from resilience.data.synthetic.simulate import SyntheticWorld

# package key -> extract column, for the columns the mechanism reads
_PACKAGE_COLUMNS = {
    "holder_arrested": "holder_arrested",
    "closure": "closure_type",
    "runners_arrested": "runners_arrested",
    "handsets_seized": "handsets_seized",
    "ddtro": "ddtro",
    "closure_orders": "closure_orders",
    "ancillary_orders": "ancillary_orders",
    "safeguarding_referrals": "safeguarding_referrals",
    "drugs_seized_gbp": "drugs_seized_gbp",
    "cash_seized_gbp": "cash_seized_gbp",
    "sustained_operation": "sustained_operation",
    "grade": "disruption_grade",
}
COHORTS = ("all", "imported", "home_grown")


def _positions(world: SyntheticWorld, population_ids: Iterable[str] | None) -> np.ndarray:
    if world.records is None or world.noise is None or world.config is None:
        raise ConfigError(
            "this world does not keep what the truth of tactics needs (records, noise, config): "
            "make it with generate_world"
        )
    ids = world.records[CONTRACT.id_column]
    if population_ids is None:
        population_ids = world.history[CONTRACT.id_column]
    wanted = pd.Index(list(population_ids))
    positions = pd.Index(ids).get_indexer(wanted)
    if (positions < 0).any():
        missing = wanted[positions < 0][:5].tolist()
        raise ConfigError(
            f"population_ids: {int((positions < 0).sum())} id(s) are not disruptions of this "
            f"world, e.g. {missing}"
        )
    return positions


class _Population:
    """What replaying the package of some disruptions needs, taken once."""

    def __init__(self, world: SyntheticWorld, positions: np.ndarray) -> None:
        cfg = world.config
        self.config = cfg
        self.frame = world.records.iloc[positions].reset_index(drop=True)
        self.inputs = {c: self.frame[c].to_numpy() for c in PACKAGE_INPUTS}
        days = (self.frame["disruption_date"] - cfg.start_day).dt.days.to_numpy()
        history_last = (cfg.end_day - cfg.start_day).days - 7 * cfg.horizon_weeks
        self.shift = cfg.covariate_shift * (days > history_last)
        self.line_effect = world.truth["term_line_random_effect"].to_numpy()[positions]
        noise = world.noise.iloc[positions]
        self.noise = {c: noise[c].to_numpy() for c in noise.columns if c != CONTRACT.id_column}
        self.x, self.t_frac = mechanism_inputs(self.frame, cfg)

    def replay(self, tactic: str | None = None, setting: str = "with") -> tuple[dict, Replay]:
        draws = Replay(self.noise, tactic, setting)
        return package(self.config, self.inputs, self.shift, self.line_effect, draws), draws

    def probability(self, pkg: dict[str, np.ndarray]) -> np.ndarray:
        x = dict(self.x)
        x.update({column: pkg[key] for key, column in _PACKAGE_COLUMNS.items()})
        terms = mechanism_terms(self.config, x, self.t_frac, self.line_effect)
        return expit(self.config.persistence_intercept + sum(terms.values()))


def _given(pkg: dict[str, np.ndarray], tactic: str) -> np.ndarray:
    key = "closure" if tactic == "closure_type" else tactic
    return np.asarray(pkg[key]) > 0


def tactic_effect_truth(
    world: SyntheticWorld, tactic: str, population_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Each disruption's true probability of persisting with and without ``tactic``.

    Parameters
    ----------
    world : a world from :func:`generate_world` (it keeps the package's noise).
    tactic : one of :data:`WORLD_TACTICS` (the default contract's tactics).
    population_ids : the disruptions to compute it for (default: every labelled disruption).

    Returns
    -------
    DataFrame
        One row per disruption, in the order of ``population_ids``: ``disruption_id``, ``given``
        (the tactic was given, in the package before the outcome), ``propensity`` (the world's
        true chance of giving it), ``probability_with``, ``probability_without`` and
        ``effect_points`` (100 x their difference). Its mean over a population is that
        population's true average effect of the tactic, in points.

    Examples
    --------
    >>> world = generate_world(WorldConfig(n_lines=400, seed=1))
    >>> round(tactic_effect_truth(world, "holder_arrested")["effect_points"].mean(), 1)
    -36.8
    """
    if tactic not in WORLD_TACTICS:
        raise ConfigError(
            f"tactic {tactic!r}: the world's tactics are {', '.join(WORLD_TACTICS)} "
            "(safeguarding referrals are a duty, not a tactic)"
        )
    population = _Population(world, _positions(world, population_ids))
    factual, _ = population.replay()
    with_it, draws = population.replay(tactic, "with")
    without, _ = population.replay(tactic, "without")
    p_with, p_without = population.probability(with_it), population.probability(without)
    return pd.DataFrame(
        {
            CONTRACT.id_column: population.frame[CONTRACT.id_column].to_numpy(),
            "given": _given(factual, tactic),
            "propensity": np.asarray(draws.propensity, dtype=np.float64),
            "probability_with": p_with,
            "probability_without": p_without,
            "effect_points": 100.0 * (p_with - p_without),
        }
    )


def tactics_truth(
    world: SyntheticWorld,
    population_ids: Iterable[str] | None = None,
    tactics: Iterable[str] = WORLD_TACTICS,
) -> pd.DataFrame:
    """:func:`tactic_effect_truth` for several tactics, stacked with a ``tactic`` column first
    (what ``tactics_truth.parquet`` holds, for the labelled history)."""
    frames = [
        tactic_effect_truth(world, tactic, population_ids).assign(tactic=tactic)
        for tactic in tactics
    ]
    out = pd.concat(frames, ignore_index=True)
    return out[["tactic", *[c for c in out.columns if c != "tactic"]]]


def tactic_effects(
    world: SyntheticWorld,
    population_ids: Iterable[str] | None = None,
    tactics: Iterable[str] = WORLD_TACTICS,
) -> pd.DataFrame:
    """Per tactic and cohort (``all``, ``imported``, ``home_grown``): the true average effect and
    the naive difference in persistence between disruptions given and not given it, in points.

    The naive difference needs outcomes, so it is computed on the labelled disruptions of the
    population. Columns: ``tactic``, ``cohort``, ``n``, ``n_given``, ``true_points``,
    ``naive_points``.
    """
    truth = tactics_truth(world, population_ids, tactics)
    labels = world.history.set_index(CONTRACT.id_column)
    records = world.records.set_index(CONTRACT.id_column)
    truth["line_type"] = records["line_type"].reindex(truth[CONTRACT.id_column]).to_numpy()
    truth["label"] = labels[LABEL].reindex(truth[CONTRACT.id_column]).to_numpy()
    rows = []
    for tactic, frame in truth.groupby("tactic", sort=False):
        for cohort in COHORTS:
            part = frame if cohort == "all" else frame[frame["line_type"] == cohort]
            known = part[part["label"].notna()]
            given = known["given"].astype(bool)
            label = known["label"].astype(float)
            naive = 100.0 * (label[given].mean() - label[~given].mean())
            rows.append(
                {
                    "tactic": tactic,
                    "cohort": cohort,
                    "n": len(part),
                    "n_given": int(part["given"].sum()),
                    "true_points": part["effect_points"].mean(),
                    "naive_points": naive,
                }
            )
    return pd.DataFrame(rows)
