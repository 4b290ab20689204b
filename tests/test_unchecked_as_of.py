"""A model trained with ``as_of=unchecked`` (labels not checked against an as-of date) says so in
every week it scores: the manifest and the briefing carry the warning (issue 22, item 5)."""

from __future__ import annotations

import pytest
from test_hostile_input import model_ref, tiny_model, week_extract
from test_validate import TODAY

from resilience.data.asof import as_of_from_setting
from resilience.data.contract import load_data_contract
from resilience.learn.evidence import ModelEvidence
from resilience.report.context import ReportSettings, report_context
from resilience.report.load import load_week
from resilience.report.render import render_html
from resilience.weekly.score import score_week


@pytest.fixture(scope="module")
def model():
    return tiny_model(load_data_contract("default"))


def test_a_week_scored_by_an_unchecked_model_says_so_in_its_manifest_and_briefing(
    model, contract, tmp_path
):
    warning = as_of_from_setting("unchecked", None, contract).warning
    evidence = ModelEvidence.from_model(model)
    evidence.warnings = [warning]
    source = tmp_path / "week.csv"
    week_extract(8).to_csv(source, index=False)
    result = score_week(
        source, model, model_ref(), tmp_path / "out", today=TODAY, evidence=evidence
    )
    said = [w for w in result.manifest["warnings"] if "as_of=unchecked" in w]
    assert said == [f"the model's training: {warning}"]
    html = render_html(report_context(load_week(result.folder), None, ReportSettings()))
    assert "as_of=unchecked" in html and "not checked against the day the extract" in html


def test_a_model_trained_with_the_guard_on_carries_no_such_warning(model, tmp_path):
    source = tmp_path / "week.csv"
    week_extract(8).to_csv(source, index=False)
    result = score_week(source, model, model_ref(), tmp_path / "out", today=TODAY)
    assert not any("as_of" in w for w in result.manifest["warnings"])
