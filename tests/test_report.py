"""The commander's weekly report: content, safety, edge cases, PDF.

``write_fake_week`` builds a realistic scored week folder (seeded), so these tests do not depend on
the scoring step. The browser tests and ``benchmarks/report.py`` reuse it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resilience.core.week_files import DECISION_HEAD, WeekManifest
from resilience.core.weeks import find_previous_week
from resilience.core.yardstick import place
from resilience.data.contract import load_data_contract
from resilience.report import (
    DEFAULT_MARKING,
    PdfRendererUnavailable,
    ReportError,
    ReportSettings,
    build_report,
    change_since_last_week,
    load_week,
    render_html,
    report_context,
)
from resilience.report.render import render_pdf
from resilience.report.waterfall import concept_contributions, waterfall_steps
from resilience.report.words import FOUR_PS_WORDS, clean_text, css_string
from resilience.weekly.chunks import record_fingerprints
from resilience.weekly.playbook import load_playbook
from resilience.weekly.priority import load_priority_policy, priority_ranks

AREAS = ("Northmere", "Eastbrook", "Southvale", "Westford", "Kingsreach", "Ashby Moor")
HUBS = ("london", "birmingham", "liverpool", "manchester", "other_hub")
HOSTILE_LINE_ID = "<script>alert(1)</script>"
HOSTILE_AREA = '"><img src=x onerror=alert(1)>'
HOSTILE_REASON = "</td></tr><script>alert(2)</script>"
UNICODE_LINE_ID = 'Łódź–Ærø 🚓 ‘line’ & "co"'


# -- fixture generator ----------------------------------------------------------------------------
def write_fake_week(
    week_dir: Path,
    n_lines: int = 40,
    seed: int = 0,
    week: str = "2026-W47",
    first_line: int = 0,
    hostile: bool = False,
    decisions: bool = False,
    fairness: bool = True,
    empty_reasons: bool = False,
    harm: bool = True,
    data: str = "default",
    carry_from: Path | None = None,
    playbook: bool = True,
) -> Path:
    """Write a scored week folder shaped like the scoring step's output, random but seeded.

    Line ids are ``L0000``, ``L0001``... starting at ``first_line``, so two weeks made with
    overlapping ranges share lines (for "change since last week"). With ``carry_from`` (an earlier
    fake week), a line it holds keeps its disruption id, as an open disruption does from week to week.
    Every line has a random record of the data config's features, from which the harm columns, the
    playbook's options and the record fingerprint are derived as scoring derives them.
    """
    week_dir = Path(week_dir)
    week_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    contract = load_data_contract(data)
    features = list(contract.features)

    line_ids = [f"L{first_line + i:04d}" for i in range(n_lines)]
    home_grown = rng.random(n_lines) < 0.35
    frame = pd.DataFrame(
        {
            "disruption_id": [f"D{week.replace('-', '')}-{i:05d}" for i in range(n_lines)],
            "line_id": line_ids,
            "disruption_date": pd.Timestamp("2026-11-16")
            - pd.to_timedelta(rng.integers(0, 28, n_lines), unit="D"),
            "line_type": np.where(home_grown, "home_grown", "imported"),
            "origin_hub": np.where(home_grown, "local", rng.choice(HUBS, n_lines)),
            "policing_area": rng.choice(AREAS, n_lines),
        }
    )
    if data != "default":  # another force's slices, named as its data config names them
        frame = frame.drop(columns=["line_type", "origin_hub", "policing_area"])
        for column in contract.slices:
            allowed = contract.column(column).allowed
            frame[column] = rng.choice(allowed if allowed else AREAS, n_lines)
    if carry_from is not None:
        before = pd.read_parquet(
            carry_from / "scores.parquet", columns=["line_id", "disruption_id"]
        )
        kept = frame["line_id"].map(dict(zip(before["line_id"], before["disruption_id"])))
        frame["disruption_id"] = kept.fillna(frame["disruption_id"])
    if contract.group_column:  # a few organised crime groups, a third of the lines linked
        groups = np.array([f"G{g:03d}" for g in rng.integers(0, max(n_lines // 6, 1), n_lines)])
        frame[contract.group_column] = np.where(rng.random(n_lines) < 0.35, groups, "")
    if hostile and n_lines >= 3:
        frame.loc[0, "line_id"] = HOSTILE_LINE_ID
        frame.loc[1, "line_id"] = UNICODE_LINE_ID
        frame.loc[2, "policing_area"] = HOSTILE_AREA

    # Contributions (points of probability) that add up exactly to each line's probability.
    baseline = 0.42
    target = np.clip(rng.beta(2.2, 2.4, n_lines), 0.01, 0.99)
    raw = rng.normal(0, 1, (n_lines, len(features))) * rng.uniform(0.3, 6, len(features))
    raw += ((target - baseline) * 100 - raw.sum(axis=1))[:, None] / len(features)
    explanations = pd.DataFrame(raw, columns=features)
    explanations.insert(0, "disruption_id", frame["disruption_id"])
    explanations["baseline_probability"] = baseline
    probability = baseline + explanations[features].sum(axis=1).to_numpy() / 100

    frame["persistence_probability"] = probability
    placements = [place(p) for p in probability]
    frame["percent"] = [p.percent for p in placements]
    frame["yardstick_band"] = [p.band for p in placements]
    frame["band_in_gap"] = [p.in_gap for p in placements]
    for i in range(n_lines):
        contrib = raw[i]
        order_for = [j for j in np.argsort(-contrib) if contrib[j] > 0][:3]
        order_against = [j for j in np.argsort(contrib) if contrib[j] < 0][:3]
        for k in range(3):
            frame.loc[i, f"reason_for_{k + 1}"] = (
                f"{contract.describe(features[order_for[k]])} (raises it {contrib[order_for[k]]:.0f} points)"
                if k < len(order_for) and not empty_reasons and rng.random() > 0.1
                else ""
            )
            frame.loc[i, f"reason_against_{k + 1}"] = (
                f"{contract.describe(features[order_against[k]])} (lowers it {-contrib[order_against[k]]:.0f} points)"
                if k < len(order_against) and not empty_reasons and rng.random() > 0.1
                else ""
            )
        frame.loc[i, "summary"] = (
            f"Line {frame.loc[i, 'line_id']} is {placements[i].words} to still be "
            f"active 12 weeks after its disruption."
        )
    if hostile and n_lines >= 1:
        frame.loc[0, "reason_for_1"] = HOSTILE_REASON
    policy = load_priority_policy(None, contract) if harm else None
    record = fake_record(contract, frame, rng)
    frame["record_fingerprint"] = record_fingerprints(record, contract)
    if policy is not None:  # harm columns as scoring writes them, from the random record
        frame = pd.concat([frame, policy.columns(record)], axis=1)
    rules = load_playbook(None, contract) if playbook else None
    if rules is not None:  # the playbook's options, as scoring writes them
        frame = pd.concat([frame, rules.columns(record)], axis=1)
    frame.insert(0, "input_row", np.arange(1, n_lines + 1))
    frame = frame.sort_values(
        "persistence_probability", ascending=False, kind="stable"
    ).reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n_lines + 1))
    frame["priority_rank"] = (
        priority_ranks(
            frame["persistence_probability"].to_numpy(),
            frame["harm_index"].to_numpy(),
            policy.harm_floor,
        )
        if policy is not None
        else frame["rank"]
    )
    if hostile:  # the first shortlisted line carries a hostile reason too, so page 1 shows it
        frame.loc[frame["priority_rank"] == 1, "reason_for_1"] = HOSTILE_REASON
    frame.to_parquet(week_dir / "scores.parquet", index=False)
    frame.to_csv(week_dir / "scores.csv", index=False)
    explanations.to_parquet(week_dir / "explanations.parquet", index=False)
    (week_dir / "contract.json").write_text(json.dumps(contract.to_dict()), encoding="utf-8")

    safeguarding = []
    for column in contract.columns:
        if column.concept and contract.concept_of(column.name).four_ps in ("protect", "prevent"):
            counts = rng.poisson(0.6, n_lines)
            concept = contract.concept_of(column.name)
            safeguarding.append(
                {
                    "column": column.name,
                    "label_text": column.label_text,
                    "concept": concept.name,
                    "concept_label": concept.label_text,
                    "four_ps": concept.four_ps,
                    "total": int(counts.sum()),
                    "lines_with_any": int((counts > 0).sum()),
                }
            )
    (week_dir / "safeguarding.json").write_text(json.dumps(safeguarding), encoding="utf-8")

    alerts = [
        {
            "kind": "feature",
            "name": "contacts",
            "label_text": "customer contacts",
            "value": 0.31,
            "threshold": 0.25,
            "message": "Customer contacts are higher this week than in training.",
        },
        {
            "kind": "missing",
            "name": "weeks_since_last_disruption",
            "label_text": "weeks since the last disruption",
            "value": 0.18,
            "threshold": 0.1,
            "message": "More lines than usual have no earlier disruption date.",
        },
    ]
    if hostile:
        alerts.append(
            {
                "kind": "explanation",
                "name": "x",
                "label_text": "<b>bold</b>",
                "value": 1,
                "threshold": 0.5,
                "message": '<a href="https://evil.example/">click me</a>',
            }
        )
    (week_dir / "drift.json").write_text(
        json.dumps({"alerts": alerts, "psi": {}}), encoding="utf-8"
    )

    metric = {
        "roc_auc": 0.83,
        "pr_auc": 0.79,
        "brier": 0.17,
        "ece": 0.027,
        "observed_rate": 0.43,
        "mean_predicted": 0.41,
        "rows": 7615,
    }
    model = {
        "name": "line-resilience",
        "version": "3",
        "run_id": "0f3c9a2b7d1e4c6a",
        "family": "lightgbm",
        "training": {
            "train_start": "2023-11-27",
            "train_end": "2025-12-07",
            "test_start": "2026-03-02",
            "test_end": "2026-08-30",
            "train_rows": 38327,
            "test_rows": 7615,
        },
        "test_metrics": metric,
        "test_metrics_by_cohort": {
            "imported": {
                **metric,
                "roc_auc": 0.84,
                "observed_rate": 0.41,
                "mean_predicted": 0.40,
                "rows": 4900,
            },
            "home_grown": {
                **metric,
                "roc_auc": 0.80,
                "observed_rate": 0.47,
                "mean_predicted": 0.43,
                "ece": 0.041,
                "rows": 2715,
            },
        },
        "calibration_table": [
            {
                "bin": b,
                "rows": int(300 + 90 * b),
                "mean_predicted": (b + 0.5) / 10,
                "observed_rate": float(np.clip((b + 0.5) / 10 + rng.normal(0, 0.03), 0, 1)),
            }
            for b in range(10)
        ],
    }
    if fairness:
        fair = []
        for column, values in (
            (contract.cohort_column, ("imported", "home_grown")),
            (contract.slices[-1], AREAS),
        ):
            for value in values:
                gap = float(rng.normal(0, 0.03))
                flag = (
                    "over-predicts" if gap > 0.045 else "under-predicts" if gap < -0.045 else "ok"
                )
                fair.append(
                    {
                        "slice": column,
                        "value": value,
                        "rows": int(rng.integers(60, 900)),
                        "suppressed": False,
                        "observed_rate": 0.42,
                        "mean_predicted": 0.42 + gap,
                        "calibration_gap": gap,
                        "calibration_gap_low": gap - 0.02,
                        "calibration_gap_high": gap + 0.02,
                        "flag": flag,
                    }
                )
        fair[-1]["flag"] = "under-predicts"
        fair.append(
            {
                "slice": contract.slices[-1],
                "value": "Tiny Isle",
                "rows": 12,
                "suppressed": True,
                "flag": "suppressed",
            }
        )
        if hostile:
            fair.append(
                {
                    "slice": "policing_area",
                    "value": HOSTILE_AREA,
                    "rows": 12,
                    "suppressed": True,
                    "flag": "suppressed",
                }
            )
        model["fairness"] = fair
    model["refit_on_all"] = True
    model["fairness_tolerance"] = 0.05
    manifest = WeekManifest(
        week=week,
        created_utc="2026-11-23T06:00:00Z",
        toolkit_version="0.1.0",
        input={"path": f"data/weekly/{week}.parquet", "sha256": "ab" * 32, "rows": n_lines},
        model=model,
        warnings=["3 rows had no disruption grade and were scored as 'moderate'."],
        counts={"rows": n_lines},
        timings={"score": 1.2},
        priority=policy.to_dict() if policy is not None else {},
        playbook=rules.to_dict() if rules is not None else {},
    )
    (week_dir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")

    if decisions:
        items = [
            {
                "line_id": frame.loc[i, "line_id"],
                "decision": "Maintain pressure",
                "reason": "Holder still at large",
                "by": "DI Example",
                "at": "2026-11-17T10:00:00Z",
            }
            for i in range(min(3, n_lines))
        ]
        if hostile:
            items.append(
                {
                    "line_id": HOSTILE_LINE_ID,
                    "decision": '<iframe src="https://evil.example/"></iframe>',
                    "reason": "<script>alert(3)</script>",
                    "by": "x",
                    "at": "y",
                }
            )
        (week_dir / "decisions.json").write_text(json.dumps(items), encoding="utf-8")
    return week_dir


def fake_record(contract, frame: pd.DataFrame, rng) -> pd.DataFrame:
    """A random record of every feature of ``contract`` (slices as ``frame`` has them): yes/no a
    third of the time, counts mostly small (contacts in the hundreds), categories from their values."""
    record = {}
    for name in contract.features:
        spec = contract.column(name)
        if name in frame.columns:
            record[name] = frame[name].to_numpy()
        elif spec.dtype == "bool":
            record[name] = rng.random(len(frame)) < 0.3
        elif spec.dtype == "category":
            record[name] = rng.choice(spec.allowed or AREAS, len(frame))
        elif spec.dtype == "int":
            mean = 300 if "contact" in name or "customer" in name else 0.8
            record[name] = rng.poisson(mean, len(frame)) + int(spec.min or 0)
        else:
            record[name] = np.round(rng.gamma(1.0, 3.0, len(frame)), 1)
    return pd.DataFrame(record)


# -- helpers --------------------------------------------------------------------------------------
class _Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.title = ""
        self._in = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("style", "title") else ""

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in = ""

    def handle_data(self, data):
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "title":  # the document title (head), not page text
            self.title += data
        else:
            self.text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def visible_text(page: _Page) -> str:
    return " ".join(" ".join(page.text).split())


def html_for(week_dir: Path, previous_dir: Path | None = None, **kwargs) -> str:
    week = load_week(week_dir)
    previous = load_week(previous_dir) if previous_dir else None
    return render_html(report_context(week, previous, ReportSettings(**kwargs)))


@pytest.fixture(scope="module")
def weeks(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("weekly")
    previous = write_fake_week(root / "2026-W46", n_lines=30, seed=1, week="2026-W46", first_line=0)
    current = write_fake_week(
        root / "2026-W47",
        n_lines=40,
        seed=2,
        week="2026-W47",
        first_line=10,
        hostile=True,
        decisions=True,
    )
    return current, previous


@pytest.fixture(scope="module")
def page_html(weeks) -> str:
    current, previous = weeks
    return html_for(current, previous)


# -- safety ---------------------------------------------------------------------------------------
def test_hostile_text_renders_as_text_not_markup(page_html):
    page = parse(page_html)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "iframe", "img", "object", "embed", "b"}
    for tag, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
    text = visible_text(page)
    assert HOSTILE_LINE_ID in text
    assert HOSTILE_REASON in text
    assert HOSTILE_AREA in text
    assert '<a href="https://evil.example/">click me</a>' in text
    assert '<iframe src="https://evil.example/"></iframe>' in text


def test_no_external_resources(page_html):
    page = parse(page_html)
    for tag, attrs in page.tags:
        for name in (
            "src",
            "href",
            "xlink:href",
            "action",
            "poster",
            "data",
            "srcset",
            "formaction",
        ):
            value = (attrs.get(name) or "").strip().lower()
            assert not re.match(r"^(https?:|//|ftp:|file:)", value), (tag, name, value)
            if tag == "a" and name == "href" and value:
                assert value.startswith("#") or value in ("annex.html", "drift.html"), value
    css = " ".join(page.styles)
    assert "@import" not in css
    assert all(
        u.startswith("#") or u.startswith("data:")
        for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", css)
    )
    assert "<link" not in page_html and "<script" not in page_html.replace("&lt;script", "")


def test_templates_never_mark_data_safe():
    from importlib import resources

    templates = resources.files("resilience.report").joinpath("templates")
    for template in templates.iterdir():
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b", text), template.name
        assert "autoescape false" not in text.lower(), template.name


def test_marking_in_css_cannot_escape_its_string():
    css = str(css_string('a"</style><script>x\\'))
    assert css.startswith('"') and css.endswith('"') and css.count('"') == 2
    assert "<" not in css and "\\\\" not in css
    assert css_string(DEFAULT_MARKING) == '"OFFICIAL-SENSITIVE \\2014  SYNTHETIC DATA"'


def test_probability_outside_0_to_1_is_refused(tmp_path):
    folder = write_fake_week(tmp_path / "2026-W47", n_lines=4)
    scores = pd.read_parquet(folder / "scores.parquet")
    scores.loc[2, "persistence_probability"] = float("nan")
    scores.to_parquet(folder / "scores.parquet")
    with pytest.raises(ReportError, match="persistence_probability must be a number from 0 to 1"):
        load_week(folder)


def test_control_and_bidi_characters_are_neutralised():
    assert clean_text("a\u202eb\x00c\tz") == "a\ufffdb\ufffdc\tz"
    assert clean_text(None) == "" and clean_text(float("nan")) == ""


# -- content --------------------------------------------------------------------------------------
def test_banner_at_top_and_bottom(page_html):
    page = parse(page_html)
    texts = [t.strip() for t in page.text if t.strip()]
    assert texts[0] == "Skip to the briefing"
    assert texts[1] == DEFAULT_MARKING
    assert texts[-1] == DEFAULT_MARKING


def test_marking_argument_is_used_and_escaped(weeks):
    current, _ = weeks
    html = html_for(current, marking="SECRET <b>& co</b>")
    text = visible_text(parse(html))
    assert text.count("SECRET <b>& co</b>") == 2
    assert "<b>&" not in html


def test_shortlist_is_the_capacity_in_priority_order(weeks, page_html):
    current, _ = weeks
    scores = pd.read_parquet(current / "scores.parquet").sort_values("priority_rank")
    context = report_context(load_week(current), None)
    assert context["capacity"] == 10
    assert [line["line_id"] for line in context["shortlist"]] == [
        clean_text(i) for i in scores["line_id"][:10]
    ]
    # priority is likelihood x harm, so the shortlist is not simply the most likely lines
    assert scores["rank"].head(10).tolist() != list(range(1, 11))
    text = visible_text(parse(page_html))
    assert "Act on first this week" in text and "weekly capacity 10" in text
    assert "harm " + f"{scores['harm_index'].iloc[0]:.0f}" + " of 100" in text


def test_capacity_setting_sizes_the_shortlist(weeks):
    current, _ = weeks
    context = report_context(
        load_week(current), None, ReportSettings(capacity=3, max_detail_lines=2)
    )
    assert len(context["shortlist"]) == 3 and context["detail_count"] == 2


def test_decision_support_notice_and_plain_words(page_html):
    text = visible_text(parse(page_html))
    assert "Decision support: a person decides" in text
    assert "victims" in text
    assert "not causes" in text
    assert "83 times in 100" in text
    for jargon in ("log-odds", "SHAP", "shap"):
        assert jargon not in text
    # "AUC" only appears beside its plain explanation
    for match in re.finditer("AUC", text):
        assert "times in 100" in text[max(0, match.start() - 300) : match.start()]


def test_page_one_says_how_sure_and_a_fairness_flag_in_plain_words(tmp_path):
    """Page 1 names a flagged group and which way the estimates were off in words, as the trust
    section does, never the check's ``column = value``, and says how sure without "calibration"."""
    folder = write_fake_week(tmp_path / "2026-W47", n_lines=40, seed=3)
    manifest = json.loads((folder / "manifest.json").read_text())
    flagged = next(f for f in manifest["model"]["fairness"] if f["flag"] == "under-predicts")
    manifest["model"]["fairness_flags"] = [f"{flagged['slice']} = {flagged['value']}"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    html = html_for(folder)
    page_one = visible_text(parse(html.split('<section id="last-week"')[0]))
    notice = page_one.split("Fairness flag.")[1].split("Who is at risk")[0]
    assert "lines persisted about" in notice and "than estimated" in notice
    assert str(flagged["value"]) in notice
    assert f"{flagged['slice']} =" not in notice and "high or low" not in notice
    assert "clearly off: for " in notice  # the trust section's sentence, after a colon
    assert "How sure" in page_one and "calibration" not in page_one.lower()


def test_page_one_counts_the_other_harms_not_a_bare_more(page_html):
    """ "Exploited children: 2; 7 more" read as seven more children: page 1 names the first harm
    recorded and counts the other harms as harms."""
    page_one = page_html.split('<section id="last-week"')[0]
    cells = re.findall(r'<td data-label="Harm">(.*?)</td>', page_one, flags=re.S)
    texts = [visible_text(parse(c)) for c in cells]
    assert any(re.search(r"; \d+ other harms?$", t) for t in texts), texts
    assert not any(re.search(r"; \d+ more$", t) for t in texts), texts


def test_how_sure_the_shortlist_is_said_without_draws():
    from resilience.report.first_page import draw_words, shortlist_split

    lines = [{"line_id": f"L{i}", "shortlist_group": "in nearly every draw"} for i in range(6)]
    lines += [
        {"line_id": f"L{i}", "shortlist_group": "at its best estimate", "on_shortlist_share": s}
        for i, s in ((6, 0.67), (7, 0.78))
    ]
    sentence = shortlist_split(lines, {"draws": 200, "nearly_every": 0.9})["sentence"]
    assert sentence == (
        "6 lines stay on the list in at least 90% of 200 reruns of the week with every estimate "
        "varied within its plausible range; 2 lines are on it at their best estimate but in only "
        "67\u201378% of reruns: close calls a person may weigh against lines just below."
    )
    assert draw_words({"on_shortlist_share": 0.94}) == "on the list in 94% of reruns"


def test_trend_chart_end_labels_fit_inside_the_chart():
    """Each series' name and last value, written right of the plot, ends inside the SVG (measured
    in the PDF's font): no "Likely or more: 2,1" cut by the chart's edge."""
    image_font = pytest.importorskip("PIL.ImageFont", reason="Pillow is not installed")
    font_file = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not font_file.is_file():
        pytest.skip("DejaVu Sans is not installed")
    from resilience.report.charts import trend_chart

    font = image_font.truetype(str(font_file), 11)  # the charts' font-size
    series = [("Likely or more", [2352, 2124]), ("All lines", [4665, 4704]),
              ("Exploited, no referral", [104_600, 1_000_073])]  # fmt: skip
    chart = trend_chart(["2026-W44", "2026-W47"], series, "t")
    for line in chart["lines"]:
        assert chart["right"] + 8 + font.getlength(line["label"]) <= chart["width"], line["label"]
    assert trend_chart(["2026-W44"], [("A", [1])], "t")["width"] == 360  # short labels: as before


def test_headline_counts_every_band_and_slice(weeks):
    current, _ = weeks
    week = load_week(current)
    context = report_context(week, None)
    headline = context["headline"]
    assert sum(b["count"] for b in headline["bands"]) == len(week.rows) == headline["lines_scored"]
    assert [s["column"] for s in headline["splits"]] == ["line_type", "origin_hub", "policing_area"]
    for split in headline["splits"]:
        assert sum(r["count"] for r in split["rows"]) == len(week.rows)
        assert all(sum(r["bands"]) == r["count"] for r in split["rows"])
    cohort_values = {r["value"] for r in headline["splits"][0]["rows"]}
    assert cohort_values == {"Imported", "Home grown"}
    for b in headline["bands"]:
        assert f"{b['band']} {b['count']}" in headline["band_chart"]["aria_label"]


def test_safeguarding_totals_come_from_the_file(weeks, page_html):
    current, _ = weeks
    items = json.loads((current / "safeguarding.json").read_text())
    text = visible_text(parse(page_html))
    children = next(i for i in items if i["column"] == "exploited_children")
    assert f"{children['total']} exploited children identified" in text
    assert {i["column"] for i in items} >= {
        "exploited_children",
        "exploited_adults",
        "safeguarding_referrals",
    }


def test_trust_section(page_html):
    text = visible_text(parse(page_html))
    assert "version 3" in text
    assert "between 2023-11-27 and 2025-12-07" in text
    assert "Customer contacts are higher this week than in training." in text
    assert "under-predicts" in text  # a fairness flag
    assert "Displacement" in text and "not in the extract" in text
    assert "Home grown" in text  # per-cohort results


def test_the_fairness_table_prints_the_interval_the_flag_uses_and_what_it_could_see(tmp_path):
    """Issue 21: the briefing shows the adjusted interval the flag used (not the bootstrap's), the
    smallest gap the check finds 8 times in 10 beside it, and a group holding the same lines as
    another says so instead of "no clear gap"."""
    week = write_fake_week(tmp_path / "2026-W47", n_lines=5)
    manifest = json.loads((week / "manifest.json").read_text())
    rows = manifest["model"]["fairness"]
    rows[0].update(flag_interval_low=-0.0712, flag_interval_high=0.0488, detectable_gap=0.0437)
    rows.append({"slice": "origin_hub", "value": "local", "rows": 300, "flag": "same lines"})
    rows[-1]["same_lines_as"] = "line_type = home_grown"
    (week / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = visible_text(parse(html_for(week)))
    assert "Smallest gap the check finds 8 times in 10" in text
    assert "(\u22127 to +5) 4 points" in text
    assert "the same lines as Line type: Home grown" in text  # as the table names groups
    assert "line_type" not in text


def test_a_drift_the_model_carries_forward_is_named_as_an_assumption(tmp_path):
    """A calibrator that carries a drift between kinds of line to the weeks it scores assumes the
    drift goes on: the briefing says so, for each kind whose drift moves its estimates, and what
    follows if it has stopped; a model that carries none says nothing of it."""
    week = write_fake_week(tmp_path / "2026-W47", n_lines=5)
    assert "change over time" not in visible_text(parse(html_for(week)))
    manifest = json.loads((week / "manifest.json").read_text())
    manifest["model"]["cohort_drift"] = {
        "column": "line_type",
        "per_year": {"home_grown": 0.25, "imported": -0.02},  # imported: too small to move
        "served_from": "2026-02-01",
    }
    (week / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = visible_text(parse(html_for(week)))
    assert "Whether a change over time carries on." in text
    assert "home grown lines' chances kept rising, by more than the records explain" in text
    assert "If the change has stopped, home grown lines' estimates run high." in text
    assert "imported lines' chances" not in text
    assert "carries that change forward to the weeks it scores" in text  # a model before dates
    manifest["model"]["cohort_drift"]["carried_weeks"] = 26.0
    (week / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = visible_text(parse(html_for(week)))
    assert "to each disruption's date, for up to 26 weeks after it was trained" in text


def test_fairness_and_decisions_are_optional(tmp_path):
    week = write_fake_week(tmp_path / "2026-W47", n_lines=5, fairness=False, decisions=False)
    html = html_for(week)
    text = visible_text(parse(html))
    assert "Fairness:" not in text
    assert "Decisions recorded last week" not in text
    with_decisions = write_fake_week(tmp_path / "2026-W48", n_lines=5, decisions=True)
    assert "Decisions recorded last week" in visible_text(parse(html_for(with_decisions)))


# -- change since last week -----------------------------------------------------------------------
def test_change_since_last_week_words_and_points():
    now = pd.DataFrame(
        {
            "line_id": ["new", "up", "down", "same", "plus2", "minus2", "plus3", "dup", "open"],
            "disruption_id": ["n1", "u2", "d2", "s2", "p2", "m2", "t2", "x2", "o1"],
            "persistence_probability": [0.5, 0.60, 0.40, 0.5, 0.52, 0.48, 0.53, 0.70, 0.30],
        }
    )
    before = pd.DataFrame(
        {
            "line_id": [
                "up",
                "down",
                "same",
                "plus2",
                "minus2",
                "plus3",
                "dup",
                "dup",
                "gone",
                "open",
                "open",
            ],
            "disruption_id": ["u1", "d1", "s1", "p1", "m1", "t1", "x0", "x1", "g1", "o1", "o0"],
            "persistence_probability": [
                0.50,
                0.50,
                0.5,
                0.50,
                0.50,
                0.50,
                0.40,
                0.69,
                0.9,
                0.20,
                0.9,
            ],
        }
    )
    change = change_since_last_week(now, before)
    assert change["change"].tolist() == [
        "new",
        "up",
        "down",
        "unchanged",
        "unchanged",
        "unchanged",
        "up",
        "unchanged",
        "up",
    ]
    assert change["change_points"].tolist()[1:] == [10, -10, 0, 2, -2, 3, 1, 10]
    assert pd.isna(change["change_points"].iloc[0])
    # the same disruption is matched before the line's best score; a line matches its best row
    assert before["disruption_id"].iloc[change["previous_position"].tolist()[7:]].tolist() == [
        "x1",
        "o1",
    ]
    assert change["previous_position"].iloc[0] == -1


def test_change_without_previous_week_is_all_new(weeks):
    current, _ = weeks
    context = report_context(load_week(current), None)
    assert {line["change"]["kind"] for line in context["shortlist"]} == {"new"}
    assert context["board"] is None
    text = visible_text(parse(render_html(context)))
    assert "every line is new this week" in text


def test_change_rendered_against_fixture_weeks(weeks):
    current, previous = weeks
    context = report_context(load_week(current), load_week(previous))
    before = pd.read_parquet(previous / "scores.parquet").set_index("line_id")[
        "persistence_probability"
    ]
    lines = context["shortlist"] + context["board"]["lines"] + context["protect"]["lines"]
    for line in lines:
        kind = line["change"]["kind"]
        if line["line_id"] not in before.index:
            assert kind == "new"
            continue
        diff = line["percent"] - round(before[line["line_id"]] * 100)
        expected = "unchanged" if abs(diff) <= 2 else "up" if diff > 0 else "down"
        assert kind == expected, (line["line_id"], diff)
        if kind in ("up", "down"):
            assert f"{abs(diff)} point" in line["change"]["text"]
            assert "moved most by" in line["change"]["text"]
    assert {line["change"]["kind"] for line in lines} >= {"new", "up", "down"}
    board = context["board"]
    assert board["new"] + board["up"] + board["down"] + board["unchanged"] == 40
    assert (
        board["gone"] == 12
    )  # L0000-L0009 were only last week; L0010, L0011 were renamed (hostile ids)
    moves = [abs(int(line["change"]["text"].split()[1])) for line in board["lines"]]
    assert moves == sorted(moves, reverse=True)


def test_find_previous_week(weeks, tmp_path):
    current, previous = weeks
    assert find_previous_week(current) == previous
    assert find_previous_week(previous) is None
    assert find_previous_week(tmp_path / "2026-W01") is None


# -- explanations ---------------------------------------------------------------------------------
def test_waterfall_runs_from_baseline_to_probability(weeks):
    current, _ = weeks
    week = load_week(current)
    context = report_context(week, None, ReportSettings(max_detail_lines=5))
    by_id = pd.read_parquet(current / "scores.parquet").set_index("disruption_id")[
        "persistence_probability"
    ]
    assert len(context["detail"]) == 5
    for line in context["detail"]:
        steps = line["steps"]
        assert steps[0]["kind"] == "baseline" and steps[0]["end"] == pytest.approx(42.0)
        assert steps[-1]["kind"] == "final"
        assert steps[-1]["end"] == pytest.approx(by_id[line["disruption_id"]] * 100, abs=1e-6)
        for before, after in zip(steps[1:-1], steps[2:-1]):
            assert after["start"] == pytest.approx(before["end"])
        assert "waterfall chart" in line["chart"]["aria_label"].lower()


def test_concepts_sum_the_features_of_each_concept(weeks):
    current, _ = weeks
    week = load_week(current)
    explanations = pd.read_parquet(current / "explanations.parquet")
    summed, concepts = concept_contributions(explanations, week.contract)
    first = explanations.iloc[0]
    assert summed.iloc[0]["exploitation"] == pytest.approx(
        first[["exploited_children", "exploited_adults", "cuckooed_addresses"]].sum()
    )
    labels = {c["name"]: (c["label"], c["four_ps"]) for c in concepts}
    assert labels["holder_removed"] == ("Arrest or charge of the line holder", "pursue")
    steps = waterfall_steps(
        40.0,
        {"a": 5.0, "b": -3.0, "c": 0.01},
        [
            {"name": "a", "label": "A", "four_ps": "pursue"},
            {"name": "b", "label": "B", "four_ps": "protect"},
            {"name": "c", "label": "C", "four_ps": "context"},
        ],
        max_concepts=8,
    )
    assert [s["label"] for s in steps] == [
        "Starting point: the average line in training",
        "A",
        "B",
        "All other factors (1 together)",
        "This line's probability of persisting",
    ]
    assert steps[-1]["end"] == pytest.approx(42.01)


# -- edge cases -----------------------------------------------------------------------------------
def test_single_line_no_previous_week(tmp_path):
    week = write_fake_week(tmp_path / "2026-W47", n_lines=1, seed=5)
    html = html_for(week)
    text = visible_text(parse(html))
    assert "1 line scored this week." in text
    assert "L0000" in text
    assert html.count('class="line-detail"') == 1


def test_empty_reasons_say_none_stated(tmp_path):
    week = write_fake_week(tmp_path / "2026-W47", n_lines=3, empty_reasons=True)
    text = visible_text(parse(html_for(week)))
    assert "none stated" in text


def test_two_thousand_lines_stay_a_briefing(tmp_path):
    week = write_fake_week(tmp_path / "2026-W47", n_lines=2000, seed=7)
    html = html_for(week, max_detail_lines=10)
    assert len(html.encode("utf-8")) < 400_000
    assert html.count('class="line-detail"') == 10
    text = visible_text(parse(html))
    assert "2,000 lines scored this week." in text


def test_minimal_week_still_renders(tmp_path):
    """Only the required columns, an empty manifest, no safeguarding or drift: the report says
    "not recorded" rather than failing."""
    week_dir = write_fake_week(tmp_path / "2026-W47", n_lines=3)
    scores = pd.read_parquet(week_dir / "scores.parquet")[
        ["rank", "disruption_id", "line_id", "persistence_probability"]
    ]
    scores.to_parquet(week_dir / "scores.parquet")
    explanations = pd.read_parquet(week_dir / "explanations.parquet").drop(
        columns="baseline_probability"
    )
    explanations.to_parquet(week_dir / "explanations.parquet")
    (week_dir / "manifest.json").write_text("{}")
    (week_dir / "safeguarding.json").unlink()
    (week_dir / "drift.json").unlink()
    text = visible_text(parse(html_for(week_dir)))
    assert "3 lines scored this week." in text
    assert "No explanation was recorded for this disruption." in text
    assert "not recorded" in text and "No warnings this week" in text
    assert "Production time not recorded" in text and "priority is likelihood alone" in text


def test_missing_files_raise_report_errors(tmp_path):
    with pytest.raises(ReportError, match="no such week folder"):
        load_week(tmp_path / "nope")
    week = write_fake_week(tmp_path / "2026-W47", n_lines=3)
    (week / "manifest.json").unlink()
    with pytest.raises(ReportError, match="manifest.json"):
        load_week(week)


def test_missing_weasyprint_raises_before_writing(tmp_path, monkeypatch):
    week = write_fake_week(tmp_path / "2026-W47", n_lines=3)
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(PdfRendererUnavailable, match="WeasyPrint"):
        build_report(week, None)
    assert not (week / "report.html").exists() and not (week / "report.pdf").exists()


# -- the PDF --------------------------------------------------------------------------------------
def _pdf_pages(pdf: Path) -> list[str]:
    if shutil.which("pdftotext"):
        out = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        )
        pages = out.stdout.split("\f")
        return [p for p in pages if p.strip()]
    pypdf = pytest.importorskip(
        "pypdf", reason="neither pdftotext (poppler-utils) nor pypdf is installed"
    )
    return [page.extract_text() for page in pypdf.PdfReader(str(pdf)).pages]


def test_pdf_renderer_fetches_nothing_but_data_urls(tmp_path):
    pytest.importorskip("weasyprint", reason="WeasyPrint is not installed")
    pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed")
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    local = tmp_path / "local.png"
    local.write_bytes(__import__("base64").b64decode(png))
    render_pdf(
        f'<p>x</p><img src="{local.as_uri()}"><img src="http://127.0.0.1:9/x.png">',
        tmp_path / "ext.pdf",
    )
    render_pdf(f'<p>x</p><img src="data:image/png;base64,{png}">', tmp_path / "data.pdf")

    def images(path):
        return sum(len(page.images) for page in pypdf.PdfReader(str(path)).pages)

    assert images(tmp_path / "ext.pdf") == 0
    assert images(tmp_path / "data.pdf") == 1


def test_pdf_has_banner_on_every_page_and_the_annex_every_line(tmp_path):
    pytest.importorskip("weasyprint", reason="WeasyPrint is not installed")
    root = tmp_path / "weekly"
    previous = write_fake_week(root / "2026-W46", n_lines=20, seed=3, week="2026-W46")
    current = write_fake_week(
        root / "2026-W47", n_lines=40, seed=4, first_line=8, hostile=True, decisions=True
    )
    html_path, pdf_path = build_report(current, previous, max_detail_lines=6)
    assert html_path == current / "report.html" and pdf_path == current / "report.pdf"
    assert not list(current.glob(".*.tmp"))
    pages = _pdf_pages(pdf_path)
    assert 3 < len(pages) <= 16  # issue 23: at most 16 pages
    for number, page in enumerate(pages, 1):
        assert page.count(DEFAULT_MARKING) >= 2, (
            f"page {number} lacks the marking at top and bottom"
        )
    annex = (current / "annex.html").read_text(encoding="utf-8")
    text = visible_text(parse(annex))
    ids = pd.read_parquet(current / "scores.parquet").sort_values("priority_rank")["line_id"]
    assert all(" ".join(i.split()) in text for i in ids)
    assert "<script>alert(1)" not in annex  # hostile ids are escaped in the annex too
    positions = [
        text.index(" ".join(i.split())) for i in ids if i not in (HOSTILE_LINE_ID, UNICODE_LINE_ID)
    ]
    assert positions == sorted(positions)  # in priority order


# -- the briefing: priority, protect list, matrix, what is true ---------------------------------
def expected_protect_order(scores: pd.DataFrame, children: str, others: list[str]) -> list[str]:
    """The protect list's order, computed here from scores.parquet: children with no referral,
    then vulnerable adults with no referral, then the rest; within each, most children, highest
    priority, oldest record."""
    people = scores[[children, *others]].sum(axis=1)
    frame = scores[people > 0].copy()
    unreferred = frame["protect_referrals"] <= 0
    frame["group"] = np.where(unreferred & (frame[children] > 0), 1, np.where(unreferred, 2, 3))
    frame = frame.sort_values(
        ["group", children, "priority_rank", "disruption_date"], ascending=[True, False, True, True]
    )
    return frame["line_id"].map(clean_text).tolist()


def test_protect_list_calls_out_every_unreferred_child_first(weeks, page_html):
    current, _ = weeks
    scores = pd.read_parquet(current / "scores.parquet")
    expected = expected_protect_order(scores, "harm_exploited_children", ["harm_exploited_adults"])
    protect = report_context(load_week(current), None)["protect"]
    assert [line["line_id"] for line in protect["lines"]] == expected[:25]  # default cap 25
    exploited = scores[["harm_exploited_children", "harm_exploited_adults"]].sum(axis=1) > 0
    unreferred = exploited & (scores["protect_referrals"] == 0)
    assert protect["total"] == int(exploited.sum())
    assert protect["no_referral"] == int(unreferred.sum())
    text = visible_text(parse(page_html))
    people = scores.loc[unreferred, ["harm_exploited_children", "harm_exploited_adults"]].sum()
    assert (
        f"{int(unreferred.sum())} lines record exploited people with no safeguarding referral "
        f"recorded ({int(people.iloc[0])} exploited children, {int(people.iloc[1])} exploited "
        "vulnerable adults)"
    ) in text
    first = scores.loc[scores["line_id"].map(clean_text) == expected[0]].iloc[0]
    assert f"First: line {expected[0]}" in text
    assert f"exploited children: {int(first['harm_exploited_children'])}" in text
    more = int(unreferred.sum()) - sum(
        1 for i in expected[:25] if i in set(scores.loc[unreferred, "line_id"].map(clean_text))
    )
    if more:
        assert f"{more} more lines with exploited people and no referral recorded" in text


def test_sentences_are_spaced_where_a_template_block_ends_a_line(weeks):
    """A sentence ending at a template's ``{% endif %}`` (whose line end Jinja trims) keeps its space
    before the next: no "record.1,048 more lines" on the protect list, nor anywhere else."""
    current, previous = weeks
    text = visible_text(parse(html_for(current, previous, protect_lines=2)))
    assert re.search(r"then the oldest record\. [0-9,]+ more lines? with exploited people", text)
    joined = re.findall(r"[a-z)][.;:][A-Z0-9(]", text)
    assert not joined, joined


def test_the_protect_list_cap_is_a_setting(weeks):
    current, _ = weeks
    protect = report_context(load_week(current), None, ReportSettings(protect_lines=3))["protect"]
    assert len(protect["lines"]) == 3 and protect["total"] > 3


def test_example_force_week_keeps_its_safeguarding_and_harm_words(tmp_path):
    """A force whose data config renames every column still gets the protect list and sentences."""
    folder = write_fake_week(tmp_path / "2026-W47", n_lines=30, seed=9, data="example_force")
    scores = pd.read_parquet(folder / "scores.parquet")
    assert "harm_exploited_children" in scores.columns  # read from its column children_exploited
    text = visible_text(parse(html_for(folder)))
    items = json.loads((folder / "safeguarding.json").read_text())
    children = next(i for i in items if i["column"] == "children_exploited")
    assert f"{children['total']} exploited children identified" in text
    assert "record exploited people" in text and "Runners (many are exploited)" in text
    expected = expected_protect_order(scores, "harm_exploited_children", [])
    context = report_context(load_week(folder), None)
    assert [line["line_id"] for line in context["protect"]["lines"]] == expected[:25]
    assert "Protect: referral now" in text  # its own playbook's options
    assert "Lines by line type" in text or "Lines by local policing area" in text


def test_matrix_counts_every_line_once(weeks, page_html):
    current, _ = weeks
    context = report_context(load_week(current), None)
    matrix = context["matrix"]
    assert sum(sum(row["counts"]) for row in matrix["table"]) == 40
    scores = pd.read_parquet(current / "scores.parquet")
    high = scores["harm_index"] >= 40
    likely = (
        scores["persistence_probability"].mul(100).round() >= 53
    )  # likely or above, gaps to the nearer band
    assert matrix["urgent"] == int((high & likely).sum())
    assert "Likelihood and harm matrix" in matrix["chart"]["aria_label"]
    text = visible_text(parse(page_html))
    assert "Lines by harm band and yardstick band" in text


def test_weights_in_force_come_from_the_manifest(weeks, tmp_path):
    current, _ = weeks
    folder = tmp_path / "2026-W47"
    shutil.copytree(current, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["priority"]["components"][0]["weight"] = 31
    manifest["priority"]["components"][0]["why"] = "A reason recorded with the week."
    (folder / "manifest.json").write_text(json.dumps(manifest))
    text = visible_text(parse(html_for(folder)))
    assert (
        "Exploited children 31 share of 3 reached (capped) A reason recorded with the week." in text
    )


def test_produced_time_comes_from_the_scoring_manifest(weeks, page_html, tmp_path):
    assert "Produced 23 Nov 2026, 06:00 UTC." in visible_text(parse(page_html))
    current, _ = weeks
    assert (
        json.loads((current / "manifest.json").read_text())["created_utc"] == "2026-11-23T06:00:00Z"
    )
    # a week written before the contract existed (key "created") still says when it was produced
    assert (
        WeekManifest.from_dict({"created": "2026-11-23T06:00:00Z"}).created_utc
        == "2026-11-23T06:00:00Z"
    )


def test_uncertainty_columns_are_shown_when_present(tmp_path):
    folder = write_fake_week(tmp_path / "2026-W47", n_lines=12, seed=4)
    text = visible_text(parse(html_for(folder)))
    assert "plausible range" not in text  # absent columns: nothing invented
    assert "allowance" not in text
    scores = pd.read_parquet(folder / "scores.parquet")
    scores["probability_low"] = (scores["persistence_probability"] - 0.1).clip(0, 1)
    scores["probability_high"] = (scores["persistence_probability"] + 0.1).clip(0, 1)
    scores["band_uncertain"] = True
    scores["likely_or_more_chance"] = 0.37
    scores.to_parquet(folder / "scores.parquet")
    first = scores.sort_values("priority_rank").iloc[0]
    text = visible_text(parse(html_for(folder)))
    low, high = first["probability_low"] * 100, first["probability_high"] * 100
    # issue 21: the range says what it means for the decision; spanning two bands (true of most
    # lines) stays in the outputs but no longer leads
    assert f"plausible range {low:.0f}\u2013{high:.0f}%; 37% chance it is likely or more" in text
    assert "spans more than one yardstick band" not in text
    # the range's limit is stated: part of it is an allowance people set, which outcomes cannot check
    assert (
        "Each plausible range includes an allowance for this that the analysts set; outcomes cannot check it."
        in text
    )


def test_trust_says_which_model_scored_and_the_gaps_in_words(page_html):
    text = visible_text(parse(page_html))
    assert "refitted on every disruption whose outcome was known" in text
    assert "lies wholly on one side of zero and reaches more than 5 points from it" in text
    assert "lines persisted about" in text and "than estimated" in text


# Names a commander may meet in "How far to trust this briefing": each only in brackets, after
# the plain words (the brief: "no jargon"; plain words first, the technical name at most beside).
TRUST_JARGON = re.compile(
    r"ROC|AUC|calibrat\w*|Brier|stability index|PSI|drift|SHA-256|labelled|recipe|Bonferroni|"
    r"power|excludes zero|bootstrap|confidence|interval|log-odds|LightGBM|gradient-boosted|"
    r"p-value|significan\w*",
    re.IGNORECASE,
)


def _trust_text(html: str) -> str:
    section = html.split('<section id="trust"')[1].split("</section>")[0]
    return visible_text(parse('<section id="trust"' + section + "</section>"))


def test_the_trust_section_says_each_statistical_term_in_plain_words_first(page_html):
    """Every statistical or technical name in the trust section stands in brackets after plain
    words, never as the words a commander reads first; the numbers are those computed."""
    text = _trust_text(page_html)
    bare = [
        text[max(0, m.start() - 60) : m.end() + 20]
        for m in TRUST_JARGON.finditer(text)
        if text[: m.start()].count("(") <= text[: m.start()].count(")")
    ]
    assert not bare, bare
    assert "ranks the persisting line higher 83 times in 100" in text and "ROC AUC 0.83" in text
    assert "Overall miss score, 0 is perfect (Brier score)" in text
    # a drift alert's number says what it measures: a shift score, or a share of empty rows
    assert (
        "how far its spread moved, as a population stability index: 0.31, against a warning" in text
    )
    assert "the share of rows left empty moved 18 points; warning level 10 points" in text
    assert "measured 0.31" not in text


def test_the_fairness_rule_is_worded_as_the_flag_applies_it(tmp_path):
    """The flag needs the gap's likely range wholly on one side of zero and reaching past the
    tolerance; a gap smaller than the tolerance can be flagged (so "more than 5 points away" was
    wrong), and a range end that rounds to 0 says which side of zero it is on."""
    week = write_fake_week(tmp_path / "2026-W47", n_lines=5)
    manifest = json.loads((week / "manifest.json").read_text())
    row = manifest["model"]["fairness"][0]
    row.update(calibration_gap=-0.03, flag="under-predicts", mean_predicted=0.39)
    row.update(flag_interval_low=-0.061, flag_interval_high=-0.0004)
    (week / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = _trust_text(html_for(week))
    assert "lies wholly on one side of zero and reaches more than 5 points from it" in text
    assert "\u22123 points (\u22126 to just under 0)" in text
    assert "away from what happened and" not in text
    flagged = "For line type Imported, lines persisted about 3 points more often than estimated"
    assert flagged in text


def test_record_ages_print_a_minus_sign_and_rankings_as_in_the_tables_beside_them():
    """The record-age table writes "\u22121.4 points" (a real minus, as every other table) and
    "79 times in 100", as the line-type table beside it does."""
    from resilience.report.record_age import record_age_words

    row = {"bias_vs_observed_points": -1.4, "bias_se_points": 1.0, "roc_auc": 0.79}
    words = record_age_words(
        {
            "training": {"records": "as they stood"},
            "by_record_age": [{"record_age": "0", **row}, {"record_age": "complete", **row}],
        }
    )
    assert words["rows"][0]["bias"] == "\u22121.4 points"
    assert words["rows"][0]["ranking"] == "79 times in 100"


def test_decisions_recorded_after_scoring_appear_on_rebuild(tmp_path):
    pytest.importorskip("weasyprint", reason="WeasyPrint is not installed")
    folder = write_fake_week(tmp_path / "2026-W47", n_lines=8, seed=6, decisions=True)
    line = (
        pd.read_parquet(folder / "scores.parquet").sort_values("priority_rank")["line_id"].iloc[0]
    )
    later = [
        {
            "line_id": line,
            "decision": "Joint visit with children's services",
            "reason": "two children",
            "by": "duty-inspector",
            "at": "2026-11-24T09:00:00Z",
        }
    ]
    build_report(folder, None, decisions=later)
    text = visible_text(parse((folder / "report.html").read_text(encoding="utf-8")))
    assert "Joint visit with children's services" in text and "Maintain pressure" not in text


def test_a_rebuilt_briefing_prints_the_decision_log_count_and_head(tmp_path):
    """resilience-report says on the terminal what the briefing prints of the decision log (as
    resilience-score does after scoring), so the operator can keep the head to verify later."""
    from conftest import run_command

    root = tmp_path / "weekly"
    folder = write_fake_week(root / "2026-W47", n_lines=8, seed=6, decisions=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    head = "3f9a0c1e2b4d" + "0" * 52
    manifest[DECISION_HEAD] = {"log_id": "log-1", "records": 1234, "head_hash": head}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = run_command(
        "resilience-report", "week=2026-W47", f"output_root={root}",
        f"decision_log={tmp_path / 'none.sqlite'}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        f"decision log when week 2026-W47 was scored: 1,234 decision(s), head {head}; check it "
        "later with: resilience-decide verify=true head=3f9a0c1e2b4d0000"
    ) in result.stdout.splitlines()
    text = visible_text(parse((folder / "report.html").read_text(encoding="utf-8")))
    assert f"1,234 decision(s) recorded when this week was scored; head hash {head}" in text


def test_decisions_however_many_and_long_keep_page_one_and_the_page_bound(tmp_path):
    """Decisions recorded after scoring (two per line of last week, each decision and reason as
    long as the log takes) cost the PDF at most one page: page 1 still holds who is at risk and
    that a person decides, the decisions section names the first ``decision_lines`` and says how
    many more, and beside a line a decision is a few words."""
    pytest.importorskip("weasyprint", reason="WeasyPrint is not installed")
    from resilience.governance.decisions import MAX_TEXT

    root = tmp_path / "weekly"
    previous = write_fake_week(root / "2026-W46", n_lines=30, seed=1, week="2026-W46")
    current = write_fake_week(root / "2026-W47", n_lines=60, seed=2, first_line=10)
    _, pdf = build_report(current, previous, decisions=[])
    before = len(_pdf_pages(pdf))
    words = ("joint visit with children's services and a closure order " * 40)[:MAX_TEXT]
    lines = pd.read_parquet(previous / "scores.parquet")["line_id"]
    many = [
        {"line_id": line, "decision": words, "reason": words, "by": "duty-inspector",
         "at": "2026-11-24T09:00:00Z"}
        for line in lines for _ in range(2)
    ]  # fmt: skip
    _, pdf = build_report(current, previous, decisions=many)
    pages = _pdf_pages(pdf)
    assert len(pages) <= min(before + 1, 16), (before, len(pages))
    page_one = " ".join(pages[0].split()).lower()
    assert "who is at risk" in page_one and "a person decides" in page_one
    text = visible_text(parse((current / "report.html").read_text(encoding="utf-8")))
    assert f"{len(many) - 10} more decisions recorded last week are in the decision log" in text
    assert "the decision log and the line explorer hold it in full" in text
    assert words not in text and words[:60] in text  # shortened, at a word


def test_clipped_text_keeps_its_start_and_says_it_was_cut():
    from resilience.report.words import clipped

    assert clipped("joint visit", 20) == "joint visit"
    assert clipped("joint  visit\nnow", 20) == "joint visit now"
    short = clipped("joint visit with children's services", 20)
    assert short == "joint visit with\u2026" and len(short) <= 20
    assert len(clipped("x" * 500, 100)) == 100  # no space: cut inside the word


# -- the real pipeline: generate -> train -> score two consecutive weeks -> report ------------------
def _with_planted_victim(latest: Path, target: Path) -> pd.DataFrame:
    """The generated latest week, with one line found to exploit more children than any other and
    no safeguarding referral recorded (so the protect list's first line is known in advance)."""
    frame = pd.read_parquet(latest)
    victim = frame.index[len(frame) // 2]
    frame.loc[victim, "exploited_children"] = int(frame["exploited_children"].max()) + 5
    frame.loc[victim, "safeguarding_referrals"] = 0
    frame.to_parquet(target, index=False)
    return frame


@pytest.mark.slow
def test_real_pipeline_two_weeks_give_a_bounded_briefing(own_store, tmp_path):
    """The shared champion (trained by ``resilience-train`` on the store world, see conftest) scores
    two consecutive weeks, the second with the briefing; outcomes then arrive."""
    from conftest import run_command

    from resilience.core.weeks import week_monday

    root = tmp_path
    small_world_dir = own_store.world
    env = {**own_store.env, "RESILIENCE_DECISION_KEY": "pipeline-key-0123456789"}
    # two consecutive generated weekly extracts: the same open disruptions, their fields accruing
    first, latest = sorted((small_world_dir / "weekly").glob("*.parquet"))[-2:]
    week1, week2 = first.stem, latest.stem
    assert week2 == (week_monday(week1) + pd.Timedelta(days=7)).strftime("%G-W%V")
    second = _with_planted_victim(latest, root / f"{week2}.parquet")
    log = root / "decisions.sqlite"
    common = [f"output_root={root / 'weekly'}", f"decision_log={log}", "log_to_mlflow=false"]
    one = run_command(
        "resilience-score",
        f"input={first}",
        f"week={week1}",
        "report=false",
        *common,
        cwd=root,
        env=env,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    bands = [line for line in one.stdout.splitlines() if line.startswith("scored ")][0]
    positions = [bands.find(b) for b in ("remote chance", "unlikely", "likely") if f" {b}" in bands]
    assert positions == sorted(positions)  # the summary lists bands in yardstick order
    two = run_command(
        "resilience-score",
        f"input={root / f'{week2}.parquet'}",
        f"week={week2}",
        *common,
        cwd=root,
        env=env,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    folder = root / "weekly" / week2

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["created_utc"] and manifest["priority"]["name"] == "default"
    scores = pd.read_csv(folder / "scores.csv")
    # sorted by priority, the order the briefing acts in ...
    assert scores["priority_rank"].tolist() == list(range(1, len(scores) + 1))
    assert sorted(scores["input_row"]) == list(range(1, len(second) + 1))  # ... input order kept

    html = (folder / "report.html").read_text(encoding="utf-8")
    page = parse(html)
    text = visible_text(page)
    assert "Produced " in text and "Production time not recorded" not in text
    assert (
        html.split('<table class="shortlist stack">')[1]
        .split("<tbody>")[1]
        .split("</tbody>")[0]
        .count("<tr>")
        == 10
    )
    protect = html.split('<table class="protect stack">')[1].split("</table>")[0]
    victim = second.loc[second["exploited_children"].idxmax()]
    assert (
        victim["line_id"] in protect.split("</tr>")[1]
    )  # the first line named (after the header row)
    board = html.split('<table class="board stack">')[1].split("</table>")[0]
    assert "moved most by" in board and ("\u25b2" in board or "\u25bc" in board)
    assert "refitted on every disruption whose outcome was known" in text

    pages = _pdf_pages(folder / "report.pdf")
    assert 3 < len(pages) <= 16  # issue 23: at most 16 pages
    assert all(p.count(DEFAULT_MARKING) >= 2 for p in pages)
    annex = visible_text(parse((folder / "annex.html").read_text(encoding="utf-8")))
    assert all(str(i) in annex for i in second["line_id"].head(50))

    # a decision recorded after scoring appears when the report is rebuilt
    in_both = scores[scores["line_id"].isin(pd.read_parquet(first)["line_id"])]
    top = in_both.sort_values("priority_rank")["line_id"].iloc[0]
    decided = run_command(
        "resilience-decide",
        f"week={week1}",
        f"line={top}",
        "decision=Joint visit planned",
        "reason=children at risk",
        "by=duty-inspector",
        f"output_root={root / 'weekly'}",
        f"log_path={log}",
        cwd=root,
        env=env,
    )
    assert decided.returncode == 0, decided.stderr[
        -3000:
    ]  # a line open in both weeks was scored in week1
    assert "Joint visit planned" not in text
    rebuilt = run_command(
        "resilience-report",
        f"week={week2}",
        f"output_root={root / 'weekly'}",
        f"decision_log={log}",
        cwd=root,
        env=env,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert "Joint visit planned" in visible_text(
        parse((folder / "report.html").read_text(encoding="utf-8"))
    )
    # scored again now the log exists: scoring and a rebuild print the same line, the log's count
    # and head as the briefing prints them
    head = decided.stdout.split("head ")[-1].strip()
    again = run_command(
        "resilience-score", f"input={root / f'{week2}.parquet'}", f"week={week2}", *common,
        cwd=root, env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    said = [line for line in again.stdout.splitlines() if line.startswith("decision log")]
    assert said == [
        f"decision log when week {week2} was scored: 1 decision(s), head {head}; check it later "
        f"with: resilience-decide verify=true head={head[:16]}"
    ]
    rebuilt = run_command(
        "resilience-report", f"week={week2}", f"output_root={root / 'weekly'}",
        f"decision_log={log}", cwd=root, env=env,
    )  # fmt: skip
    assert rebuilt.returncode == 0 and said[0] in rebuilt.stdout.splitlines(), rebuilt.stdout

    # outcomes known since week1 (the history labels them) appear on week2's board against week1's estimate
    known = run_command(
        "resilience-outcomes",
        f"input={small_world_dir / 'disruptions.parquet'}",
        f"output_root={root / 'weekly'}",
        f"hydra.run.dir={root / 'run-outcomes'}",
        cwd=root,
        env=env,
    )
    assert known.returncode == 0, known.stderr[-3000:]
    before = pd.read_parquet(root / "weekly" / week1 / "scores.parquet").set_index("disruption_id")
    closed = before.index.difference(scores["disruption_id"])
    context = report_context(load_week(folder), load_week(root / "weekly" / week1, previous=True))
    outcomes = context["board"]["outcomes"]
    assert (
        outcomes["count"] == len(closed) > 0 and outcomes["waiting"] == 0
    )  # every closed one is in the history
    for line in outcomes["lines"]:
        assert (
            line["week"] == week1 and line["line_id"] == before.at[line["disruption_id"], "line_id"]
        )
        assert (
            f"we estimated {before.at[line['disruption_id'], 'persistence_probability'] * 100:.0f}%"
            in line["text"]
        )
    rebuilt = run_command(
        "resilience-report", f"week={week2}", f"output_root={root / 'weekly'}", cwd=root, env=env
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    text = visible_text(parse((folder / "report.html").read_text(encoding="utf-8")))
    assert f"Of the {len(closed):,} lines whose outcome is now known" in text


def test_annex_is_bounded_and_lists_every_unreferred_line(tmp_path):
    from resilience.report.annex import write_annex

    folder = write_fake_week(tmp_path / "2026-W47", n_lines=60, seed=8)
    week = load_week(folder)
    write_annex(folder, week.contract, "Briefing", DEFAULT_MARKING, 25, week.manifest.priority, {})
    page = parse((folder / "annex.html").read_text(encoding="utf-8"))
    text = visible_text(page)
    assert (
        "the first 25 of 60 lines by priority, and every line with exploited people and no "
        "referral recorded; every line is in scores.csv"
    ) in text
    scores = pd.read_parquet(folder / "scores.parquet")
    people = scores[["harm_exploited_children", "harm_exploited_adults"]].sum(axis=1)
    unreferred = (people > 0) & (scores["protect_referrals"] <= 0)
    listed = scores[(scores["priority_rank"] <= 25) | unreferred]
    rows = [a for t, a in page.tags if t == "tr"]
    assert len(rows) == 1 + len(listed) > 26  # the header row, the first 25 and the unreferred
    assert sum(1 for a in rows if a.get("data-u") == "1") == int(unreferred.sum())
    assert all(i in text for i in listed["line_id"])


def test_the_annex_gives_every_likelihood_its_plausible_range(tmp_path):
    """Every probability comes with its range: the annex prints each line's plausible range
    beside its likelihood, as the briefing does ("95\u201399"), and no column when the week has
    no ranges."""
    from resilience.report.annex import write_annex

    folder = write_fake_week(tmp_path / "2026-W47", n_lines=30, seed=8)
    week = load_week(folder)
    write_annex(folder, week.contract, "Briefing", DEFAULT_MARKING, 50, week.manifest.priority, {})
    assert "Plausible range" not in (folder / "annex.html").read_text(encoding="utf-8")
    scores = _with_ranges(folder).sort_values("priority_rank")
    write_annex(folder, week.contract, "Briefing", DEFAULT_MARKING, 50, week.manifest.priority, {})
    html = (folder / "annex.html").read_text(encoding="utf-8")
    headings = re.findall(r'data-col="\d+"[^>]*>(.*?)</button>', html)
    at = headings.index("Likelihood %")
    assert headings[at + 1] == "Plausible range %"
    rows = html.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == len(scores)
    for row, (_, line) in zip(rows, scores.iterrows(), strict=True):
        low, high = line["probability_low"] * 100, line["probability_high"] * 100
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[at : at + 2] == [f"{line['percent']:.0f}", f"{low:.0f}\u2013{high:.0f}"]


# -- page 1 of the PDF: the whole decision --------------------------------------------------------
def _known_outcomes(root: Path, previous: Path, persisted: list[bool]) -> None:
    """Outcomes recorded (as resilience-outcomes records them) for the first of last week's disruptions."""
    from resilience.governance.outcomes import update_outcomes, write_outcomes

    closed = pd.read_parquet(previous / "scores.parquet")["disruption_id"].iloc[: len(persisted)]
    known, _ = update_outcomes(
        root, pd.DataFrame({"disruption_id": closed, "outcome": persisted}), "labels"
    )
    write_outcomes(known, root / "outcomes.parquet")


def _with_ranges(folder: Path) -> pd.DataFrame:
    """Give a fake week the plausible-range columns scoring writes (a band is printed with its range)."""
    scores = pd.read_parquet(folder / "scores.parquet")
    scores["probability_low"] = (scores["persistence_probability"] - 0.08).clip(0, 1)
    scores["probability_high"] = (scores["persistence_probability"] + 0.07).clip(0, 1)
    scores["band_uncertain"] = scores["persistence_probability"].between(0.45, 0.6)
    scores.to_parquet(folder / "scores.parquet", index=False)
    return scores


def test_page_one_of_the_pdf_holds_the_whole_capacity_shortlist(tmp_path):
    pytest.importorskip("weasyprint", reason="WeasyPrint is not installed")
    root = tmp_path / "weekly"
    previous = write_fake_week(root / "2026-W46", n_lines=30, seed=1, week="2026-W46")
    current = write_fake_week(root / "2026-W47", n_lines=60, seed=2, first_line=10, decisions=True)
    scores = _with_ranges(current)
    _known_outcomes(root, previous, [i % 3 != 0 for i in range(24)])
    _, pdf = build_report(current, previous)  # capacity: the harm policy's, 10
    page_one = _pdf_pages(pdf)[0]
    flat = "".join(page_one.split())  # a table cell may wrap anywhere
    shortlist = scores.sort_values("priority_rank").head(10)
    missing = [i for i in shortlist["line_id"] if i not in flat]
    assert not missing, f"shortlisted lines not on page 1: {missing}"
    for _, line in shortlist.iterrows():  # each with its band and its plausible range
        low, high = round(line["probability_low"] * 100), round(line["probability_high"] * 100)
        assert f"({low}\u2013{high}%)" in flat, (line["line_id"], low, high)
    assert "".join(f"harm {shortlist['harm_index'].iloc[0]:.0f}".split()) in flat
    # ... and its options under the four Ps
    rules = WeekManifest.read(current / "manifest.json").playbook["rules"]
    held = [r for r in rules if shortlist[f"option_{r['name']}"].any()]
    assert held
    for rule in held:
        words = f"{FOUR_PS_WORDS[rule['strand']]}: {rule['short']}"
        assert "".join(words.split()) in flat, words
    # the count of unreferred exploited people, with the first of them
    context = report_context(load_week(current), load_week(previous))
    protect = context["protect"]
    assert protect["no_referral"] and "".join(protect["lines"][0]["line_id"].split()) in flat
    assert f"{protect['no_referral']:,}lines" in flat or f"{protect['no_referral']:,}line" in flat
    # the protect headline (victims), how sure, what the model cannot know and who decides
    for phrase in (
        "victims",
        "no safeguarding referral",
        "How sure",
        "cannot know",
        "a person decides",
        "24 outcomes became known this week",
    ):
        assert "".join(phrase.split()).lower() in flat.lower(), phrase


def test_since_last_week_says_which_outcomes_became_known_and_how_the_estimates_did(tmp_path):
    root = tmp_path / "weekly"
    previous = write_fake_week(root / "2026-W46", n_lines=30, seed=1, week="2026-W46")
    current = write_fake_week(root / "2026-W47", n_lines=40, seed=2, first_line=10)

    def since(context) -> str:
        return next(s for s in context["headline"]["sentences"] if s.startswith("Since last week"))

    without = report_context(load_week(current), load_week(previous))
    assert "outcome" not in since(without)  # no outcomes file: nothing claimed
    assert "became known" not in visible_text(parse(render_html(without)))

    before = pd.read_parquet(previous / "scores.parquet").head(20)
    persisted = [True] * 20  # every one persisted: far more than estimated
    _known_outcomes(root, previous, persisted)
    context = report_context(load_week(current), load_week(previous))
    expected = before["persistence_probability"].sum()
    assert expected < 15
    sentence = since(context)
    assert "20 outcomes became known this week: 20 of these lines persisted" in sentence
    assert f"the estimates expected about {expected:.0f}" in sentence
    assert "so more persisted than estimated" in sentence
    likely = int(
        (before["yardstick_band"].isin(["likely", "highly likely", "almost certain"])).sum()
    )
    assert f"Of the {likely} we rated likely or more, {likely} persisted" in sentence
    top = render_html(context).split('<section id="summary"')[1].split("</section>")[0]
    assert sentence in visible_text(parse(top))  # the briefing's first section


def test_estimates_that_held_up_are_called_close():
    from resilience.report.changes import outcomes_known

    known = pd.DataFrame(
        {
            "disruption_id": [f"d{i}" for i in range(40)],
            "line_id": [f"l{i}" for i in range(40)],
            "outcome": [i % 2 == 0 for i in range(40)],
            "persistence_probability": [0.5] * 40,
            "yardstick_band": ["realistic possibility"] * 40,
        }
    )
    summary = outcomes_known(known, 40, 10, 12)
    assert (
        "20 of these lines persisted; the estimates expected about 20 (chance alone gives 14\u201326), so they were close."
        in summary["headline"]
    )
    fewer = outcomes_known(known.assign(outcome=[i < 5 for i in range(40)]), 40, 10, 12)
    assert "so fewer persisted than estimated" in fewer["headline"]
    one = outcomes_known(known.head(1), 3, 10, 12)
    assert one["headline"].startswith("1 outcome became known this week: line l0 persisted")
    assert outcomes_known(known.head(0), 3, 10, 12)["headline"] == ""


def test_characters_the_pdf_fonts_lack_are_one_warning_not_one_per_glyph(tmp_path, caplog):
    """A line's text with an emoji or a fullwidth sign: the PDF draws them blank; the operator
    reads that once, naming each character, instead of WeasyPrint's line per glyph."""
    import logging

    caplog.set_level(logging.WARNING)
    render_pdf("<p>Area 🔥 ＝ 🔥 and 🔥 again</p>", tmp_path / "x.pdf")
    messages = [r.getMessage() for r in caplog.records]
    assert not any(".notdef" in m for m in messages)
    (warning,) = [m for m in messages if "fonts lack" in m]
    assert "2 character(s)" in warning and "🔥" in warning and "＝" in warning
    assert (tmp_path / "x.pdf").read_bytes().startswith(b"%PDF")


def test_last_weeks_lists_give_last_weeks_estimate_with_its_range(tmp_path):
    """Every probability comes with its range: "priority 3, 92% (78\u201399%)" for a line of last
    week's lists, the range it was given then; a week scored without ranges says the estimate."""
    root = tmp_path / "weekly"
    previous = write_fake_week(root / "2026-W46", n_lines=30, seed=1, week="2026-W46")
    current = write_fake_week(root / "2026-W47", n_lines=40, seed=2, first_line=10)
    context = report_context(load_week(current), load_week(previous))
    plain = context["last_week"]["shortlist"][0]["before"]
    assert re.fullmatch(r"priority 1, \d+%", plain), plain
    scores = _with_ranges(previous).set_index("disruption_id")
    context = report_context(load_week(current), load_week(previous))
    entries = context["last_week"]["shortlist"] + context["last_week"]["protect"]
    assert entries
    for entry in entries:
        line = scores.loc[entry["disruption_id"]]
        low, high = line["probability_low"] * 100, line["probability_high"] * 100
        assert entry["before"].endswith(f"% ({low:.0f}\u2013{high:.0f}%)"), entry["before"]
    table = render_html(context).split('<section id="last-week"')[1].split("</section>")[0]
    assert entries[0]["before"] in visible_text(parse(table))


def test_places_give_the_lines_expected_still_active_with_the_sum_of_their_ranges(tmp_path):
    """As the groups table does, each place's "expected still active" comes with the sum of its
    lines' range ends; a week scored without ranges prints the estimate alone."""
    folder = write_fake_week(tmp_path / "2026-W47", n_lines=60, seed=4)
    rows = report_context(load_week(folder), None)["places"][0]["rows"]
    assert rows and all(r["low"] is None for r in rows)
    assert "on the lines' ranges" not in render_html(report_context(load_week(folder), None))
    scores = _with_ranges(folder)
    context = report_context(load_week(folder), None)
    area = context["places"][0]["column"]
    by_area = scores.groupby(scores[area].astype(str))[["probability_low", "probability_high"]]
    sums = by_area.sum()
    for row in context["places"][0]["rows"]:
        if row["value"] in sums.index:
            low, high = sums.loc[row["value"]]
            assert row["low"] == pytest.approx(low) and row["high"] == pytest.approx(high)
    top = context["places"][0]["rows"][0]
    text = visible_text(parse(render_html(context).split('<section id="place"')[1]))
    assert f"{top['low']:,.1f}\u2013{top['high']:,.1f} on the lines' ranges" in text


def test_the_count_the_estimates_expected_comes_with_what_chance_alone_gives(tmp_path):
    """ "the estimates expected about 189" is a number with a range: the counts chance alone gives
    (two standard deviations of the sum of the estimates), the very counts called "close"."""
    from resilience.report.changes import chance_counts, verdict
    from resilience.report.trust import how_sure

    low, high = chance_counts(48.0, 24.0)  # two standard deviations: 9.8
    assert (low, high) == (39, 57)
    for persisted in range(low - 2, high + 3):
        assert (verdict(persisted, 48.0, 24.0) == "so they were close") == (
            low <= persisted <= high
        )
    trend = {
        "rows": [{"outcomes": {"known": 100, "persisted": 50, "expected": 48.0, "variance": 24.0}}]
    }
    assert (
        "50 persisted; the estimates given before each was known expected about 48 (chance alone "
        "gives 39\u201357), so they were close."
    ) in how_sure({}, trend)
    root = tmp_path / "weekly"
    previous = write_fake_week(root / "2026-W46", n_lines=30, seed=1, week="2026-W46")
    current = write_fake_week(root / "2026-W47", n_lines=40, seed=2, first_line=10)
    _known_outcomes(root, previous, [True, False] * 10)
    p = pd.read_parquet(previous / "scores.parquet").head(20)["persistence_probability"]
    low, high = chance_counts(float(p.sum()), float((p * (1 - p)).sum()))
    context = report_context(load_week(current), load_week(previous))
    words = f"expected about {p.sum():.0f} (chance alone gives {low}\u2013{high})"
    headline = " ".join(context["headline"]["sentences"])
    assert f"the estimates {words}" in headline
    section = render_html(context).split('<section id="last-week"')[1].split("</section>")[0]
    assert f"from our estimates we {words}." in visible_text(parse(section))


def test_the_trends_table_names_the_miss_score_as_the_trust_section_does(tmp_path):
    """One measure, one name: the trends table called the Brier score an "average squared miss"
    while the trust section calls it the overall miss score."""
    root = tmp_path / "weekly"
    previous = write_fake_week(root / "2026-W46", n_lines=30, seed=1, week="2026-W46")
    current = write_fake_week(root / "2026-W47", n_lines=40, seed=2, first_line=10)
    _known_outcomes(root, previous, [True, False] * 10)
    html = render_html(report_context(load_week(current), load_week(previous)))
    trends = visible_text(parse(html.split('<section id="trends"')[1].split("</section>")[0]))
    assert "Overall miss score, 0 is perfect (Brier score)" in trends
    assert "Overall miss score, 0 is perfect (Brier score)" in _trust_text(html)
    assert "squared miss" not in trends
