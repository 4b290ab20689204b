"""A model trained with ``as_of=unchecked`` (labels not checked against an as-of date) says so in
every week it scores: the manifest and the briefing carry the warning (issue 22, item 5)."""

from __future__ import annotations

import pytest
from test_hostile_input import model_ref, week_extract
from test_validate import TODAY, valid_extract

from resilience.data.asof import as_of_from_setting
from resilience.data.contract import load_data_contract
from resilience.data.validate import validate_frame
from resilience.learn.evidence import ModelEvidence
from resilience.learn.models import PersistenceModel
from resilience.report.context import ReportSettings, report_context
from resilience.report.load import load_week
from resilience.report.render import render_html
from resilience.weekly.score import score_week


@pytest.fixture(scope="module")
def contract():
    return load_data_contract("default")


@pytest.fixture(scope="module")
def tiny_model(contract):
    training = validate_frame(valid_extract(300), contract, require_label=True, today=TODAY).frame
    params = {"n_estimators": 5, "num_leaves": 4, "min_child_samples": 5, "n_jobs": 1}
    return PersistenceModel(
        contract, family="lightgbm", params=params, early_stopping_rounds=0
    ).fit(training)


def test_a_week_scored_by_an_unchecked_model_says_so_in_its_manifest_and_briefing(
    tiny_model, contract, tmp_path
):
    warning = as_of_from_setting("unchecked", None, contract).warning
    evidence = ModelEvidence.from_model(tiny_model)
    evidence.warnings = [warning]
    source = tmp_path / "week.csv"
    week_extract(8).to_csv(source, index=False)
    result = score_week(
        source, tiny_model, model_ref(), tmp_path / "out", today=TODAY, evidence=evidence
    )
    said = [w for w in result.manifest["warnings"] if "as_of=unchecked" in w]
    assert said == [f"the model's training: {warning}"]
    html = render_html(report_context(load_week(result.folder), None, ReportSettings()))
    assert "as_of=unchecked" in html and "not checked against the day the extract" in html


def test_a_model_trained_with_the_guard_on_carries_no_such_warning(tiny_model, tmp_path):
    source = tmp_path / "week.csv"
    week_extract(8).to_csv(source, index=False)
    result = score_week(source, tiny_model, model_ref(), tmp_path / "out", today=TODAY)
    assert not any("as_of" in w for w in result.manifest["warnings"])
