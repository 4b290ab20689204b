"""A week's probabilities drawn jointly from the ranges' components.

A line's range is the logit-normal ``expit(mu + sd * Z)`` with ``sd^2 = s^2 + tau^2 + u^2``
(the package docstring). Its parts are not all the line's own:

* ``tau``, the extra spread the test period shows, was estimated as an error **shared** by lines
  of one cohort with similar estimates (drift moves them together);
* ``s``, the refits' error, is partly shared too: a refit that runs high for a kind of line runs
  high for all its lines. The share of the refits' squared error that lines of one cohort and one
  yardstick band share (:func:`shared_share`, measured on the test period at training,
  ``refit_shared_share``) is drawn once per such group; the rest line by line;
* ``u``, the assumed unrecorded character of a line, is each line's **own**.

So a draw of the week (:func:`joint_draws`) gives every group ``(cohort, band of the estimate)``
one shared normal per shared part and every line its own, and each line's draws keep exactly its
range's distribution: ``x = mu + shared_sd * Z_group + own_sd * Z_line`` with ``shared_sd^2 =
f s^2 + tau^2`` and ``own_sd^2 = (1 - f) s^2 + u^2``. What a week's decision needs is read from
the draws (:mod:`resilience.weekly.shortlist`): how often a line is on the shortlist, and the
chance it is "likely or more" (:func:`chance_above`, exact from the line's own distribution).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from resilience.core.yardstick import band_index
from resilience.learn.ranges.bounds import logit, logit_normal_centre
from resilience.learn.ranges.ensemble import IntervalEnsemble, spread
from resilience.learn.ranges.table import by_route

COMPONENT_COLUMNS = ("range_centre", "range_shared_sd", "range_own_sd")


def draw_groups(cohort, probability) -> np.ndarray:
    """Codes of the groups whose lines share the shared parts: the cohort (as text; None for no
    cohort column) and the yardstick band of the estimate."""
    probability = np.asarray(probability, float)
    cohorts = (
        np.zeros(len(probability), dtype=np.int64)
        if cohort is None
        else pd.factorize(pd.Series(cohort).astype(str), sort=True)[0]
    )
    return cohorts * 100 + band_index(probability)


def model_groups(model, frame: pd.DataFrame, X: pd.DataFrame) -> np.ndarray:
    """:func:`draw_groups` of the rows of ``frame`` (``X``: their input matrix) by ``model``."""
    column = model.contract.cohort_column
    cohort = frame[column].to_numpy() if column and column in frame.columns else None
    return draw_groups(cohort, model.probability_of(X, frame))


def shared_share(errors: np.ndarray, groups: np.ndarray) -> float:
    """The share of the refits' mean squared error (``errors``: members x rows) that rows of one
    group share: a variance-components (method of moments) estimate, ``E[group mean^2] =
    shared + within / n``, clipped to 0-1."""
    errors = np.asarray(errors, float)
    if errors.size == 0 or errors.shape[1] < 2:
        return 0.0
    codes = np.unique(groups, return_inverse=True)[1]
    counts = np.bincount(codes)
    total = float((errors**2).mean())
    if total <= 0:
        return 0.0
    means = np.stack([np.bincount(codes, row) / counts for row in errors])
    between = float(((means**2) * counts).sum(axis=1).mean() / len(codes))
    ratio = len(counts) / len(codes)
    shared = (between - total * ratio) / max(1 - ratio, 1e-12)
    return float(np.clip(shared / total, 0.0, 1.0))


def _components(model, frame: pd.DataFrame, probability, ensemble: IntervalEnsemble):
    """One model's rows: the centre and the shared and own sd of their draws (None for an
    ensemble fitted before its components were kept)."""
    if ensemble.shared_sd is None or ensemble.unobserved_sd is None:
        return None
    X = model.prepare(frame.reset_index(drop=True))
    if probability is None:
        probability = model.probability_of(X, frame)
    refit = spread(model, ensemble, X) ** 2
    share = float(ensemble.refit_shared_share)
    # a carried drift's error is its cohort's trend error: shared by the cohort's lines
    shared = np.sqrt(share * refit + ensemble.shared_sd**2 + model.drift_sd_of(X, frame) ** 2)
    own = np.sqrt((1 - share) * refit + ensemble.unobserved_sd**2)
    centre = logit_normal_centre(np.asarray(probability, float), np.hypot(shared, own))
    return pd.DataFrame(dict(zip(COMPONENT_COLUMNS, (centre, shared, own))))


def range_components(model, frame: pd.DataFrame, probability=None) -> pd.DataFrame:
    """Per row of ``frame``: ``range_centre`` (log-odds), ``range_shared_sd`` and ``range_own_sd``,
    from the ensemble of the model that predicts it; an empty frame without them."""
    return by_route(model, frame, probability, None, _components)


def joint_draws(
    components: pd.DataFrame, groups: np.ndarray, draws: int, seed: int, batch: int = 25
) -> Iterator[np.ndarray]:
    """``draws`` joint draws of every row's probability, ``batch`` at a time ((batch, rows) each):
    one normal per group and shared part, one per row for its own part (module docstring)."""
    centre, shared, own = (components[c].to_numpy(float) for c in COMPONENT_COLUMNS)
    codes = np.unique(groups, return_inverse=True)[1]
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    for start in range(0, draws, batch):
        size = min(batch, draws - start)
        group_normal = rng.standard_normal((size, n_groups))[:, codes]
        own_normal = rng.standard_normal((size, len(centre)))
        yield expit(centre + shared * group_normal + own * own_normal)


def chance_above(components: pd.DataFrame, threshold: float) -> np.ndarray:
    """Each row's chance that its probability exceeds ``threshold`` (exact: its range's own
    logit-normal distribution)."""
    centre, shared, own = (components[c].to_numpy(float) for c in COMPONENT_COLUMNS)
    return norm.sf((logit(np.array([threshold]))[0] - centre) / np.hypot(shared, own))
