"""The drift page: each feature this week against the reference, with the test, the effect size
and the verdict, beside the week's briefing (which links to it)."""

from __future__ import annotations

import json

from resilience.core.week_files import DRIFT, DRIFT_HTML
from resilience.report.drift_page import feature_rows, render_drift_page, verdict
from resilience.weekly.drift import DriftAccumulator, DriftConfig, build_reference


def test_every_scored_week_has_a_page_with_every_feature(shared_scored_weeks):
    for folder in sorted(p for p in shared_scored_weeks.iterdir() if p.is_dir()):
        drift = json.loads((folder / DRIFT).read_text())
        page = (folder / DRIFT_HTML).read_text()
        assert folder.name in page, "the page names its week, not the temporary folder"
        for name, numbers in drift["features"].items():
            assert f'id="{name}"' in page
            assert (
                len(numbers["bins"]) == len(numbers["shares"]) == len(numbers["reference_shares"])
            )
            assert abs(sum(numbers["shares"]) - 1) < 1e-3 or drift["rows"] == 0


def _drift(shift: float):
    """A reference of 2,000 rows and a week of 800 whose 'contacts' moved by ``shift``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"contacts": rng.normal(100, 20, 2000), "age": rng.normal(50, 10, 2000)}
    )
    week = pd.DataFrame(
        {"contacts": rng.normal(100 + shift, 20, 800), "age": rng.normal(60, 10, 800)}
    )
    spec = build_reference(
        reference, ["contacts", "age"], [], {"contacts": "customer contacts"}, ageing=["age"]
    )
    accumulator = DriftAccumulator(spec, DriftConfig())
    accumulator.update(week)
    return accumulator.report()


def test_a_shifted_feature_reads_shift_an_ageing_one_information_a_steady_one_stable():
    shifted = {row["name"]: row for row in feature_rows(_drift(shift=25))}
    assert shifted["contacts"]["verdict"] == "shift" and shifted["contacts"]["significant"]
    assert shifted["age"]["verdict"] == "information", "age fields never alert"
    steady = {row["name"]: row for row in feature_rows(_drift(shift=0))}
    assert steady["contacts"]["verdict"] == "stable"
    page = render_drift_page(_drift(shift=25), "2026-W47")
    assert "customer contacts" in page and "chi-squared" in page and "PSI" in page
    assert "not why" in page, "a shift is not a cause"


def test_a_week_scored_before_distributions_were_kept_still_renders():
    old = {"rows": 100, "features": {"contacts": {"psi": 0.02, "p_value": 0.5}}, "alerts": []}
    assert verdict("contacts", old["features"]["contacts"], [], 0.1) == "stable"
    assert "numbers only" in render_drift_page(old, "2026-W01")


def test_categories_read_as_the_briefing_prints_them(tmp_path, contract):
    """The briefing and the annex say "Home grown"; the drift page said "home_grown". With the
    week's contract beside it, a declared category reads as words; the bins the drift check adds
    ("missing", a category not seen before) and free values stay as they are."""
    from resilience.core.week_files import CONTRACT
    from resilience.report.drift_page import write_drift_page

    drift = {
        "rows": 4704,
        "features": {
            "line_type": {
                "label": "Line type",
                "psi": 0.01,
                "p_value": 0.5,
                "bins": ["home_grown", "imported", "a category not seen before", "missing"],
                "reference_shares": [0.5, 0.5, 0.0, 0.0],
                "shares": [0.55, 0.45, 0.0, 0.0],
            }
        },
        "alerts": [],
    }
    (tmp_path / DRIFT).write_text(json.dumps(drift), encoding="utf-8")
    assert "home_grown" in (write_drift_page(tmp_path)).read_text()  # no contract: as recorded
    (tmp_path / CONTRACT).write_text(json.dumps(contract.to_dict()), encoding="utf-8")
    page = write_drift_page(tmp_path).read_text()
    assert "Home grown" in page and "Imported" in page and "home_grown" not in page
    assert "a category not seen before" in page and "4,704 rows scored" in page
