"""The briefing and its annex in a real browser: no network, no console errors, zero axe violations,
reflow at 200% zoom and at a 390-pixel phone width, the annex sorts and filters offline.

Needs Debian's chromium at /usr/bin/chromium, Playwright (Python package only: the browser is the
system one, never `playwright install`) and axe-core in .cache/node_modules. All three come from
`scripts/install_browser_tools.sh`; without them these tests skip and say which is missing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from test_report import write_fake_week

from resilience.core.paths import project_root
from resilience.data.io import write_text_atomic
from resilience.governance.outcomes import update_outcomes, write_outcomes
from resilience.report import load_week, render_html, report_context
from resilience.report.annex import write_annex

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(
    os.environ.get(
        "RESILIENCE_AXE_JS", project_root() / ".cache" / "node_modules" / "axe-core" / "axe.min.js"
    )
)
ARTIFACTS = project_root() / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
INSTALL_HINT = "run scripts/install_browser_tools.sh"


def _require_tools():
    if not CHROMIUM.exists():
        pytest.skip(f"Debian chromium is not installed at {CHROMIUM}; {INSTALL_HINT}")
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed at {AXE}; {INSTALL_HINT}")
    return pytest.importorskip(
        "playwright.sync_api", reason="Playwright (pip install playwright) is not installed"
    )


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("weekly")
    previous = write_fake_week(root / "2026-W46", n_lines=50, seed=11, week="2026-W46")
    current = write_fake_week(
        root / "2026-W47", n_lines=60, seed=12, first_line=15, hostile=True, decisions=True
    )
    closed = pd.read_parquet(previous / "scores.parquet")["disruption_id"].iloc[
        :20
    ]  # outcomes now known
    known, _ = update_outcomes(
        root,
        pd.DataFrame({"disruption_id": closed, "outcome": [i % 2 == 0 for i in range(20)]}),
        "labels",
    )
    write_outcomes(known, root / "outcomes.parquet")
    week = load_week(current)
    context = report_context(week, load_week(previous))
    write_annex(
        current,
        week.contract,
        context["title"],
        context["marking"],
        50_000,
        week.manifest.priority,
        week.manifest.playbook,
    )
    return write_text_atomic(current / "report.html", render_html(context))


@pytest.fixture(scope="module")
def annex_file(report_file) -> Path:
    return report_file.parent / "annex.html"


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    sync_api = _require_tools()
    with sync_api.sync_playwright() as playwright:

        def launch(**options):
            return playwright.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")),
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                **options,
            )

        yield launch


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("which", ["report_file", "annex_file"])
def test_page_in_browser_makes_no_requests_and_passes_axe(which, width, request, browser_context):
    report_file = request.getfixturevalue(which)
    context = browser_context(viewport={"width": width, "height": 900})
    try:
        requests: list[str] = []
        problems: list[str] = []

        def record(route):
            requests.append(route.request.url)
            if route.request.url == report_file.as_uri():
                route.continue_()
            else:
                route.abort()

        context.route("**/*", record)
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(report_file.as_uri(), wait_until="load")
        page.wait_for_timeout(300)

        others = sorted({url for url in requests if url != report_file.as_uri()})
        assert not others, f"the report requested {others}"
        assert not problems, f"console errors: {problems}"
        # the briefing has no script at all; the annex only its own inline one
        scripts = page.evaluate("() => [...document.querySelectorAll('script')].map(s => s.src)")
        assert scripts == ([] if which == "report_file" else [""])

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"{report_file.stem}-axe-{width}px.png"),
            full_page=which == "report_file",
        )

        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        results = page.evaluate(
            "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            AXE_TAGS,
        )
        violations = results["violations"]
        if violations:
            print(
                json.dumps(
                    [
                        {
                            "id": v["id"],
                            "impact": v["impact"],
                            "help": v["help"],
                            "nodes": [n["target"] for n in v["nodes"][:5]],
                        }
                        for v in violations
                    ],
                    indent=2,
                )
            )
        assert not violations, (
            f"{len(violations)} axe violation(s): {[v['id'] for v in violations]}"
        )
    finally:
        context.close()


@pytest.mark.parametrize(
    "which,width", [("report_file", 640), ("report_file", 390), ("annex_file", 390)]
)
def test_page_reflows_at_200_percent_zoom_and_on_a_phone(which, width, request, browser_context):
    # 200% zoom on a 1280-pixel window lays the page out in 640 CSS pixels at twice the density;
    # 390 CSS pixels is a phone. The annex's wide table scrolls inside its own region, not the page.
    report_file = request.getfixturevalue(which)
    context = browser_context(viewport={"width": width, "height": 900}, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(report_file.as_uri(), wait_until="load")
        widths = page.evaluate("""() => ({
            page: document.documentElement.scrollWidth, window: document.documentElement.clientWidth,
            main: document.querySelector('main').scrollWidth, mainBox: document.querySelector('main').clientWidth,
            wide: [...document.querySelectorAll('main *')]
                .filter(el => !el.closest('.table-wrap') || el.classList.contains('table-wrap'))
                .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .slice(0, 5).map(el => el.tagName + '.' + el.className)})""")
        assert widths["page"] <= widths["window"], widths
        assert widths["main"] <= widths["mainBox"], widths
        assert not widths["wide"], widths
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{report_file.stem}-{width}px.png"), full_page=False)
    finally:
        context.close()


def test_annex_sorts_and_filters_offline(annex_file, browser_context):
    context = browser_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(annex_file.as_uri(), wait_until="load")
        column = page.evaluate(
            "() => [...document.querySelectorAll('thead button')].findIndex(b => b.textContent === 'Likelihood %')"
        )
        assert column >= 0
        # the first click sorts the useful way: the likeliest first; the second reverses it
        page.click("thead button >> text='Likelihood %'")
        values = page.evaluate(
            f"() => [...document.querySelectorAll('#annex tbody tr')].map(r => +r.cells[{column}].dataset.v)"
        )
        assert values == sorted(values, reverse=True) and len(values) == 60
        assert (
            page.get_attribute("thead th:has(button:text-is('Likelihood %'))", "aria-sort")
            == "descending"
        )
        page.click("thead button >> text='Likelihood %'")
        again = page.evaluate(
            f"() => [...document.querySelectorAll('#annex tbody tr')].map(r => +r.cells[{column}].dataset.v)"
        )
        assert again == sorted(values)
        # one click shows only the lines with exploited people and no referral recorded
        unreferred = page.evaluate(
            "() => document.querySelectorAll('#annex tbody tr[data-u=\"1\"]').length"
        )
        assert unreferred > 0
        page.click("#unreferred")
        assert page.get_attribute("#unreferred", "aria-pressed") == "true"
        visible = page.evaluate(
            "() => [...document.querySelectorAll('#annex tbody tr')].filter(r => !r.hidden).length"
        )
        assert visible == unreferred
        page.click("#unreferred")
        # codes read as words, so filtering for what the page shows finds it
        page.fill("#filter", "home grown")
        page.wait_for_timeout(400)
        home_grown = page.evaluate(
            "() => [...document.querySelectorAll('#annex tbody tr')].filter(r => !r.hidden).length"
        )
        assert 0 < home_grown < 60
        page.fill("#filter", "L0020")
        page.wait_for_timeout(400)
        shown = page.evaluate(
            "() => [...document.querySelectorAll('#annex tbody tr')].filter(r => !r.hidden).length"
        )
        assert shown == 1
        assert page.text_content("#shown") == "1 row shown"
    finally:
        context.close()
