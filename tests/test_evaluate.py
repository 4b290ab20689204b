"""Metrics: the vectorised bootstrap equals resampling row by row; capacity metrics; ECE."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from resilience.learn import metrics, plots


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_statistics_equal_explicit_resamples(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(300) < 0.4).astype(float)
    p = np.round(rng.random(300), 2)  # rounding makes ties, which AUC must count as halves
    weights = metrics.bootstrap_weights(len(y), 20, seed)
    fast = metrics.weighted_statistics(y, p, weights)
    for r in range(20):
        idx = np.repeat(np.arange(len(y)), weights[r].astype(int))
        assert fast["roc_auc"][r] == pytest.approx(roc_auc_score(y[idx], p[idx]), abs=1e-12)
        assert fast["brier"][r] == pytest.approx(brier_score_loss(y[idx], p[idx]), abs=1e-12)
        assert fast["ece"][r] == pytest.approx(
            metrics.expected_calibration_error(y[idx], p[idx]), abs=1e-12
        )
        assert fast["calibration_gap"][r] == pytest.approx(p[idx].mean() - y[idx].mean(), abs=1e-12)


def test_precision_and_recall_at_weekly_capacity():
    y = np.array([1, 0, 1, 0, 1, 1])
    p = np.array([0.9, 0.8, 0.1, 0.7, 0.6, 0.2])
    weeks = np.array(["a", "a", "a", "b", "b", "b"])
    precision, recall = metrics.at_capacity(y, p, weeks, k=1)
    assert precision == 0.5 and recall == 0.25  # week a: top is a persister; week b: top is not


def test_ece_is_zero_for_perfect_calibration_in_every_bin():
    p = np.repeat([0.15, 0.55], 20)
    y = np.r_[np.r_[np.ones(3), np.zeros(17)], np.r_[np.ones(11), np.zeros(9)]]
    assert metrics.expected_calibration_error(y, p) == pytest.approx(0.0)


def test_calibration_in_the_large_and_slope_recover_a_known_miscalibration():
    rng = np.random.default_rng(4)
    p = rng.beta(2, 3, 20000)
    logit = np.log(p / (1 - p))
    truth = 1 / (1 + np.exp(-(0.3 + 0.7 * logit)))  # model too extreme (slope 0.7) and too low
    y = (rng.random(len(p)) < truth).astype(float)
    large = metrics.calibration_in_the_large(y, p)
    assert large["gap"] == pytest.approx(p.mean() - y.mean())
    assert large["se"] == pytest.approx(np.std(p - y, ddof=1) / np.sqrt(len(p)))
    slope = metrics.calibration_slope(y, p)
    assert abs(slope["slope"] - 0.7) < 3 * slope["slope_se"] and slope["slope_se"] < 0.05
    perfect = (rng.random(len(p)) < p).astype(float)
    assert (
        abs(metrics.calibration_slope(perfect, p)["slope"] - 1)
        < 3 * metrics.calibration_slope(perfect, p)["slope_se"]
    )


def test_plots_leave_matplotlib_state_alone():
    import matplotlib
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    y, p = np.array([0, 1, 0, 1]), np.array([0.1, 0.8, 0.3, 0.6])
    for figure in (plots.plot_roc(y, p), plots.plot_calibration({"all lines": (y, p)})):
        assert figure.axes and matplotlib.get_backend() == backend and plt.get_fignums() == figures
