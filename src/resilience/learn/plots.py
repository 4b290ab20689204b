"""Plots of the evaluation, drawn by scikit-learn's displays: the ROC curve, reliability curves
per group and precision at the weekly capacity.

Plain :class:`~matplotlib.figure.Figure` objects (no pyplot state, no backend switching), for
MLflow and reports.
"""

from __future__ import annotations

import numpy as np
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
