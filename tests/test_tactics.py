"""The tactics review: what it compares and adjusts for, the estimator's properties on a small
confounded world whose truth is known, the sensitivity analysis, the record and the briefing's view.
The benchmark over several worlds is benchmarks/tactics.py (not part of the suite)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from conftest import run_command

from resilience.core.errors import ConfigError
from resilience.data.contract import DataContract
from resilience.data.synthetic import generate_world, load_world_config
from resilience.data.synthetic.tactics import tactic_effect_truth
from resilience.explain.wording import CAUSAL_WORDS
from resilience.tactics.brief import recent_review
from resilience.tactics.design import covariates, given, tactic_designs
from resilience.tactics.displacement import displacement
from resilience.tactics.estimate import clustered_se, fit_effect, line_folds, summarise
from resilience.tactics.files import CSV_COLUMNS, REVIEW_HTML, REVIEW_JSON, TACTICS_CSV
from resilience.tactics.publish import review_summary, write_review
from resilience.tactics.review import review_tactics
from resilience.tactics.sensitivity import e_value, line_trace, pooled_trace
from resilience.tactics.settings import ReviewSettings
from resilience.tactics.words import ASSUMPTIONS, STANDING, finding

SETTINGS = ReviewSettings(n_jobs=1, min_rows=50)


@pytest.fixture(scope="module")
def passenger_world():
    """About 5,300 labelled disruptions; ancillary orders travel with the charge, no effect of their own."""
    return generate_world(load_world_config("confounded_passenger", n_lines=6000, seed=11))


def _fit(world, contract, tactic, settings=SETTINGS, truth=True):
    history = world.history.reset_index(drop=True)
    design = next(d for d in tactic_designs(contract, settings) if d.tactic == tactic)
    treated = given(history, contract, tactic)
    fitted = fit_effect(
        covariates(history, contract, design.adjustment),
        treated,
        history[contract.label].astype(bool).to_numpy(),
        history[contract.line_column].to_numpy(),
        settings,
    )
    kept_ids = history[contract.id_column].to_numpy()[fitted.kept]
    if truth:
        truth = tactic_effect_truth(world, tactic, kept_ids)["effect_points"].mean()
    return fitted, summarise(fitted, settings.level), truth


# -- what is compared, and what is adjusted for ------------------------------------------------------
def test_adjustment_set_holds_the_line_and_earlier_tactics_only(contract):
    designs = {d.tactic: d for d in tactic_designs(contract, ReviewSettings())}
    assert list(designs) == list(contract.tactics)
    ancillary = designs["ancillary_orders"].adjustment
    assert {"holder_arrested", "closure_type", "ddtro", "closure_orders"} <= set(ancillary)
    arrest = designs["holder_arrested"].adjustment
    assert "sustained_operation" in arrest
    # never a tactic of the same step or later, nor a record of the disruption that may follow from it
    for later in ("runners_arrested", "handsets_seized", "closure_type", "ancillary_orders"):
        assert later not in arrest
    for column in (
        "safeguarding_referrals",
        "disruption_grade",
        "drugs_seized_gbp",
        contract.label,
    ):
        assert all(column not in d.adjustment for d in designs.values())
    assert "safeguarding_referrals" not in designs  # a duty, never scored
    assert {"contacts", "line_type", "policing_area"} <= set(arrest)


def test_given_reads_yes_no_counts_and_the_untreated_level(contract):
    frame = pd.DataFrame(
        {"ddtro": [True, False], "ancillary_orders": [0, 3], "closure_type": ["none", "type2"]}
    )
    assert given(frame, contract, "ddtro").tolist() == [True, False]
    assert given(frame, contract, "ancillary_orders").tolist() == [False, True]  # any against none
    assert given(frame, contract, "closure_type").tolist() == [False, True]
    with pytest.raises(ConfigError, match="row 2"):
        given(pd.DataFrame({"ddtro": [True, None]}), contract, "ddtro")


def test_configs_that_would_bias_the_review_are_refused(contract):
    with pytest.raises(ConfigError, match="neither a tactic nor the label"):
        tactic_designs(contract, ReviewSettings(adjust_also=("handsets_seized",)))
    with pytest.raises(ConfigError, match="safeguarding_referrals.*not tactics"):
        tactic_designs(contract, ReviewSettings(tactics=("safeguarding_referrals",)))
    raw = contract.to_dict()
    raw["columns"]["closure_type"].pop("untreated")  # a contract stored before the key: still loads
    with pytest.raises(ConfigError, match="untreated"):
        tactic_designs(DataContract.from_dict(raw), ReviewSettings())
    raw["columns"]["closure_type"]["untreated"] = "closed"
    with pytest.raises(ConfigError, match="untreated"):
        DataContract.from_dict(raw)
    untacticed = contract.to_dict()
    for spec in untacticed["columns"].values():
        spec.pop("tactic", None)
        spec.pop("untreated", None)
    with pytest.raises(ConfigError, match="nothing to review"):
        tactic_designs(DataContract.from_dict(untacticed), ReviewSettings())


# -- the estimator's properties on a world whose truth is known -----------------------------------
def test_folds_keep_every_line_whole_and_balanced():
    lines = np.repeat([f"L{i}" for i in range(300)], np.arange(300) % 4 + 1)
    folds = line_folds(lines, 5, seed=0)
    assert pd.Series(folds).groupby(lines).nunique().max() == 1
    assert np.bincount(pd.Series(folds).groupby(lines).first().to_numpy()).tolist() == [60] * 5


def test_passenger_tactic_is_found_near_zero_where_the_naive_comparison_sees_an_effect(
    passenger_world, contract
):
    fitted, estimate, truth = _fit(passenger_world, contract, "ancillary_orders")
    assert truth == 0.0  # no effect of its own in this world
    assert estimate.ci_low_points <= truth <= estimate.ci_high_points
    assert abs(estimate.estimate_points) < 4
    assert estimate.naive_points < -10  # the orders travel with the charge
    assert not estimate.ci_low_points <= estimate.naive_points <= estimate.ci_high_points
    kept = fitted.propensity[fitted.kept]
    assert kept.min() >= SETTINGS.trim and kept.max() <= 1 - SETTINGS.trim
    assert estimate.trimmed == len(fitted.propensity) - len(fitted.kept)
    assert estimate.n_treated + estimate.n_compared == len(fitted.kept)


def test_the_interval_holds_the_truth_of_a_strong_tactic(passenger_world, contract):
    _, estimate, truth = _fit(passenger_world, contract, "holder_arrested")
    assert truth < -25
    assert abs(estimate.estimate_points - truth) < 3 * estimate.se_points  # the 99.7% interval
    assert estimate.ci_high_points - estimate.ci_low_points < 10


def test_clustered_errors_equal_the_library_when_every_line_is_seen_once(passenger_world, contract):
    history = passenger_world.history.reset_index(drop=True)
    singles = history.assign(line_id=history[contract.id_column])  # every disruption its own line
    world = replace(passenger_world, history=singles)
    fitted, estimate, _ = _fit(world, contract, "sustained_operation")
    assert clustered_se(fitted) == pytest.approx(float(fitted.model.se[0]), rel=1e-6)
    # every disruption recorded twice under its line: the same evidence, not twice as much
    twice = pd.concat([singles.head(1500)] * 2, ignore_index=True)
    twice[contract.id_column] = [f"D{i}" for i in range(len(twice))]
    fitted, _, _ = _fit(
        replace(passenger_world, history=twice), contract, "sustained_operation", truth=False
    )
    assert clustered_se(fitted) == pytest.approx(np.sqrt(2) * float(fitted.model.se[0]), rel=1e-6)


# -- sensitivity ---------------------------------------------------------------------------------------
def test_e_value_matches_vanderweele_and_ding():
    assert e_value(2.0) == pytest.approx(2 + np.sqrt(2))
    assert e_value(0.5) == pytest.approx(2 + np.sqrt(2))  # either side of 1
    assert e_value(1.0) == pytest.approx(1.0)


def test_line_trace_sees_a_line_character_that_steers_the_choice():
    rng = np.random.default_rng(0)
    lines = np.repeat(np.arange(600), 2)
    character = rng.normal(size=600)[lines]

    def trace(strength):
        chance = 1 / (1 + np.exp(-strength * character))
        treated = rng.random(len(lines)) < chance
        fitted = type(
            "F",
            (),
            {
                "kept": np.arange(len(lines)),
                "lines": lines,
                "treated": treated,
                "propensity": np.full(len(lines), 0.5),
            },
        )
        return line_trace(fitted, np.tile([1, 2], 600))

    steered, pairs = trace(2.0)
    unsteered, _ = trace(0.0)
    assert pairs == 600
    assert steered > 0.2 and abs(unsteered) < 0.1
    assert pooled_trace([(steered, pairs), (None, 0), (-0.3, 10)], min_pairs=200) == pytest.approx(
        steered
    )
    assert pooled_trace([(0.4, 50)], min_pairs=200) is None


@pytest.mark.slow
def test_hidden_confounding_is_called_fragile_and_recorded_confounding_is_not(contract):
    def review(preset):
        world = generate_world(load_world_config(preset, n_lines=6000, seed=5))
        four = ("sustained_operation", "holder_arrested", "runners_arrested", "ddtro")
        rows = review_tactics(
            world.history, contract, replace(SETTINGS, n_jobs=2, tactics=four)
        ).rows
        return rows[rows["cohort"] == "all"]

    hidden, recorded = review("confounded_hidden"), review("confounded")
    assert hidden["fragile"].astype(bool).mean() >= 0.75
    assert recorded["fragile"].astype(bool).mean() <= 0.25
    assert (hidden["gauge"] > recorded["gauge"]).all()


# -- the record, the words and the briefing's view --------------------------------------------------
@pytest.fixture(scope="module")
def small_review(contract):
    world = generate_world(load_world_config("confounded", n_lines=2500, seed=2))
    settings = replace(SETTINGS, min_pairs=50, tactics=("holder_arrested", "ancillary_orders"))
    result = review_tactics(world.history, contract, settings)
    summary = review_summary(world.history, contract, SETTINGS, result, "synthetic", "2026-11-02")
    return summary, result


def test_review_folder_holds_the_issue_columns_and_is_replaced_whole(tmp_path, small_review):
    summary, result = small_review
    folder = write_review(tmp_path, summary, result)
    table = pd.read_csv(folder / TACTICS_CSV)
    assert tuple(table.columns) == CSV_COLUMNS
    assert set(table["cohort"]) == {"all", "imported", "home_grown"}
    assert len(table) == 2 * 3 and list(table["tactic"].unique()) == [
        "holder_arrested",
        "ancillary_orders",
    ]
    html = (folder / REVIEW_HTML).read_text()
    assert "<script" not in html and "not proof" in html and "Home-grown lines" in html
    record = json.loads((folder / REVIEW_JSON).read_text())
    assert record["summary"]["displacement"]["closures"] > 0
    write_review(tmp_path, summary, result)  # a rerun the same day replaces the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-02"]


def test_the_briefing_sees_a_review_only_under_a_quarter_old(tmp_path, small_review):
    summary, result = small_review
    write_review(tmp_path, summary, result)
    found = recent_review(tmp_path, date(2026, 11, 29))
    assert found.age_days == 27 and len(found.findings) == 2 and found.standing == STANDING
    assert recent_review(tmp_path, date(2027, 2, 1)) is None  # 91 days: a quarter old
    assert recent_review(tmp_path, date(2026, 11, 1)) is None  # made after the briefing's day
    assert recent_review(tmp_path / "none", date(2026, 11, 29)) is None


def test_words_claim_associations_never_causes(small_review):
    _, result = small_review
    texts = (
        [finding(row) for row in result.rows.to_dict("records")] + list(ASSUMPTIONS) + [STANDING]
    )
    for text in texts:
        hits = [w for w in CAUSAL_WORDS if re.search(rf"\b{re.escape(w)}\b", text.lower())]
        assert not hits, (hits, text)
    assert "not proof" in STANDING


def test_displacement_counts_the_groups_other_lines_around_a_closure(contract):
    frame = pd.DataFrame(
        {
            "ocg_id": ["G1", "G1", "G1", "G1", None],
            "line_id": ["A", "B", "B", "C", "D"],
            "disruption_date": pd.to_datetime(
                ["2026-03-01", "2026-02-01", "2026-03-20", "2026-04-10", "2026-03-01"]
            ),
            "persisted_12w": [False, True, False, True, False],
        }
    )
    result = displacement(frame, contract)
    # closures: A (03-01: before it B's first, new; after it B again and C, new) and B's second
    # (03-20: before it A's first, new; after it C, new, still active); D has no group
    assert result["closures"] == 2 and result["groups"] == 1
    assert result["before"] == {"disruptions": 2, "still_active": 1, "new_lines": 2}
    assert result["after"] == {"disruptions": 3, "still_active": 2, "new_lines": 2}


def test_the_briefing_renders_without_the_tactics_extra():
    code = "import sys; sys.modules['doubleml'] = None; import resilience.report.render, resilience.tactics.brief"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.mark.slow
def test_command_writes_the_review_and_logs_it_to_mlflow(tmp_path, new_store_uri):
    import mlflow

    world = generate_world(load_world_config("confounded_passenger", n_lines=2500, seed=4))
    world.history.to_parquet(tmp_path / "history.parquet", index=False)
    uri = new_store_uri
    args = [
        f"output_root={tmp_path / 'reviews'}",
        "reviewed_on=2026-11-20",
        "review.tactics=[ancillary_orders]",
    ]
    done = run_command(
        "resilience-tactics",
        f"input={tmp_path / 'history.parquet'}",
        *args,
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "reviews" / "2026-11-20"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [TACTICS_CSV, REVIEW_JSON, REVIEW_HTML]
    )
    assert "ancillary_orders" in done.stdout and str(folder) in done.stdout
    mlflow.set_tracking_uri(uri)
    try:
        (run,) = mlflow.search_runs(experiment_names=["tactics-review"], output_format="list")
        assert run.data.params["data_config"] == "default"
        assert "estimate_points.ancillary_orders.all" in run.data.metrics
        logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "tactics")}
        assert logged == {f"tactics/{n}" for n in (TACTICS_CSV, REVIEW_JSON, REVIEW_HTML)}
    finally:
        mlflow.set_tracking_uri(None)
    # an extract without outcomes is refused, naming the column, and nothing is written
    world.history.drop(columns="persisted_12w").to_parquet(tmp_path / "open.parquet", index=False)
    refused = run_command(
        "resilience-tactics",
        f"input={tmp_path / 'open.parquet'}",
        f"output_root={tmp_path / 'none'}",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert refused.returncode == 2 and "persisted_12w" in refused.stderr
    assert "missing required column" in refused.stderr and not (tmp_path / "none").exists()


def test_the_briefing_section_shows_a_recent_review_beside_the_options(tmp_path, small_review):
    from resilience.report.render import _environment

    summary, result = small_review
    write_review(tmp_path, summary, result)
    template = _environment().get_template("_tactics_review.html.j2")
    shown = template.render(tactics_review=recent_review(tmp_path, date(2026, 11, 29)))
    assert "What the latest tactics review found" in shown and "2026-11-02" in shown
    assert "not proof" in shown and "does not change this briefing" in shown
    assert shown.count("<li>") == 2
    assert template.render(tactics_review=None).strip() == ""
    assert template.render().strip() == ""  # a briefing built without the key shows nothing


def fake_review(text: str) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """A review's summary, rows and overlap made by hand, every free text set to ``text`` (for the
    template tests: no estimator runs)."""
    row = {
        "tactic": "ddtro",
        "label": text,
        "comparison": text,
        "adjusted_for": [text],
        "note": "",
        "estimate_points": -5.0,
        "se_points": 1.0,
        "ci_low_points": -7.0,
        "ci_high_points": -3.0,
        "naive_points": -9.0,
        "untreated_mean": 0.5,
        "n_treated": 10,
        "n_compared": 20,
        "trimmed": 1,
        "n_lines": 25,
        "robustness_value": 0.1,
        "e_value": 1.5,
        "e_value_ci": 1.2,
        "line_trace": 0.1,
        "line_pairs": 300,
        "gauge": 0.1,
        "shift_points": 3.0,
        "fragile": True,
    }
    rows = pd.DataFrame([row | {"cohort": "all"}, row | {"cohort": text, "note": text}])
    overlap = pd.DataFrame(
        [{"tactic": "ddtro", "cohort": "all", "given": [1] * 20, "not_given": [2] * 20}]
    )
    summary = {
        "reviewed_on": "2026-11-02",
        "source": text,
        "data_config": text,
        "n_disruptions": 30,
        "n_lines": 25,
        "first_date": "2024-01-01",
        "last_date": "2026-08-30",
        "weeks": 12,
        "population": text,
        "settings": {"trim": 0.02, "n_folds": 5, "level": 0.95},
        "cohort_labels": {text: text},
        "gauges": [{"cohort": text, "gauge": 0.1}],
        "adjusted_for": [text],
        "library": {"doubleml": text, "lightgbm": text},
        "displacement": {
            "closures": 2,
            "groups": 1,
            "weeks": 12,
            "before": {"disruptions": 1, "still_active": 1, "new_lines": 1},
            "after": {"disruptions": 1, "still_active": 1, "new_lines": 1},
        },
    }
    return summary, rows, overlap
