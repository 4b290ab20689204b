"""Responsible use: fairness flags, model cards from real run values, and the scoring guard."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_WORLD
from mlflow.tracking import MlflowClient

from resilience.core.errors import ResilienceError
from resilience.data.synthetic import generate_world
from resilience.data.validate import validate_frame
from resilience.governance.card import (
    calibration_rows,
    carried_drift_words,
    collect_facts,
    render,
)
from resilience.governance.fairness import (
    fairness_flags,
    group_calibration,
    minimum_detectable_gap,
    plain_findings,
    verify_detectable_gaps,
)
from resilience.learn.evaluation import EvaluationConfig, fit_and_evaluate
from resilience.learn.models import PersistenceModel
from resilience.learn.split import SplitConfig, split_history
from resilience.pipelines.train import TrainingData, TrainSettings, train_and_track
from resilience.pipelines.train_evidence import fairness_table
from resilience.report.trust import drift_carried_words
from resilience.tracking import store, vetting

EVAL = EvaluationConfig(n_bootstrap=200, min_slice_size=50)


def area_flags(world_config, contract):
    world = generate_world(world_config)
    history = validate_frame(
        world.history, contract, require_label=True, today=pd.Timestamp(world_config.end_date)
    ).frame
    split = split_history(history, contract, SplitConfig())
    evaluation = fit_and_evaluate(split, contract, PersistenceModel(contract), EVAL)
    flags = fairness_table(evaluation, contract, EVAL)
    return {f["value"]: f["flag"] for f in flags if f["slice"] == "policing_area"}


@pytest.mark.slow
def test_a_miscalibrated_area_is_flagged_and_a_fair_world_is_not(contract):
    # no drift: the default world's drift (home-grown lines growing more resilient) is a real,
    # correctly flagged miscalibration of home-grown lines, which would spill into areas
    world = replace(SMALL_WORLD, n_lines=20000, seed=5, drift_strength=0.0)
    unfair = area_flags(
        replace(world, miscalibrated_area="Northmere", miscalibration_log_odds=1.2), contract
    )
    assert unfair["Northmere"] == "under-predicts"
    fair = area_flags(world, contract)
    assert fair["Northmere"] == "ok"
    assert not [a for a, f in fair.items() if f in ("over-predicts", "under-predicts")], fair


def test_fairness_flags_need_evidence_of_a_gap_that_may_pass_the_tolerance():
    rows = [  # 4 compared groups: z = norm.ppf(1 - 0.025 / 8) = 2.73
        (
            "A",
            -0.05,
            0.01,
        ),  # clearly low: interval (-0.077, -0.023) excludes zero, reaches past -0.03
        ("B", 0.04, 0.02),  # interval includes zero: no evidence
        (
            "C",
            0.012,
            0.002,
        ),  # real but pinned inside the tolerance (0.007 to 0.018): reported, not flagged
        ("E", 0.045, 0.003),  # confirmed beyond the tolerance
    ]
    slices = pd.DataFrame(
        [
            {
                "slice": "area",
                "value": v,
                "rows": 500,
                "suppressed": False,
                "calibration_gap": g,
                "calibration_gap_se": se,
                "mean_predicted": 0.5,
                "observed_rate": 0.5 - g,
            }
            for v, g, se in rows
        ]
        + [{"slice": "area", "value": "D", "rows": 12, "suppressed": True}]
    )
    flags = {f["value"]: f for f in fairness_flags(slices, 0.03)}
    assert {k: f["flag"] for k, f in flags.items()} == {
        "A": "under-predicts",
        "B": "ok",
        "C": "ok",
        "E": "over-predicts",
        "D": "suppressed",
    }
    assert flags["E"]["beyond_tolerance"] and not flags["A"]["beyond_tolerance"]
    findings = plain_findings(list(flags.values()))
    assert (
        len(findings) == 2
        and "run low for area = A" in findings[0]
        and "5.0 points below" in findings[0]
    )


SLICES = ["line_type", "origin_hub", "policing_area"]


def simulated_test_period(rng, planted_gap: float, rows: int = 9000) -> pd.DataFrame:
    """Predictions and outcomes of a test period with no model fit: outcomes drawn from the
    predictions themselves (a calibrated model) plus ``planted_gap`` for home-grown lines."""
    line_type = np.where(rng.random(rows) < 0.5, "home_grown", "imported")
    hubs = ["london", "birmingham", "liverpool", "manchester", "other_hub"]
    frame = pd.DataFrame(
        {
            "line_type": line_type,
            "origin_hub": np.where(line_type == "home_grown", "local", rng.choice(hubs, rows)),
            "policing_area": rng.choice([f"Area {i}" for i in range(12)], rows),
            "p": rng.beta(2, 3, rows),
        }
    )
    truth = np.clip(frame["p"] + np.where(line_type == "home_grown", planted_gap, 0.0), 0, 1)
    frame["y"] = (rng.random(rows) < truth).astype(int)
    return frame


def flags_of(frame: pd.DataFrame) -> list[dict]:
    """The check as training runs it: line type is the pre-declared cohort."""
    tolerance = EvaluationConfig().fairness_tolerance
    return fairness_flags(
        group_calibration(frame, SLICES, "y", "p"), tolerance, 0.025, "line_type", 0.02
    )


@pytest.mark.slow
def test_fairness_flags_fire_at_their_stated_error_rates():
    """By simulation (200 seeded replications each, no model fits): with no group effect the chance
    of flagging any group stays within 5%; a 3-point under-prediction of home-grown lines is flagged
    in at least 80% of test periods of 20,000 lines (the cohort is tested as its own family)."""
    rng = np.random.default_rng(2026)
    false_flags = found = 0
    replications = 200
    for _ in range(replications):
        fair = flags_of(simulated_test_period(rng, 0.0))
        false_flags += any(f["flag"] in ("over-predicts", "under-predicts") for f in fair)
        planted = flags_of(simulated_test_period(rng, 0.03, rows=20_000))
        found += any(f["value"] == "home_grown" and f["flag"] == "under-predicts" for f in planted)
    assert false_flags / replications <= 0.05, false_flags
    assert found / replications >= 0.8, found


def test_each_set_of_lines_is_tested_once_and_the_cohort_is_its_own_family():
    from scipy.stats import norm

    flags = {f["value"]: f for f in flags_of(simulated_test_period(np.random.default_rng(1), 0.0))}
    local = flags["local"]  # origin hub "local" holds exactly the home-grown lines
    assert local["flag"] == "same lines" and local["same_lines_as"] == "line_type = home_grown"
    assert "calibration_gap" not in local or local.get("calibration_gap") is None
    # line type: 2 values at 0.02; every other group: 12 areas and 5 hubs (local counted once)
    assert flags["home_grown"]["flag_z"] == pytest.approx(norm.ppf(1 - 0.02 / 4))
    assert flags["Area 0"]["flag_z"] == pytest.approx(norm.ppf(1 - 0.025 / (2 * 17)))
    assert "pre-declared cohort" in flags["imported"]["flag_family"]
    row = flags["home_grown"]  # the interval the flag uses is the one recorded
    z, se = row["flag_z"], row["calibration_gap_se"]
    assert row["flag_interval_low"] == pytest.approx(row["calibration_gap"] - z * se)


@pytest.mark.parametrize("rows", [2_000, 9_000, 20_000])
def test_the_stated_detectable_gap_is_what_simulation_finds(rows):
    """The smallest gap flagged with 80% power, from the formula, against a search by simulation
    (outcomes drawn from the group's own estimates plus the gap): within 1 point."""
    frame = simulated_test_period(np.random.default_rng(rows), 0.0, rows=rows)
    flags = verify_detectable_gaps(flags_of(frame), frame, "y", "p", seed=rows)
    for row in flags:
        if row.get("detectable_gap") is not None:
            assert abs(row["detectable_gap"] - row["detectable_gap_simulated"]) <= 0.01, row
    # the plain formula (the group's own standard error) is close for the large groups
    home = next(r for r in flags if r["value"] == "home_grown")
    gap = minimum_detectable_gap(home["calibration_gap_se"], home["flag_z"], 0.03)
    assert home["detectable_gap_simulated"] == pytest.approx(gap, abs=0.01)


@pytest.fixture(scope="module")
def registered(small_history, contract, tmp_path_factory, blank_store):
    import mlflow
    from conftest import copy_blank_store

    uri = copy_blank_store(blank_store, tmp_path_factory.mktemp("card"))
    mlflow.set_tracking_uri(uri)
    governance = {
        "organisation": "Test Force",
        "owner_role": "Head of Analysis",
        "contact": "a@example.invalid",
        "review_months": 6,
        "purpose": "Testing.",
        "intended_users": ["analysts"],
        "out_of_scope": ["Decisions about individuals."],
        "drift_policy": "Review alerts.",
        "human_oversight": "A person decides.",
    }
    settings = TrainSettings(
        evaluation=EvaluationConfig(n_bootstrap=30),
        tracking=store.TrackingConfig(tracking_uri=uri),
        governance=governance,
    )
    result = train_and_track(
        TrainingData(small_history, contract, "h.parquet", "ab" * 32),
        PersistenceModel(contract),
        settings,
    )
    return uri, result, governance


@pytest.mark.slow
def test_every_version_has_a_card_filled_from_the_run(registered):
    uri, result, governance = registered
    client = MlflowClient(uri)
    assert (
        client.get_model_version("line-resilience", result.model_version).tags["model_card"]
        == "logged"
    )
    facts = collect_facts("line-resilience", result.model_version, governance)
    documents = render(facts)
    card = documents["model_card.md"]
    auc = result.evaluation.metrics["roc_auc"]
    assert f"{auc:.3f}" in card and "Test Force" in card and "Head of Analysis" in card
    assert result.evaluation.split.test_start in card and "ab" * 32 in card
    for section in (
        "Intended use",
        "Out of scope",
        "Training data",
        "Features",
        "Not used, and refused",
        "Validation design",
        "Calibration",
        "By slice",
        "Known limitations",
        "Drift policy",
        "ALGO-CARE",
    ):
        assert section in card, section
    # beside each group: the interval the flag uses and the gap it could detect (and simulated)
    home = next(r for r in facts["fairness"] if r["value"] == "home_grown")
    assert f"{home['flag_interval_low']:.3f} to {home['flag_interval_high']:.3f}" in card
    assert f"{home['detectable_gap']:.3f} ({home['detectable_gap_simulated']:.3f})" in card
    assert "the same lines as line_type = home_grown: counted once" in card
    assert facts["screen"] is None and "Which reasons are earned" not in card  # no screen run
    atrs = __import__("json").loads(documents["atrs.json"])
    assert (
        set(atrs) == {"tier_1", "tier_2"} and atrs["tier_2"]["owner"]["role"] == "Head of Analysis"
    )
    assert {"owner", "purpose", "data", "model", "risks", "mitigations", "human_oversight"} <= set(
        atrs["tier_2"]
    )
    algo = __import__("json").loads(documents["algo_care.json"])
    assert [a["item"] for a in algo] == [
        "Advisory",
        "Lawful",
        "Granularity",
        "Ownership",
        "Challengeable",
        "Accuracy",
        "Responsible",
        "Explainable",
    ]
    assert all(a["evidence"] for a in algo)


def test_the_card_reports_each_features_pass_rate_over_the_screens_resamples(trained, mlflow_at):
    mlflow_at(trained)
    facts = collect_facts("line-resilience", "1", {"review_months": 6})
    card = render(facts)["model_card.md"]
    rows = facts["screen"]["rows"]
    run = MlflowClient(trained.uri).get_run(facts["model"]["run_id"])
    resamples = run.data.params[
        "explain.screen.resamples"
    ]  # what the shared store was trained with
    assert "Which reasons are earned" in card and facts["screen"]["resamples"] == resamples
    assert len(rows) == len(facts["features"]) and all(0 <= r["pass_rate"] <= 1 for r in rows)
    grade = next(r for r in rows if r["label"] == "disruption grade")  # no effect of its own here
    assert grade["shown"].startswith("no (summarises line holder arrested"), grade
    contacts = next(r for r in rows if r["label"] == "customer contacts")
    assert contacts["shown"] == "yes" and contacts["pass_rate"] == 1.0
    assert f"| customer contacts | {contacts['ratio']:.2f} | 100% | yes |" in card


def test_the_cards_calibration_shows_each_bin_as_the_range_of_estimates_it_holds(
    trained, mlflow_at
):
    """A reader meets "estimates 20-30%", never "bin 2": in the Markdown card and the HTML one,
    each row of the run's calibration table is named by the range of estimates it holds."""
    mlflow_at(trained)
    facts = collect_facts("line-resilience", "1", {"review_months": 6})
    documents = render(facts)
    rows = facts["calibration"]
    assert rows and all(r["mean_predicted"] is not None for r in rows)
    calibration = documents["model_card.md"].split("### Calibration")[1].split("###")[0]
    assert "| Estimates | Lines |" in calibration and "bin" not in calibration.lower()
    for row in rows:
        low, high = row["bin"] * 10, (row["bin"] + 1) * 10
        assert low <= 100 * row["mean_predicted"] <= high  # the range holds its own estimates
        assert f"| {low}\u2013{high}% | {row['rows']} |" in calibration
        assert (
            f'<th scope="row">{low}\u2013{high}%</th><td>{row["rows"]}</td>'
            in (documents["model_card.html"])
        )
    # the bins the run logged (here 20 of 5 points each), or the default 10 when none was logged
    twenty = calibration_rows([{"bin": 3}, {"bin": 19}], "20")
    assert [r["range"] for r in twenty] == ["15\u201320%", "95\u2013100%"]
    assert calibration_rows([{"bin": 0}, {"bin": 9}])[1]["range"] == "90\u2013100%"


def test_the_card_states_a_drift_the_calibrator_carries_as_a_limitation(
    trained, mlflow_at, contract
):
    """A drift between kinds of line that the model carries past its training is an assumption
    the card states with its numbers, how far it is carried, and what follows if it stopped."""
    drift = {
        "column": "line_type",
        "per_year": {"home_grown": 0.2213, "imported": -0.04},
        "served_from": "2026-03-02",
        "carried_weeks": 26.0,
    }
    words = carried_drift_words(drift, "0.0031")
    assert words is not None
    for part in (
        "home_grown +0.22",
        "imported -0.04",
        "p = 0.0031",
        "at most 26 weeks after 2026-03-02",
    ):
        assert part in words, part
    assert "at its level on 2026-03-02" in carried_drift_words({**drift, "carried_weeks": 0.0})
    assert "drift test p < 0.0001" in carried_drift_words(drift, "0.0")  # logged to 6 decimals
    assert carried_drift_words({}) is None and carried_drift_words(None) is None
    assert carried_drift_words({**drift, "per_year": {}}) is None
    # a drift too gentle to move an estimate a point a year is not a limitation, in the card as in
    # the briefing (one threshold for both)
    gentle = {**drift, "per_year": {"home_grown": 0.03, "imported": -0.04}}
    assert carried_drift_words(gentle, "0.0031") is None
    assert drift_carried_words({"cohort_drift": gentle}, contract) is None
    assert drift_carried_words({"cohort_drift": drift}, contract) is not None
    # the shared champion's card says it exactly when the model's own evidence carries a drift
    mlflow_at(trained)
    facts = collect_facts("line-resilience", "1", {"review_months": 6})
    evidence = vetting.load_vetted_model("models:/line-resilience/1").evidence
    assert (facts["carried_drift"] is None) == (not evidence.cohort_drift.get("per_year"))
    for carried in (None, words):
        documents = render({**facts, "carried_drift": carried})
        limits = documents["model_card.md"].split("## Known limitations")[1]
        assert (carried is not None) == ("drift between kinds of line" in limits)
        assert carried is None or carried in limits
        assert (carried is not None) == (
            "drift between kinds of line" in documents["model_card.html"]
        )


def test_changing_a_run_metric_changes_the_card(registered):
    uri, result, governance = registered
    MlflowClient(uri).log_metric(result.run_id, "test_roc_auc", 0.6123)
    card = render(collect_facts("line-resilience", result.model_version, governance))[
        "model_card.md"
    ]
    assert "0.612" in card and "61%" in card


def test_scoring_refuses_a_version_whose_card_is_missing_or_changed(registered):
    """The card is part of what the version's signature covers: a card removed or rewritten in the
    store (where anyone with write access could) and the version no longer loads."""
    import mlflow

    uri, result, _ = registered
    mlflow.set_tracking_uri(uri)
    model_uri = f"models:/line-resilience/{result.model_version}"
    assert vetting.load_vetted_model(model_uri).vetted.signed_by  # signed at training
    run = MlflowClient(uri).get_run(result.run_id)
    card = Path(run.info.artifact_uri.removeprefix("file://")) / "model_card" / "model_card.md"
    text = card.read_bytes()
    try:
        card.write_text("A friendlier card.")
        with pytest.raises(ResilienceError, match="model card documents .* changed"):
            vetting.load_vetted_model(model_uri)
        for document in card.parent.iterdir():
            document.rename(document.with_suffix(document.suffix + ".gone"))
        with pytest.raises(ResilienceError, match="model card documents .* are missing"):
            vetting.load_vetted_model(model_uri)
    finally:
        for document in card.parent.iterdir():
            document.rename(document.with_name(document.name.removesuffix(".gone")))
        card.write_bytes(text)
    vetting.load_vetted_model(model_uri)


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def every_template() -> set[str]:
    """Every Jinja template shipped in the package, wherever it lives."""
    import resilience

    return {path.name for path in Path(resilience.__file__).parent.rglob("*.j2")}


def _hostile_tactics_review() -> dict[str, str]:
    """The tactics review's page and the briefing's section, every free text hostile."""
    from test_tactics import fake_review

    from resilience.report.render import _environment
    from resilience.tactics.brief import RecentReview
    from resilience.tactics.render import render_review

    section = _environment().get_template("_tactics_review.html.j2")
    recent = RecentReview(HOSTILE, 1, 30, (HOSTILE,), 1, HOSTILE, HOSTILE)
    return {
        "review.html": render_review(*fake_review(HOSTILE)),
        "briefing tactics section": section.render(tactics_review=recent),
    }


def _hostile_analyst_pages() -> dict[str, str]:
    """The leaderboard, the drift page, the line explorer and the backtest, every free text
    hostile."""
    import pandas as pd

    from resilience.pipelines.backtest import Backtest
    from resilience.pipelines.compare import Leaderboard
    from resilience.report.backtest import render_backtest
    from resilience.report.drift_page import render_drift_page
    from resilience.report.explorer import render_explorer
    from resilience.report.leaderboard import render_leaderboard

    board = Leaderboard(
        pd.DataFrame({"recipe": [HOSTILE], "family": [HOSTILE], "roc_auc": [0.8]}),
        HOSTILE,
        {"test_start": HOSTILE},
        HOSTILE,
        10,
        champion=HOSTILE,
    )
    drift = {
        "rows": 50,
        "features": {
            HOSTILE: {
                "label": HOSTILE,
                "bins": [HOSTILE, "missing"],
                "shares": [1.0, 0.0],
                "reference_shares": [0.5, 0.5],
                "psi": 0.3,
                "p_value": 0.001,
            }
        },
        "alerts": [{"kind": "feature", "name": HOSTILE, "message": HOSTILE}],
        "thresholds": {"psi_warning": 0.1},
    }
    line = {
        "score": {"line_id": HOSTILE, "disruption_id": HOSTILE, "yardstick_band": HOSTILE},
        "points": [[HOSTILE, 1.0]],
        "fields": {HOSTILE: HOSTILE},
        "history": [{"week": HOSTILE, "band": HOSTILE}],
        "decisions": [{"week": HOSTILE, "decision": HOSTILE, "reason": HOSTILE, "by": HOSTILE}],
        "what_if": {HOSTILE: [[HOSTILE, 0.5]]},
    }
    return {
        "leaderboard.html": render_leaderboard(board),
        "drift.html": render_drift_page(drift, HOSTILE),
        "explorer.html": render_explorer(HOSTILE, [line], {HOSTILE: HOSTILE}),
        "backtest.html": render_backtest(
            Backtest(
                cutoff=HOSTILE,
                as_of=pd.Timestamp("2026-06-07"),
                by_week=pd.DataFrame(
                    {"week": [HOSTILE], "shortlist_persisted": [0.5], "shortlist_expected": [0.6]}
                ),
                by_age=pd.DataFrame(
                    {
                        "record_age": [HOSTILE, "complete"],
                        "bias_vs_observed_points": [5.0, 0.0],
                        "bias_se_points": [1.0, 1.0],
                        "bias_vs_truth_points": [float("nan")] * 2,
                    }
                ),
                summary={
                    "weeks_replayed": 1,
                    "rows_replayed": 1,
                    "rows_judged": 1,
                    "disruptions_judged": 1,
                },
            )
        ),
    }


def test_hostile_text_is_inert_in_every_template(registered, tmp_path, monkeypatch):
    """One test, every template: hostile text in governance settings, group names, feature labels,
    decisions and report data comes out as text. Templates are found on disk, so a new template
    that this test does not render fails it."""
    import jinja2
    from test_report import write_fake_week

    from resilience.report import load_week, render_html, report_context

    rendered: set[str] = set()
    original = jinja2.Environment.get_template

    def recording(self, name, *args, **kwargs):
        rendered.add(str(name).rsplit("/", 1)[-1])
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "get_template", recording)
    uri, result, governance = registered
    facts = collect_facts("line-resilience", result.model_version, governance)
    facts["governance"] = {
        k: (HOSTILE if isinstance(v, str) else [HOSTILE] if isinstance(v, list) else v)
        for k, v in facts["governance"].items()
    }
    facts["fairness"][0]["value"] = HOSTILE
    facts["fairness_findings"] = [f"Estimates run high for area = {HOSTILE}."]
    facts["features"][0]["label_text"] = HOSTILE
    facts["model"]["decision_reason"] = HOSTILE
    facts["data"]["input"] = HOSTILE
    facts["carried_drift"] = carried_drift_words(
        {"column": HOSTILE, "per_year": {HOSTILE: 0.3}, "served_from": HOSTILE, "carried_weeks": 26}
    )
    documents = render(facts)
    week = write_fake_week(tmp_path / "2026-W47", hostile=True)
    documents["report.html"] = render_html(report_context(load_week(week), None))
    documents.update(_hostile_tactics_review())
    documents.update(_hostile_analyst_pages())
    for name, text in documents.items():
        if name.endswith(".json"):
            continue
        # the explorer's own script is its one <script>: the data it shows sit in an attribute
        scripts = 1 if name == "explorer.html" else 0
        assert text.lower().count("<script") == scripts and "<img" not in text.lower(), name
    assert (
        "&lt;script&gt;" in documents["model_card.html"]
        and "&lt;script&gt;" in documents["model_card.md"]
    )
    assert "&lt;script&gt;" in documents["atrs.md"]
    assert rendered >= every_template(), f"templates not exercised: {every_template() - rendered}"
