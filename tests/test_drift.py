"""Drift checks: PSI, significance on small weeks, and the alerts a report shows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.drift import DriftAccumulator, DriftConfig, build_reference, counts_differ, psi


def reference_frame(rng, rows=5000):
    return pd.DataFrame({"contacts": rng.lognormal(5.5, 0.8, rows).round(),
                         "area": rng.choice(list("ABCDEFGHIJKL"), rows),
                         "weeks": np.where(rng.random(rows) < 0.3, np.nan, rng.exponential(20, rows))})


def check(week, reference):
    accumulator = DriftAccumulator(reference, DriftConfig())
    for start in range(0, len(week), 100):  # chunk by chunk gives the same answer as all at once
        accumulator.update(week.iloc[start:start + 100])
    return accumulator.report()


def test_psi_is_zero_for_identical_shares_and_grows_with_shift():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.8, 0.2])


def test_an_ordinary_sample_raises_no_alert_even_when_small():
    rng = np.random.default_rng(0)
    reference = build_reference(reference_frame(rng), ["contacts", "area", "weeks"], ["area"], {})
    for rows in (35, 400, 4000):
        report = check(reference_frame(rng, rows), reference)
        assert not report["alerts"], (rows, report["alerts"])


def test_a_real_shift_is_an_alert_with_a_plain_message():
    rng = np.random.default_rng(1)
    reference = build_reference(reference_frame(rng), ["contacts", "area", "weeks"], ["area"],
                                {"contacts": "customer contacts"})
    week = reference_frame(rng, 400)
    week["contacts"] *= 4
    week.loc[week.index[:200], "weeks"] = np.nan
    report = check(week, reference)
    kinds = {(a["kind"], a["name"]) for a in report["alerts"]}
    assert ("feature", "contacts") in kinds and ("missing", "weeks") in kinds
    message = next(a["message"] for a in report["alerts"] if a["name"] == "contacts")
    assert "customer contacts" in message and "contacts" != message


def test_chi_squared_is_robust_to_empty_bins():
    assert not counts_differ([0.1] * 10, [4, 3, 5, 4, 0, 4, 5, 3, 4, 4], 0.001)
    assert counts_differ([0.1] * 10, [36, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0.001)


def test_explanation_drift_compares_top_reasons():
    rng = np.random.default_rng(2)
    reference = build_reference(reference_frame(rng), ["contacts"], [], {},
                                top_reason_shares={"market": 0.5, "holder_removed": 0.5})
    accumulator = DriftAccumulator(reference, DriftConfig())
    accumulator.update(reference_frame(rng, 300), ["market"] * 290 + ["holder_removed"] * 10)
    report = accumulator.report({"market": "Size of the market", "holder_removed": "Line holder arrested"})
    alert = next(a for a in report["alerts"] if a["kind"] == "explanation")
    assert "Size of the market" in alert["message"] or "Line holder arrested" in alert["message"]
    assert "holder_removed" not in alert["message"], "plain-English labels, never raw names"
