"""One tactic's average effect on one population of disruptions: double machine learning.

Method (Chernozhukov et al. 2018, *Econometrics Journal*; the interactive regression model of
DoubleML, Bach et al. 2022, *JMLR*):

1. **Folds of lines.** Lines (not rows) are dealt at random into ``n_folds`` folds, so no line's
   disruptions sit on both sides of a nuisance fit: a line disrupted three times is predicted
   by models that never saw it.
2. **Overlap.** A LightGBM classifier predicts, cross-fitted over those folds, each disruption's
   chance of receiving the tactic given the adjustment set (the propensity). Disruptions below
   ``trim`` or above ``1 - trim`` have no comparable lines with the other choice: they are
   **trimmed** and counted, and the estimand is the average effect on the disruptions that
   remain (``population``), in points of the chance of persisting.
3. **The estimate.** DoubleML's :class:`~doubleml.DoubleMLIRM` (``score="ATE"``) fits LightGBM
   outcome models with and without the tactic on the same folds and combines them with the
   propensity of step 2 (passed as its external prediction: trimming and estimation see the same
   propensity) in the doubly robust (AIPW) score, which stays unbiased to first order when
   either nuisance model is somewhat wrong.
4. **Standard errors clustered by line.** The library's scores, summed within each line (the
   Liang-Zeger sandwich): a line's disruptions share its character, so they are not independent
   evidence. (DoubleML's own cluster variance loops over lines, O(lines x rows): about 100 s a
   tactic at 50,000 disruptions; the sum by line is the same one-way formula with a single
   cluster-level split.)

The naive difference (persisting with against without the tactic, on the same population) is kept
beside the estimate so the reader sees what adjustment changed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import doubleml
import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import norm

from resilience.tactics.settings import ReviewSettings


@dataclass(frozen=True)
class Fitted:
    """What the sensitivity analysis and the report need from one fit."""

    model: doubleml.DoubleMLIRM
    kept: np.ndarray  # positions (in the population given) of the disruptions kept after trimming
    propensity: np.ndarray  # cross-fitted propensity of every disruption given (before trimming)
    treated: np.ndarray
    outcome: np.ndarray
    lines: np.ndarray


@dataclass(frozen=True)
class Estimate:
    """An average effect in points, its interval, the naive difference and the counts."""

    estimate_points: float
    se_points: float
    ci_low_points: float
    ci_high_points: float
    naive_points: float
    untreated_mean: float  # the doubly robust mean chance of persisting without the tactic (0-1)
    n_treated: int
    n_compared: int
    trimmed: int
    n_lines: int


def line_folds(lines: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A fold number per row, every row of a line in the same fold (lines dealt at random)."""
    codes, uniques = pd.factorize(lines)
    order = np.random.default_rng(seed).permutation(len(uniques))
    fold_of_line = np.empty(len(uniques), dtype=int)
    fold_of_line[order] = np.arange(len(uniques)) % n_folds
    return fold_of_line[codes]


def _learner(settings: ReviewSettings, seed: int) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(**settings.learner, n_jobs=1, random_state=seed)


def cross_fitted_propensity(
    x: pd.DataFrame, treated: np.ndarray, folds: np.ndarray, settings: ReviewSettings
) -> np.ndarray:
    """Each disruption's chance of receiving the tactic, from a model that never saw its line."""
    propensity = np.empty(len(treated))
    for fold in np.unique(folds):
        test = folds == fold
        train_treated = treated[~test]
        if train_treated.all() or not train_treated.any():
            propensity[test] = float(train_treated.mean())
            continue
        model = _learner(settings, settings.seed + int(fold)).fit(x[~test], train_treated)
        propensity[test] = model.predict_proba(x[test])[:, 1]
    return propensity


def _samples(folds: np.ndarray) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    positions = np.arange(len(folds))
    return [[(positions[folds != f], positions[folds == f]) for f in np.unique(folds)]]


def fit_effect(
    x: pd.DataFrame,
    treated: np.ndarray,
    outcome: np.ndarray,
    lines: np.ndarray,
    settings: ReviewSettings,
) -> Fitted:
    """Trim on the cross-fitted propensity, then fit DoubleML's IRM on the disruptions kept."""
    folds = line_folds(lines, settings.n_folds, settings.seed)
    propensity = cross_fitted_propensity(x, treated, folds, settings)
    kept = np.flatnonzero((propensity >= settings.trim) & (propensity <= 1 - settings.trim))
    data = (
        x.iloc[kept]
        .reset_index(drop=True)
        .assign(_outcome=outcome[kept].astype(float), _treated=treated[kept].astype(float))
    )
    dml_data = doubleml.DoubleMLData(
        data,
        y_col="_outcome",
        d_cols="_treated",
        x_cols=list(x.columns),
        force_all_x_finite="allow-nan",
    )
    model = doubleml.DoubleMLIRM(
        dml_data,
        ml_g=_learner(settings, settings.seed + 101),
        ml_m=_learner(settings, settings.seed + 202),
        score="ATE",
        draw_sample_splitting=False,
    )
    model.set_sample_splitting(_samples(folds[kept]))
    with warnings.catch_warnings():
        # a non-positive nu2 is re-estimated by the library from the Riesz representer
        warnings.filterwarnings("ignore", message="The estimated nu2", category=UserWarning)
        model.fit(
            store_predictions=True,
            external_predictions={"_treated": {"ml_m": propensity[kept].reshape(-1, 1)}},
        )
    return Fitted(model, kept, propensity, treated, outcome, lines)


def clustered_se(fitted: Fitted) -> float:
    """The effect's standard error with the scores summed within each line (one-way cluster)."""
    psi = fitted.model.psi[:, 0, 0]
    jacobian = float(np.mean(fitted.model.psi_deriv[:, 0, 0]))
    by_line = pd.Series(psi).groupby(fitted.lines[fitted.kept]).sum().to_numpy()
    return float(np.sqrt(np.sum(by_line**2)) / (len(psi) * abs(jacobian)))


def summarise(fitted: Fitted, level: float) -> Estimate:
    """The effect, its interval (clustered by line), the naive difference and the counts, in points."""
    kept_treated = fitted.treated[fitted.kept].astype(bool)
    kept_outcome = fitted.outcome[fitted.kept].astype(float)
    effect = float(fitted.model.coef[0])
    se = clustered_se(fitted)
    z = float(norm.ppf(0.5 + level / 2))
    g0 = fitted.model.predictions["ml_g0"][:, 0, 0]
    m = fitted.propensity[fitted.kept]
    untreated_mean = float(np.mean(g0 + (~kept_treated) * (kept_outcome - g0) / (1 - m)))
    naive = kept_outcome[kept_treated].mean() - kept_outcome[~kept_treated].mean()
    return Estimate(
        estimate_points=100 * effect,
        se_points=100 * se,
        ci_low_points=100 * (effect - z * se),
        ci_high_points=100 * (effect + z * se),
        naive_points=100 * float(naive),
        untreated_mean=untreated_mean,
        n_treated=int(kept_treated.sum()),
        n_compared=int((~kept_treated).sum()),
        trimmed=int(len(fitted.treated) - len(fitted.kept)),
        n_lines=int(len(np.unique(fitted.lines[fitted.kept]))),
    )
