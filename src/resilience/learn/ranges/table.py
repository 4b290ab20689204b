"""Every row's range (``probability_low``, ``probability_high``, ``band_uncertain``), each row from
the ensemble of the model that predicts it (a segment model routes rows to its segments)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.learn.ranges.bounds import band_uncertain, bounds
from resilience.learn.ranges.ensemble import IntervalEnsemble, spread
from resilience.learn.ranges.incompleteness import incompleteness_spread

INTERVAL_COLUMNS = ("probability_low", "probability_high", "band_uncertain")


def interval_table(
    model,
    frame: pd.DataFrame,
    probability: np.ndarray | None = None,
    ensembles: dict[str, IntervalEnsemble] | None = None,
) -> pd.DataFrame:
    """``probability_low``, ``probability_high``, ``band_uncertain`` for the rows of ``frame``.

    Each row's range comes from the ensemble of the model that predicts it
    (``model.parts(frame)``): ``ensembles[route]`` when given, else that model's
    ``interval_ensemble_``; ``probability`` defaults to the model's own. A model trained without
    ranges (or a segment without one) gives an empty frame (no columns).
    """
    return by_route(model, frame, probability, ensembles, _table)


def by_route(model, frame: pd.DataFrame, probability, ensembles, build) -> pd.DataFrame:
    """``build(part, rows, probability, ensemble)`` for each model that predicts rows of ``frame``
    and its ensemble, put back in input order; an empty frame when a part has no ensemble (or
    ``build`` returns None for one)."""
    frame = frame.reset_index(drop=True)
    parts = model.parts(frame)
    chosen = {
        route: (ensembles or {}).get(route, part.interval_ensemble_)
        for route, (part, _) in parts.items()
    }
    if any(ensemble is None for ensemble in chosen.values()):
        return pd.DataFrame(index=pd.RangeIndex(len(frame)))
    if len(parts) == 1:  # one model predicts every row
        ((route, (part, _)),) = parts.items()
        built = build(part, frame, probability, chosen[route])
        return built if built is not None else pd.DataFrame(index=pd.RangeIndex(len(frame)))
    out = None
    for route, (part, rows) in parts.items():
        if not len(rows):
            continue
        p = None if probability is None else np.asarray(probability)[rows]
        table = build(part, frame.iloc[rows], p, chosen[route])
        if table is None:
            return pd.DataFrame(index=pd.RangeIndex(len(frame)))
        if out is None:
            out = pd.DataFrame(
                {c: np.zeros(len(frame), dtype=table[c].dtype) for c in table.columns}
            )
        for column in table.columns:
            out.loc[rows, column] = table[column].to_numpy()
    return out if out is not None else pd.DataFrame(index=pd.RangeIndex(len(frame)))


def _table(model, frame: pd.DataFrame, probability, ensemble: IntervalEnsemble) -> pd.DataFrame:
    X = model.prepare(frame.reset_index(drop=True))
    if probability is None:
        probability = model.probability_of(X, frame)
    known = np.sqrt(  # the refits', the record's incompleteness and the carried drift's
        spread(model, ensemble, X) ** 2
        + incompleteness_spread(ensemble, X) ** 2
        + model.drift_sd_of(X, frame) ** 2
    )
    low, high = bounds(np.asarray(probability, float), known, ensemble.z, ensemble.extra_sd)
    return pd.DataFrame(
        {
            "probability_low": low,
            "probability_high": high,
            "band_uncertain": band_uncertain(low, high),
        }
    )
