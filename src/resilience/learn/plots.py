"""Plots of the evaluation, drawn by scikit-learn's displays: the ROC curve, reliability curves
per group (calibration by cohort), precision at the weekly capacity, precision and recall at k,
and lift and gain at capacity (what acting on the top k lines a week finds, against chance).

Plain :class:`~matplotlib.figure.Figure` objects (no pyplot state, no backend switching), for
MLflow and reports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import RocCurveDisplay

from resilience.learn.metrics import at_capacity

STYLES = [("#0072B2", "o"), ("#E69F00", "s"), ("#009E73", "^"), ("#CC79A7", "D")]


def _figure():
    """A figure outside pyplot: no global backend or figure registry is touched."""
    figure = Figure(figsize=(5, 4), dpi=100)
    return figure, figure.subplots()


def plot_roc(y: np.ndarray, p: np.ndarray, title: str = "ROC curve") -> Figure:
    fig, ax = _figure()
    display = RocCurveDisplay.from_predictions(y, p, name="model", ax=ax, plot_chance_level=True)
    display.line_.set_color(STYLES[0][0])
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_calibration(
    groups: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "Calibration", n_bins: int = 10
) -> Figure:
    """Reliability curves (equal-width bins), one per group (e.g. overall, imported, home-grown);
    markers differ too."""
    fig, ax = _figure()
    for number, ((name, (y, p)), (colour, marker)) in enumerate(zip(groups.items(), STYLES)):
        CalibrationDisplay.from_predictions(
            y, p, n_bins=n_bins, name=name, ax=ax, ref_line=number == 0, color=colour, marker=marker
        )
    ax.set(
        xlabel="Predicted probability",
        ylabel="Observed rate",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def plot_precision_at_k(y: np.ndarray, p: np.ndarray, weeks: np.ndarray, max_k: int = 50) -> Figure:
    fig, ax = _figure()
    ks = np.arange(1, max_k + 1)
    precision = [at_capacity(y, p, weeks, k)[0] for k in ks]
    ax.plot(ks, precision, color="#0072B2", label="precision")
    ax.axhline(float(np.mean(y)), linestyle="--", color="#999999", label="base rate")
    ax.set(
        xlabel="Lines acted on per week (k)",
        ylabel="Share that persisted",
        title="Precision at weekly capacity",
    )
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def _mark_capacity(ax, capacity: int) -> None:
    ax.axvline(capacity, linestyle=":", color="#555555", label=f"weekly capacity ({capacity})")


def plot_precision_recall_at_k(curve: pd.DataFrame, capacity: int) -> Figure:
    """Precision and recall against the lines acted on per week (:func:`capacity_curve`)."""
    fig, ax = _figure()
    ax.plot(curve["k"], curve["precision"], color="#0072B2", label="precision")
    ax.plot(curve["k"], curve["recall"], color="#E69F00", label="recall")
    _mark_capacity(ax, capacity)
    ax.set(xlabel="Lines acted on per week (k)", ylabel="Share", ylim=(0, 1.02))
    ax.set_title("Precision and recall at k, test period")
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def plot_lift_and_gain(curve: pd.DataFrame, capacity: int) -> Figure:
    """Gain (share of persisting lines among those acted on, against a random choice of as
    many) and lift (precision over the base rate), by lines acted on per week."""
    figure = Figure(figsize=(9, 4), dpi=100)
    gain, lift = figure.subplots(1, 2)
    gain.plot(curve["k"], curve["recall"], color="#0072B2", label="model")
    gain.plot(curve["k"], curve["random_recall"], "--", color="#999999", label="random choice")
    _mark_capacity(gain, capacity)
    gain.set(xlabel="Lines acted on per week (k)", ylabel="Share of persisting lines found")
    gain.set_title("Gain at capacity")
    gain.legend(loc="best")
    lift.plot(curve["k"], curve["lift"], color="#0072B2", label="model")
    lift.axhline(1.0, linestyle="--", color="#999999", label="random choice")
    _mark_capacity(lift, capacity)
    lift.set(xlabel="Lines acted on per week (k)", ylabel="Precision / base rate")
    lift.set_title("Lift at capacity")
    lift.legend(loc="best")
    figure.tight_layout()
    return figure
