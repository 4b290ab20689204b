"""Every figure the briefing prints, checked against the week's own files (issue 23).

Three fake scored weeks (open disruptions carried from week to week, as the weekly extracts hold
them) and an outcomes file are written as scoring and ``resilience-outcomes`` write them; each
figure is then recomputed here from ``scores.parquet``, ``manifest.json`` and ``outcomes.parquet``
by the issue's own definitions and compared with what the rendered briefing prints: the shortlist's
options and record ages, page 1's count of unreferred exploited people and the first of them, what
became of last week's lists, the trend tables, places and groups.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pandas as pd
import pytest
from test_report import write_fake_week

from resilience.core.week_files import OPTION_PREFIX, WeekManifest
from resilience.core.yardstick import BAND_NAMES
from resilience.governance.outcomes import update_outcomes, write_outcomes
from resilience.report import load_week, render_html, report_context
from resilience.report.words import FOUR_PS_WORDS

WEEKS = ("2026-W45", "2026-W46", "2026-W47")
CAPACITY = 10  # the default harm policy's


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """Three weeks; week 46 and 47 carry most of the previous week's disruptions; outcomes known
    for some of week 45's and 46's closed ones."""
    root = tmp_path_factory.mktemp("weekly")
    folders, before = [], None
    for n, week in enumerate(WEEKS):
        folder = write_fake_week(
            root / week,
            n_lines=60,
            seed=40 + n,
            week=week,
            first_line=8 * n,
            carry_from=before,
            decisions=n == 2,
        )
        folders.append(folder)
        before = folder
    scores = [pd.read_parquet(f / "scores.parquet") for f in folders]
    # the disruptions of an earlier week no longer open a week later: some outcomes now known
    closed = [
        sorted(set(scores[k]["disruption_id"]) - set(scores[k + 1]["disruption_id"]))
        for k in range(2)
    ]
    labels = pd.DataFrame(
        {
            "disruption_id": closed[0][:6] + closed[1][:5],
            "outcome": [i % 3 != 0 for i in range(11)],
        }
    )
    known, _ = update_outcomes(root, labels, "labels")
    write_outcomes(known, root / "outcomes.parquet")
    context = report_context(load_week(folders[2]), load_week(folders[1], previous=True))
    html = render_html(context)
    return {
        "root": root,
        "folders": folders,
        "scores": scores,
        "context": context,
        "html": html,
        "outcomes": pd.read_parquet(root / "outcomes.parquet"),
    }


# -- reading the rendered page ---------------------------------------------------------------------
def _text(fragment: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _section(html: str, section_id: str) -> str:
    return html.split(f'<section id="{section_id}"')[1].split("</section>")[0]


def _rows(html: str, table_class: str, number: int = 0) -> list[list[str]]:
    """The body rows of the ``number``-th table with this class, each as its cells' text."""
    table = html.split(f'<table class="{table_class}')[number + 1].split("</table>")[0]
    body = table.split("<tbody>")[1].split("</tbody>")[0]
    return [
        [_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    ]


def _shortlist(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.nsmallest(CAPACITY, "priority_rank").sort_values("priority_rank")


def _unreferred(scores: pd.DataFrame) -> pd.Series:
    people = scores[["harm_exploited_children", "harm_exploited_adults"]].sum(axis=1)
    return (people > 0) & (scores["protect_referrals"] <= 0)


# -- page 1 -----------------------------------------------------------------------------------------
def test_each_shortlisted_line_shows_the_options_its_record_holds_with_the_records_age(world):
    scores = world["scores"][2]
    manifest = WeekManifest.read(world["folders"][2] / "manifest.json")
    rules = manifest.playbook["rules"]
    as_of = pd.to_datetime(scores["disruption_date"]).max()
    rows = _rows(_section(world["html"], "shortlist"), "shortlist stack")
    full = _rows(_section(world["html"], "shortlist-full"), "shortlist-full stack")
    short = _shortlist(scores)
    assert [r[1].split()[0] for r in rows] == short["line_id"].tolist()
    assert [r[1].split()[0] for r in full] == short["line_id"].tolist()
    shown_any = 0
    for row, in_full, (_, line) in zip(rows, full, short.iterrows()):
        options, options_full = row[-1], in_full[-1]
        age = f"record {(as_of - pd.Timestamp(line['disruption_date'])).days} day"
        held = [r for r in rules if bool(line[OPTION_PREFIX + r["name"]])]
        for rule in rules:
            words = f"{FOUR_PS_WORDS[rule['strand']]}: {rule['short']}"
            if rule in held:
                shown_any += 1
                # page 1: the strand and the option, what the record showed, its age once
                assert words in options and rule["evidence"] in options, (line["line_id"], options)
                # in full: each option with its own evidence and, if it rests on an absence, the age
                basis = f"{rule['evidence']}; {age}" if rule.get("unrecorded") else rule["evidence"]
                full_words = f"{FOUR_PS_WORDS[rule['strand']]}: {rule['option']} ({basis}"
                assert full_words in options_full, (line["line_id"], options_full)
            else:
                assert words not in options, (line["line_id"], rule["name"], options)
        assert options.count(age) == int(any(r.get("unrecorded") for r in held)), options
        if not held:
            assert "none of the playbook's rules apply" in options
    assert shown_any  # the fixture's records give the shortlist options to show
    assert "options to consider, not recommendations of the model" in _text(
        _section(world["html"], "shortlist")
    )


def test_page_one_counts_the_unreferred_and_names_the_first_of_them(world):
    scores = world["scores"][2]
    unreferred = scores[_unreferred(scores)]
    children = unreferred[unreferred["harm_exploited_children"] > 0]
    first = (children if len(children) else unreferred).sort_values(
        ["harm_exploited_children", "priority_rank", "disruption_date"],
        ascending=[False, True, True],
        kind="stable",
    )
    text = _text(_section(world["html"], "at-risk"))
    people_children = int(unreferred["harm_exploited_children"].sum())
    people_adults = int(unreferred["harm_exploited_adults"].sum())
    assert (
        f"{len(unreferred):,} lines record exploited people with no safeguarding referral" in text
    )
    assert f"{people_children:,} exploited children" in text.lower() or people_children == 0
    assert f"{people_adults:,}" in text
    assert f"First: line {first['line_id'].iloc[0]}" in text
    named = len(world["context"]["protect"]["lines"])
    assert named == min(
        25,
        int((scores[["harm_exploited_children", "harm_exploited_adults"]].sum(axis=1) > 0).sum()),
    )


# -- what became of last week ----------------------------------------------------------------------
def test_each_line_of_last_weeks_shortlist_is_accounted_for_from_the_files(world):
    before, now = world["scores"][1], world["scores"][2]
    outcomes = world["outcomes"].set_index("disruption_id")
    on_now = set(_shortlist(now)["disruption_id"])
    open_now = set(now["disruption_id"])
    rows = _rows(_section(world["html"], "last-week"), "fates stack", 0)
    short = _shortlist(before)
    assert [r[0] for r in rows] == short["line_id"].tolist()
    for row, (_, line) in zip(rows, short.iterrows()):
        d, status = line["disruption_id"], row[2]
        plausible = ""  # the range the line was given, where the week had ranges
        if "probability_low" in line:
            low, high = line["probability_low"] * 100, line["probability_high"] * 100
            plausible = f" ({low:.0f}\u2013{high:.0f}%)"
        assert row[1] == f"priority {line['priority_rank']:,}, {line['percent']}%{plausible}"
        if d in on_now:
            assert status.startswith("still on the list"), status
        elif d in open_now:
            assert status.startswith("off:"), status
            after = now.loc[now["disruption_id"] == d].iloc[0]
            assert f"priority {line['priority_rank']:,} \u2192 {after['priority_rank']:,}" in status
        elif d in outcomes.index:
            known = outcomes.loc[d]
            assert status.startswith("outcome now known"), status
            # judged on the estimate given before the outcome was known, as the file keeps it
            assert f"{known['persistence_probability'] * 100:.0f}%" in status
            assert f"estimate of week {known['week']}" in status
        else:
            assert status.startswith("no longer open, outcome not yet recorded"), status
    statuses = [r[2] for r in rows]
    assert any(s.startswith("still") for s in statuses)
    summary = world["context"]["last_week"]["sentences"][0]
    assert summary.startswith(f"Of last week's {len(short)} shortlisted lines:")


# -- trends -----------------------------------------------------------------------------------------
def test_trend_tables_are_each_weeks_own_counts_and_the_known_outcomes(world):
    section = _section(world["html"], "trends")
    counts = _rows(section, "numbers trends", 0)
    assert [r[0] for r in counts] == list(WEEKS)
    for row, scores in zip(counts, world["scores"]):
        bands = scores["yardstick_band"].value_counts()
        high = int((scores["harm_index"] >= 40).sum())  # high (40-60) and very high (60+) harm
        expected = [
            f"{len(scores):,}",
            *(f"{int(bands.get(b, 0)):,}" for b in BAND_NAMES),
            f"{high:,}",
            f"{int(_unreferred(scores).sum()):,}",
        ]
        assert row[1:] == expected, (row, expected)
    cohorts = _rows(section, "numbers trends", 1)
    outcomes = world["outcomes"]
    for row, week, scores in zip(cohorts, WEEKS, world["scores"]):
        imported = scores["line_type"] == "imported"
        likely = scores["yardstick_band"].isin(["likely", "highly likely", "almost certain"])
        assert f"{int(imported.sum()):,} ({int((imported & likely).sum()):,})" in row
        known = outcomes[outcomes["week"] == week]
        if len(known):
            assert row[-4:-1] == [
                f"{len(known):,}",
                f"{int(known['outcome'].sum()):,}",
                f"{known['persistence_probability'].sum():,.0f}",
            ]
        else:
            assert row[-4:] == ["\u2013"] * 4
    assert outcomes["week"].nunique() == 2  # two weeks' estimates have known outcomes


# -- places and groups ------------------------------------------------------------------------------
def test_place_table_sums_each_areas_lines_from_the_scores(world):
    scores = world["scores"][2]
    short = set(_shortlist(scores).index)
    rows = {r[0]: r[1:] for r in _rows(_section(world["html"], "place"), "numbers place")}
    unreferred = _unreferred(scores)
    assert set(rows) == set(scores["policing_area"])
    for area, lines in scores.groupby("policing_area"):
        likely = lines["yardstick_band"].isin(["likely", "highly likely", "almost certain"])
        assert rows[area] == [
            f"{len(lines):,}",
            f"{int(likely.sum()):,}",
            f"{lines['persistence_probability'].sum():,.1f}",
            f"{lines['harm_index'].sum():,.0f}",
            f"{(lines['persistence_probability'] * lines['harm_index'].clip(lower=5)).sum():,.0f}",
            f"{sum(1 for i in lines.index if i in short):,}",
            f"{int(unreferred[lines.index].sum()):,}",
        ], area


def test_group_view_gives_each_groups_lines_expectation_harm_and_latest_grade(world):
    scores = world["scores"][2]
    linked = scores[scores["ocg_id"] != ""]
    rows = _rows(_section(world["html"], "place"), "numbers groups")
    assert rows and len(rows) == min(10, linked["ocg_id"].nunique())
    heaviness = {"minor": 0, "moderate": 1, "major": 2}
    for row in rows:
        lines = linked[linked["ocg_id"] == row[0]]
        assert row[1].startswith(f"{lines['line_id'].nunique():,}:")
        assert row[2].startswith(
            f"{lines['persistence_probability'].sum():,.1f} of {lines['line_id'].nunique():,}"
        )
        assert row[3] == f"{lines['harm_index'].sum():,.0f}"
        latest = lines.assign(h=lines["disruption_grade"].map(heaviness)).sort_values(
            ["disruption_date", "h"]
        )
        assert (
            row[4]
            == f"{pd.Timestamp(latest['disruption_date'].iloc[-1]):%Y-%m-%d}, {latest['disruption_grade'].iloc[-1]}"
        )
    sentence = world["context"]["groups"]["sentence"]
    assert sentence.startswith(f"{linked['ocg_id'].nunique():,} groups have lines open this week")


def test_the_playbook_in_force_is_printed_with_how_many_lines_each_option_holds_for(world):
    scores = world["scores"][2]
    manifest = WeekManifest.read(world["folders"][2] / "manifest.json")
    text = _text(_section(world["html"], "playbook"))
    for rule in manifest.playbook["rules"]:
        assert rule["option"] in text
        assert f"{int(scores[OPTION_PREFIX + rule['name']].sum()):,}" in text
    assert "they never see whether lines persisted, are never an input to the model" in text


def test_a_root_without_earlier_weeks_has_no_trends(tmp_path: Path):
    folder = write_fake_week(tmp_path / "2026-W47", n_lines=20, seed=3)
    context = report_context(load_week(folder))
    assert context["trends"] is None and context["last_week"] is None
