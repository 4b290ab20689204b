"""What a young record does not show yet: the record-incompleteness spread ``r``.

A model trained on records as they stood (:mod:`resilience.learn.records`) estimates, for a
record ``a`` weeks old, the chance of persisting *given what is on record so far*: the average
over the packages that such a record may still turn into. The line's true chance depends on the
package as it will be recorded in full, so a young record's estimate is right on average but any
one line's can move by a lot as its record fills in (a charge recorded, referrals keyed in). The
members' spread ``s`` cannot show this: they are judged on the same young record.

**Method.** On the training disruptions, for every snapshot row ``(d, a)``, the squared move of
the model's log-odds from that snapshot to the disruption's latest record before the horizon,
``(logit p(x_{d,latest}) - logit p(x_{d,a}))^2``, is regressed on the snapshot's inputs (the record
age among them) by a small LightGBM (the spread model's settings,
:data:`~resilience.learn.ranges.ensemble.SPREAD_MODEL_PARAMS`); ``r(x, age)`` is the square root
of its prediction, added in quadrature: ``total^2 = s^2 + tau^2 + u^2 + r^2``. A complete record
has ``r`` near 0; a record the horizon will not fill (fields recorded after it) keeps what the
latest snapshot still lacked unmeasured, which is why this uses the latest record *before* the
horizon (never a later one, which could carry the outcome).

**Measured** (the lead's prototype on the default world, 60,000 lines): with the spread model,
u = 0.3 and no tau, 80% ranges held the true probability for 0.51 (age 0) to 0.73 (age 11) of test
lines; with ``r`` added, 0.76-0.79 at ages 0-6, widths 0.29 (age 0) shrinking to 0.18 (age 8+).
``benchmarks/record_age.py`` measures it per world and age.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.learn.ranges.bounds import EPS, logit
from resilience.learn.ranges.ensemble import SPREAD_MODEL_PARAMS, IntervalEnsemble


def incompleteness_moves(
    model, rows: pd.DataFrame, latest: pd.DataFrame, id_column: str
) -> np.ndarray:
    """Per row of ``rows``: the model's log-odds on its disruption's latest record (``latest``,
    one row per disruption) minus its log-odds on the row itself."""
    on_rows = logit(model.persistence_probability(rows))
    on_latest = pd.Series(
        logit(model.persistence_probability(latest)),
        index=latest[id_column].astype(str).to_numpy(),
    )
    target = on_latest.reindex(rows[id_column].astype(str).to_numpy()).to_numpy()
    return np.where(np.isfinite(target), target - on_rows, 0.0)


def fit_incompleteness_model(model, X: pd.DataFrame, moves: np.ndarray, seed: int = 0):
    """A small regression of the squared moves (:func:`incompleteness_moves`) on the rows'
    prepared inputs ``X`` (record age included): ``r^2`` as a smooth function of the record."""
    from lightgbm import LGBMRegressor  # lazy: LightGBM loads its native library at import

    threads = model.n_jobs
    params = {
        **SPREAD_MODEL_PARAMS,
        "random_state": seed,
        **({"n_jobs": int(threads)} if threads else {}),
    }
    return LGBMRegressor(**params).fit(X, np.asarray(moves, float) ** 2)


def incompleteness_spread(ensemble: IntervalEnsemble, X: pd.DataFrame) -> np.ndarray:
    """``r`` for the prepared rows ``X``: 0 for an ensemble fitted without records as they stood
    (or pickled before it could carry one)."""
    fitted = ensemble.incompleteness_model  # a class default: None on ensembles pickled before
    if fitted is None or not len(X):
        return np.zeros(len(X))
    return np.sqrt(np.clip(fitted.predict(X), EPS, None))
