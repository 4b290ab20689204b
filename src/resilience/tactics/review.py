"""The review: every tactic, overall and for each cohort (imported and home-grown lines).

Each tactic x cohort is its own fit (:mod:`~resilience.tactics.estimate`): its own folds, its own
trimming, its own population, so a cohort's figures come from lines of that cohort alone. The
fits run side by side on ``settings.n_jobs`` processes (LightGBM one thread each).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from resilience.core.errors import ConfigError
from resilience.data.contract import DataContract
from resilience.tactics.design import TacticDesign, covariates, given, tactic_designs
from resilience.tactics.estimate import Estimate, Fitted, fit_effect, summarise
from resilience.tactics.files import ALL
from resilience.tactics.sensitivity import line_trace, pooled_trace, sensitivity
from resilience.tactics.settings import ReviewSettings

OVERLAP_BINS = 20
MIN_EACH_SIDE = 20  # disruptions with and without the tactic, after trimming


@dataclass(frozen=True)
class ReviewResult:
    """One row per tactic and cohort (``rows``), the propensity histograms and the populations."""

    rows: pd.DataFrame
    overlap: pd.DataFrame
    populations: dict[tuple[str, str], np.ndarray]


def cohorts(frame: pd.DataFrame, contract: DataContract) -> list[tuple[str, np.ndarray]]:
    """``all``, then each level of the data config's cohort column present in the extract."""
    masks = [(ALL, np.ones(len(frame), dtype=bool))]
    if contract.cohort_column:
        values = frame[contract.cohort_column].astype("string")
        spec = contract.column(contract.cohort_column)
        levels = spec.allowed or tuple(sorted(values.dropna().unique()))
        masks += [(str(v), (values == v).fillna(False).to_numpy()) for v in levels]
    return [(name, mask) for name, mask in masks if mask.any()]


def _histogram(propensity: np.ndarray, treated: np.ndarray) -> dict:
    edges = np.linspace(0, 1, OVERLAP_BINS + 1)
    return {
        "given": np.histogram(propensity[treated], edges)[0].tolist(),
        "not_given": np.histogram(propensity[~treated], edges)[0].tolist(),
    }


@dataclass
class _Fit:
    """One tactic x cohort as it comes back from its worker."""

    row: dict
    histogram: dict
    ids: np.ndarray
    fitted: Fitted | None = None
    estimate: Estimate | None = None
    trace: tuple[float | None, int] = (None, 0)


def _one(
    frame: pd.DataFrame,
    contract: DataContract,
    design: TacticDesign,
    cohort: str,
    settings: ReviewSettings,
) -> _Fit:
    """Estimate one tactic on one cohort's disruptions; a row even when there is too little data."""
    treated = given(frame, contract, design.tactic)
    outcome = frame[contract.label].astype(bool).to_numpy()
    lines = frame[contract.line_column].astype(str).to_numpy()
    row = {"tactic": design.tactic, "cohort": cohort, "label": design.label}
    row |= {"comparison": design.comparison, "adjusted_for": list(design.adjustment)}
    if min(treated.sum(), (~treated).sum()) < MIN_EACH_SIDE:
        return _Fit(row | {"note": "too few disruptions with and without it"}, {}, np.array([]))
    x = covariates(frame, contract, design.adjustment)
    fitted = fit_effect(x, treated, outcome, lines, settings)
    histogram = _histogram(fitted.propensity, treated)
    kept_treated = treated[fitted.kept]
    if min(kept_treated.sum(), (~kept_treated).sum()) < MIN_EACH_SIDE:
        note = "too few comparable disruptions after trimming"
        row |= {"note": note, "trimmed": len(frame) - len(fitted.kept)}
        return _Fit(row, histogram, np.array([]))
    ids = frame[contract.id_column].to_numpy()[fitted.kept]
    trace = line_trace(fitted, frame[contract.date_column].to_numpy())
    return _Fit(row, histogram, ids, fitted, summarise(fitted, settings.level), trace)


def _with_sensitivity(fits: list[_Fit], settings: ReviewSettings) -> list[dict]:
    """Each estimate's row with its sensitivity, the gauge pooled over its cohort's tactics."""
    gauges = {
        cohort: pooled_trace(
            [f.trace for f in fits if f.row["cohort"] == cohort], settings.min_pairs
        )
        for cohort in dict.fromkeys(f.row["cohort"] for f in fits)
    }
    rows = []
    for fit in fits:
        if fit.fitted is None:
            rows.append(fit.row)
            continue
        sens = sensitivity(
            fit.fitted, fit.estimate, fit.trace, gauges[fit.row["cohort"]], settings.level
        )
        rows.append(fit.row | asdict(fit.estimate) | asdict(sens) | {"note": ""})
    return rows


def review_tactics(
    frame: pd.DataFrame, contract: DataContract, settings: ReviewSettings
) -> ReviewResult:
    """Estimate every tactic of the data config overall and per cohort (labelled disruptions only).

    Examples
    --------
    >>> result = review_tactics(history, contract, ReviewSettings())  # doctest: +SKIP
    >>> result.rows[list(CSV_COLUMNS)]                                  # doctest: +SKIP
    """
    labelled = frame[frame[contract.label].notna()].reset_index(drop=True)
    if len(labelled) < settings.min_rows:
        raise ConfigError(
            f"a tactics review needs at least {settings.min_rows} disruptions with a known outcome "
            f"('{contract.label}'), found {len(labelled)}"
        )
    jobs = [
        (design, cohort, mask)
        for design in tactic_designs(contract, settings)
        for cohort, mask in cohorts(labelled, contract)
    ]
    results = Parallel(n_jobs=settings.n_jobs)(
        delayed(_one)(labelled[mask].reset_index(drop=True), contract, design, cohort, settings)
        for design, cohort, mask in jobs
    )
    rows = pd.DataFrame(_with_sensitivity(results, settings))
    overlap = pd.DataFrame(
        [
            {"tactic": f.row["tactic"], "cohort": f.row["cohort"], **f.histogram}
            for f in results
            if f.histogram
        ]
    )
    populations = {(f.row["tactic"], f.row["cohort"]): f.ids for f in results}
    return ReviewResult(rows=rows, overlap=overlap, populations=populations)
