"""MLflow 3.17's own UI, in a real browser: the links the toolkit prints open the machine-learning
view, a training run's page shows its parameters in force, and the leaderboard run is listed."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import serving_mlflow
from mlflow.tracking import MlflowClient

from resilience.pipelines.compare import Leaderboard, track_leaderboard
from resilience.tracking.store import TrackingConfig, ui_link

CHROMIUM = Path("/usr/bin/chromium")
GENAI_ONLY = ("Judges", "Observability", "Prompts & versions")  # the GenAI view's sidebar


@pytest.fixture()
def ui(own_store, tmp_path):
    """``mlflow ui`` on a copy of the shared store (with a leaderboard run logged into it)."""
    board = Leaderboard(
        pd.DataFrame({"recipe": ["lightgbm_default"], "family": ["lightgbm"], "roc_auc": [0.8]}),
        "lightgbm_default",
        {"test_start": "2026-03-02", "test_end": "2026-08-30", "test_rows": 100},
        "2026-W35",
        10,
    )
    track_leaderboard(
        board, tmp_path / "board", TrackingConfig(tracking_uri=own_store.uri), "default"
    )
    with serving_mlflow(
        "ui", "--backend-store-uri", own_store.uri, "--workers", "1", cwd=tmp_path
    ) as url:
        yield url, own_store


def _text(browser, link: str, expect: str) -> str:
    """The page's visible text once ``expect`` shows, in a fresh browser context (no stored view)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(link)
    page.get_by_text(expect, exact=False).first.wait_for(timeout=60_000)
    text = page.inner_text("body")
    context.close()
    return text


@pytest.mark.slow
def test_the_ui_opens_in_the_machine_learning_view_with_params_and_the_leaderboard(ui):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed; scripts/install_browser_tools.sh")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, store = ui
    client = MlflowClient(store.uri)
    champion = client.get_run(
        client.get_model_version_by_alias("line-resilience", "champion").run_id
    )
    experiment = champion.info.experiment_id
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        experiment_link = ui_link(experiment, tracking_uri=url)
        listing = _text(browser, experiment_link, "compare · default · labels to 2026-W35")
        run_page = _text(
            browser,
            ui_link(experiment, champion.info.run_id, tracking_uri=url),
            "model.params.num_leaves",
        )
        browser.close()
    assert "Model registry" in listing and not [w for w in GENAI_ONLY if w in listing]
    assert champion.data.tags["mlflow.runName"] in listing
    assert re.search(r"model\.params\.num_leaves\s+5\b", run_page), (
        "the value in force, not a blank"
    )
    assert "labelled disruptions with labels to" in run_page, "the run's description"
