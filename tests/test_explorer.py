"""The line explorer: a scored week's lines, each with its full explanation, range, history and
decisions, and a what-if recomputed by the model (what it weighs, never what an action causes)."""

from __future__ import annotations

import html as html_text
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_command

from resilience.learn.models import PersistenceModel
from resilience.report.explorer import CAUTION, line_records, what_if_table, what_if_values

CHROMIUM = Path("/usr/bin/chromium")


def test_the_what_if_is_the_model_s_own_estimate_with_one_field_changed(small_history, contract):
    model = PersistenceModel(contract).fit(small_history)
    rows = small_history.head(3)
    table = what_if_table(model, rows, contract, ["contacts", "holder_arrested", "line_type"])
    first = str(rows[contract.id_column].iloc[0])
    value, estimate = table[first]["contacts"][-1]
    changed = rows.head(1).copy()
    changed["contacts"] = pd.Series([value], index=changed.index).astype(rows["contacts"].dtype)
    assert estimate == pytest.approx(model.predict_proba(changed)[0, 1], abs=1e-4)
    assert [v for v, _ in table[first]["holder_arrested"]] == [True, False]
    assert {v for v, _ in table[first]["line_type"]} == set(contract.column("line_type").allowed)


def test_numeric_fields_are_offered_at_this_week_s_percentiles_and_zero(small_history, contract):
    values = what_if_values(small_history, contract, "contacts")
    assert values[0] == 0 and values == sorted(values) and len(values) >= 3
    assert all(float(v).is_integer() for v in values), "a count is offered as a whole number"


@pytest.mark.slow
def test_the_explore_command_writes_an_offline_page_that_works_in_a_browser(
    own_store, shared_scored_weeks, tmp_path
):
    weeks = tmp_path / "weeks"
    shutil.copytree(shared_scored_weeks, weeks)
    week = sorted(p.name for p in weeks.iterdir() if p.is_dir())[-1]
    result = run_command(
        "resilience-explore",
        f"week={week}",
        f"output_root={weeks}",
        "lines=15",
        cwd=tmp_path,
        env=own_store.env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = weeks / week / "explorer.html"
    html = page.read_text()
    assert (
        CAUTION in html_text.unescape(html)
        and "<link" not in html
        and "http" not in html.lower().split("<body")[1]
    )
    assert (
        "explorer.html" not in (weeks / week / "annex.html").read_text(errors="ignore")
        if (weeks / week / "annex.html").exists()
        else True
    )
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed; scripts/install_browser_tools.sh")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        errors: list[str] = []
        tab = browser.new_page()
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(page.as_uri())
        shown = tab.inner_text("#line")
        browser.close()
    assert not errors, errors
    assert "Full explanation" in shown and "History across scored weeks" in shown
    assert "The model's estimate would be" in shown
    assert "never what an action would cause" in shown


def test_a_champion_that_reads_the_record_s_age_is_explored_at_the_ages_scoring_used(
    trained, shared_scored_weeks, tmp_path, contract, monkeypatch
):
    """After ``make demo`` the champion reads the record's age, which a week's extract does not
    carry (scoring derives it): the explorer derives it the same way instead of stopping, and
    offers no what-if on it (the toolkit derives it; nobody can change it)."""
    import numpy as np

    from resilience.pipelines import explore

    age = contract.record_age_column
    history = pd.read_parquet(trained.world / "disruptions.parquet")
    rng = np.random.default_rng(2)
    champion = PersistenceModel(
        contract, params={"n_estimators": 60, "learning_rate": 0.1}, early_stopping_rounds=0
    ).fit(history.assign(**{age: rng.integers(0, 13, len(history))}))
    monkeypatch.setattr(explore.vetting, "load_persistence_model", lambda *a, **k: (champion, None))
    weeks = tmp_path / "weeks"
    shutil.copytree(shared_scored_weeks, weeks)
    week = sorted(p.name for p in weeks.iterdir() if p.is_dir())[-1]
    page = explore.explore_week(weeks, week, lines=5).read_text()
    assert contract.describe(age) not in page


def test_a_hostile_decision_is_shown_as_plain_text_on_one_line(small_history, contract):
    """A decision typed with a right-to-left override, a terminal escape and line breaks is shown
    on the explorer as the briefing shows it: the override and the escape replaced, one line."""
    rows = small_history.head(1)
    disruption, line = str(rows[contract.id_column].iloc[0]), str(rows["line_id"].iloc[0])
    scores = pd.DataFrame(
        {"disruption_id": [disruption], "line_id": [line], "persistence_probability": [0.6]}
    )
    explanations = pd.DataFrame(
        {"disruption_id": [disruption], "baseline_probability": [0.5], "contacts": [0.1]}
    )
    typed = {
        "week": "2026-W47",
        "decision": "joint\nvisit \x1b[31mnow",
        "reason": "safe \u202eexe.txt",
        "by": "duty\r\ninspector",
    }
    (record,) = line_records(scores, explanations, rows, contract, {}, {line: [typed]}, {})
    (shown,) = record["decisions"]
    assert shown == {
        "week": "2026-W47",
        "decision": "joint visit \ufffd[31mnow",
        "reason": "safe \ufffdexe.txt",
        "by": "duty inspector",
    }


def test_the_explorer_reads_the_extract_the_week_scored_even_once_moved_or_replaced(tmp_path):
    """The explorer read the extract at the path scoring was given: gone (a download folder
    emptied) it failed though the week keeps a copy, and replaced by the next export under the
    same name it would have explored other records. It reads the kept copy, else the file at that
    path only while its bytes are the ones scored."""
    import hashlib

    from resilience.core.errors import ResilienceError
    from resilience.pipelines.explore import scored_extract

    folder, given = tmp_path / "2026-W47", tmp_path / "latest.parquet"
    folder.mkdir()
    given.write_bytes(b"the scored bytes")
    manifest = {
        "input": {"path": str(given), "sha256": hashlib.sha256(b"the scored bytes").hexdigest()}
    }
    assert scored_extract(folder, manifest) == given
    (folder / "extract.parquet").write_bytes(b"the scored bytes")
    given.write_bytes(b"next week's export")
    assert scored_extract(folder, manifest) == folder / "extract.parquet"
    (folder / "extract.parquet").unlink()  # pruned by retention
    with pytest.raises(ResilienceError, match="neither kept in its folder nor at .*latest.parquet"):
        scored_extract(folder, manifest)
