"""Drift checks: PSI, significance on small weeks, and the alerts a report shows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resilience.weekly.drift import (
    DriftAccumulator,
    DriftConfig,
    build_reference,
    holm,
    psi,
    two_sample_p,
)


def reference_frame(rng, rows=5000):
    return pd.DataFrame(
        {
            "contacts": rng.lognormal(5.5, 0.8, rows).round(),
            "area": rng.choice(list("ABCDEFGHIJKL"), rows),
            "weeks": np.where(rng.random(rows) < 0.3, np.nan, rng.exponential(20, rows)),
        }
    )


def check(week, reference):
    accumulator = DriftAccumulator(reference, DriftConfig())
    for start in range(0, len(week), 100):  # chunk by chunk gives the same answer as all at once
        accumulator.update(week.iloc[start : start + 100])
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
    reference = build_reference(
        reference_frame(rng),
        ["contacts", "area", "weeks"],
        ["area"],
        {"contacts": "customer contacts"},
    )
    week = reference_frame(rng, 400)
    week["contacts"] *= 4
    week.loc[week.index[:200], "weeks"] = np.nan
    report = check(week, reference)
    kinds = {(a["kind"], a["name"]) for a in report["alerts"]}
    assert ("feature", "contacts") in kinds and ("missing", "weeks") in kinds
    message = next(a["message"] for a in report["alerts"] if a["name"] == "contacts")
    assert "'customer contacts'" in message, "the plain-English label, quoted"
    assert "'contacts'" not in message, "never the raw column name"
    missing = next(a["message"] for a in report["alerts"] if a["kind"] == "missing")
    assert "'weeks'" in missing and f"{week['weeks'].isna().mean():.0%}" in missing, (
        missing
    )  # the week's share


def test_the_briefing_states_a_real_alert_s_number_once():
    """Scoring's message for a shifted input states its stability index; the briefing's trust
    section added the same number again in other words."""
    from resilience.report.trust import _alerts

    rng = np.random.default_rng(1)
    reference = build_reference(reference_frame(rng), ["contacts", "area", "weeks"], ["area"], {})
    week = reference_frame(rng, 400)
    week["contacts"] *= 4
    week.loc[week.index[:200], "weeks"] = np.nan
    report = check(week, reference)
    for alert, raw in zip(_alerts(report), report["alerts"], strict=True):
        shown = f"{alert['message']} {alert['measure']}"
        assert shown.count(f"{raw['value']:.2f}") <= 1, shown
        assert alert["measure"] or f"{raw['value']:.2f}" in alert["message"], alert


def test_two_sample_test_is_robust_to_empty_bins_and_counts_the_reference_size():
    assert two_sample_p([100] * 10, [4, 3, 5, 4, 0, 4, 5, 3, 4, 4]) > 0.01
    assert two_sample_p([100] * 10, [36, 0, 0, 0, 0, 0, 0, 0, 0, 0]) < 1e-6
    # the same week against a small reference is less surprising than against a large one
    week = [30, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    assert two_sample_p([5] * 10, week) > two_sample_p([500] * 10, week)


def test_holm_rejects_step_down():
    assert holm({"a": 0.001, "b": 0.03, "c": 0.04}, 0.05) == {"a"}  # 0.03 > 0.05/2: stop
    assert holm({"a": 0.001, "b": 0.02, "c": 0.024}, 0.05) == {"a", "b", "c"}
    assert holm({"a": 0.2}, 0.05) == set()


def test_explanation_drift_compares_top_reasons():
    rng = np.random.default_rng(2)
    reference = build_reference(
        reference_frame(rng),
        ["contacts"],
        [],
        {},
        top_reason_shares={"market": 0.5, "holder_removed": 0.5},
        top_reason_rows=800,
    )
    accumulator = DriftAccumulator(reference, DriftConfig())
    accumulator.update(reference_frame(rng, 300), ["market"] * 290 + ["holder_removed"] * 10)
    report = accumulator.report(
        {"market": "Size of the market", "holder_removed": "Line holder arrested"}
    )
    alert = next(a for a in report["alerts"] if a["kind"] == "explanation")
    assert "Size of the market" in alert["message"] or "Line holder arrested" in alert["message"]
    assert "holder_removed" not in alert["message"], "plain-English labels, never raw names"


CONCEPTS = ["market", "holder_removed", "violence", "workforce", "exploitation", "area"]
CONCEPT_SHARES = [0.35, 0.25, 0.15, 0.1, 0.1, 0.05]


def stationary_frame(rng, rows):
    """Numbers, counts, categories, a flag and a feature with missing values, from one fixed world."""
    return pd.DataFrame(
        {
            "contacts": rng.lognormal(5.5, 0.8, rows).round(),
            "runners": rng.poisson(3, rows),
            "area": rng.choice(list("ABCDEFGHIJKL"), rows),
            "grade": rng.choice(["minor", "moderate", "major"], rows, p=[0.6, 0.3, 0.1]),
            "weapons": (rng.random(rows) < 0.2).astype(float),
            "weeks": np.where(rng.random(rows) < 0.3, np.nan, rng.exponential(20, rows)),
        }
    )


def test_stationary_weeks_rarely_alert_whatever_the_sizes():
    """The family-wise promise, by simulation: a week drawn from the same world as the reference
    alerts in at most 5% of weeks, for small and large weeks and references (the reference is a
    sample too), with explanation drift counted in the correction."""
    rng = np.random.default_rng(11)
    replications, alerted = 100, {}
    for reference_rows in (500, 5000):
        for _ in range(replications):
            frame = stationary_frame(rng, reference_rows)
            shares = pd.Series(rng.choice(CONCEPTS, reference_rows, p=CONCEPT_SHARES)).value_counts(
                normalize=True
            )
            reference = build_reference(
                frame,
                list(frame.columns),
                ["area", "grade"],
                {},
                top_reason_shares=shares.to_dict(),
                top_reason_rows=reference_rows,
            )
            for rows in (50, 400, 5000):
                accumulator = DriftAccumulator(reference, DriftConfig())
                accumulator.update(
                    stationary_frame(rng, rows), list(rng.choice(CONCEPTS, rows, p=CONCEPT_SHARES))
                )
                report = accumulator.report()
                assert report["tests"] == 2 * len(frame.columns) + 1
                alerted[(reference_rows, rows)] = alerted.get((reference_rows, rows), 0) + bool(
                    report["alerts"]
                )
    rates = {key: count / replications for key, count in alerted.items()}
    assert all(rate <= 0.05 for rate in rates.values()), rates


def test_ageing_features_are_information_not_alerts():
    rng = np.random.default_rng(5)
    frame = stationary_frame(rng, 3000)
    reference = build_reference(
        frame,
        list(frame.columns),
        ["area", "grade"],
        {"weeks": "weeks since the last disruption"},
        ageing=["weeks"],
    )
    week = stationary_frame(rng, 1000)
    week["weeks"] = week["weeks"] + 30  # the panel has aged
    week.loc[week.index[:400], "weeks"] = np.nan
    report = check(week, reference)
    assert not [a for a in report["alerts"] if a["name"] == "weeks"], report["alerts"]
    info = [i for i in report["information"] if i["name"] == "weeks"]
    assert {i["kind"] for i in info} == {"feature", "missing"} and report["features"]["weeks"][
        "ageing"
    ]
    assert all("for information" in i["message"] for i in info)
    # the same shift on a feature not declared ageing is an alert
    reference = build_reference(frame, list(frame.columns), ["area", "grade"], {})
    assert {a["kind"] for a in check(week, reference)["alerts"] if a["name"] == "weeks"} == {
        "feature",
        "missing",
    }
