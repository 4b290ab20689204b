"""The backtest's page: one self-contained HTML file (Jinja2, autoescaped, inline SVG charts, each
with its data table), from a :class:`~resilience.pipelines.backtest.Backtest`'s tables.

Words follow the briefing's rules: estimates against what happened, never causes; a bias is
worded only when it is at least 2 points and twice its standard error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from resilience.report.render import _environment
from resilience.report.words import number

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 260, 56, 540, 14, 220


def _scale(value: float, lo: float, hi: float, px_lo: float, px_hi: float) -> float:
    return round(px_lo + (value - lo) / (hi - lo) * (px_hi - px_lo), 1) if hi > lo else px_lo


def line_chart(labels: list[str], series: dict[str, list[float]], unit: str) -> dict:
    """A small SVG line chart: one polyline per series over ``labels`` (NaN points left out)."""
    values = [v for s in series.values() for v in s if v is not None and np.isfinite(v)]
    lo, hi = (min(values + [0.0]), max(values + [0.0])) if values else (0.0, 1.0)
    lo, hi = (lo - 1, hi + 1) if hi == lo else (lo, hi)
    x = {
        label: _scale(i, 0, max(len(labels) - 1, 1), LEFT, RIGHT) for i, label in enumerate(labels)
    }
    lines = []
    for n, (name, points) in enumerate(series.items()):
        kept = [
            (x[label], _scale(v, lo, hi, BOTTOM, TOP))
            for label, v in zip(labels, points)
            if v is not None and np.isfinite(v)
        ]
        lines.append(
            {"name": name, "class": f"series-{n}", "points": " ".join(f"{a},{b}" for a, b in kept)}
        )
    ticks = np.linspace(lo, hi, 5)
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": RIGHT,
        "top": TOP,
        "bottom": BOTTOM,
        "zero": _scale(0.0, lo, hi, BOTTOM, TOP) if lo <= 0 <= hi else None,
        "lines": lines,
        "x_ticks": [{"pos": x[label], "label": label} for label in labels],
        "y_ticks": [
            {"pos": _scale(t, lo, hi, BOTTOM, TOP), "label": f"{t:.1f}{unit}"} for t in ticks
        ],
    }


def _cells(frame: pd.DataFrame, columns: dict[str, str]) -> list[list[str]]:
    out = []
    for row in frame.to_dict("records"):
        cells = []
        for column, form in columns.items():
            value = row.get(column)
            cells.append(
                value
                if isinstance(value, str)
                else ""
                if number(value) is None
                else form.format(value)
            )
        out.append(cells)
    return out


AGE_COLUMNS = {
    "record_age": "{}",
    "disruptions": "{:,.0f}",
    "mean_estimate": "{:.3f}",
    "observed_rate": "{:.3f}",
    "bias_vs_observed_points": "{:+.1f}",
    "bias_se_points": "{:.1f}",
    "bias_vs_truth_points": "{:+.1f}",
    "ece": "{:.3f}",
    "roc_auc": "{:.3f}",
    "coverage": "{:.2f}",
    "median_width": "{:.2f}",
}
WEEK_COLUMNS = {
    "week": "{}",
    "lines": "{:,.0f}",
    "judged": "{:,.0f}",
    "mean_estimate": "{:.3f}",
    "observed_rate": "{:.3f}",
    "bias_points": "{:+.1f}",
    "ece": "{:.3f}",
    "coverage": "{:.2f}",
    "median_width": "{:.2f}",
    "shortlist_judged": "{:,.0f}",
    "shortlist_persisted": "{:.2f}",
    "shortlist_expected": "{:.2f}",
}


def _findings(backtest) -> list[str]:
    """Plain sentences: ages whose estimates ran high or low beyond chance, and the comparison."""
    ages = backtest.by_age[backtest.by_age["record_age"] != "complete"]
    out = []
    for sign, word in ((1, "higher"), (-1, "lower")):
        off = ages[
            (sign * ages["bias_vs_observed_points"] >= 2)
            & (ages["bias_vs_observed_points"].abs() >= 2 * ages["bias_se_points"])
        ]
        if len(off):
            out.append(
                f"At record ages {', '.join(off['record_age'])} weeks the estimates were {word} than "
                "the share that persisted, by more than chance explains."
            )
    unjudged = _unjudged_ages(ages, backtest.summary.get("horizon_weeks"))
    if not out and len(ages):
        where = "every record age" if not unjudged else "every record age judged"
        out.append(
            f"At {where} the estimates were within 2 points of what happened, or within chance."
        )
    if unjudged:
        out.append(
            f"No replayed line of record age {unjudged} weeks has a known outcome yet, so those "
            "ages are not judged: the replayed weeks are too recent. For a judgement at every age, "
            f"pick a cutoff at least {backtest.summary['horizon_weeks']} weeks (the horizon) "
            "before the newest known outcome."
        )
    for metric, c in backtest.comparison.items():
        verdict = (
            "worse, beyond the bootstrap's range"
            if c["significantly_worse"]
            else "better, beyond the bootstrap's range"
            if c["lower"] > 0
            else "not distinguishable"
        )
        out.append(
            f"Against the same recipe trained on final records only, {metric}: {c['challenger']:.4f} vs "
            f"{c['champion']:.4f} ({verdict}; paired bootstrap over {c['lines']:,} lines, the champion rule's)."
        )
    return out


def _unjudged_ages(ages: pd.DataFrame, horizon: int | None) -> str:
    """The record ages below the horizon that no judged line had, as runs ("0-9, 11"); "" when
    every age was judged (or the horizon is not known)."""
    if not horizon:  # a backtest recorded before its summary kept the horizon
        return ""
    seen = {str(a) for a, n in zip(ages["record_age"], ages["disruptions"]) if n > 0}
    missing = [a for a in range(int(horizon or 0)) if str(a) not in seen]
    runs: list[list[int]] = []
    for age in missing:
        if runs and age == runs[-1][-1] + 1:
            runs[-1].append(age)
        else:
            runs.append([age])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def backtest_context(backtest) -> dict[str, Any]:
    """What the page shows."""
    ages = backtest.by_age
    labels = [str(a) for a in ages["record_age"]]
    weeks = backtest.by_week
    series = {"bias vs what happened": list(ages["bias_vs_observed_points"])}
    if ages["bias_vs_truth_points"].notna().any():
        series["bias vs true probability"] = list(ages["bias_vs_truth_points"])
    return {
        "cutoff": backtest.cutoff,
        "as_of": backtest.as_of.date().isoformat(),
        "summary": backtest.summary,
        "findings": _findings(backtest),
        "age_chart": line_chart(labels, series, " pts"),
        "week_chart": line_chart(
            list(weeks["week"]),
            {
                "shortlist: share persisted": list(100 * weeks["shortlist_persisted"]),
                "shortlist: share expected": list(100 * weeks["shortlist_expected"]),
            },
            "%",
        ),
        "age_head": [_heading(c) for c in AGE_COLUMNS],
        "age_rows": _cells(ages, AGE_COLUMNS),
        "week_head": [_heading(c) for c in WEEK_COLUMNS if c in weeks],
        "week_rows": _cells(weeks, {c: f for c, f in WEEK_COLUMNS.items() if c in weeks}),
    }


# each table column in words, its name in the backtest's CSV tables in brackets
HEADINGS = {
    "record_age": "Record age (weeks)",
    "disruptions": "Disruptions judged",
    "week": "Week",
    "lines": "Lines scored",
    "judged": "Lines judged",
    "mean_estimate": "Average estimate",
    "observed_rate": "Share that persisted",
    "bias_vs_observed_points": "Estimate minus what happened (points)",
    "bias_points": "Estimate minus what happened (points)",
    "bias_se_points": "Its chance variation (points, one standard error)",
    "bias_vs_truth_points": "Estimate minus the true probability (points)",
    "ece": "Typical gap between estimate and outcome rate",
    "roc_auc": "Ranks a persisting line above a closing one (share of pairs)",
    "coverage": "Ranges holding the true probability (share)",
    "median_width": "Median range width",
    "shortlist_judged": "Shortlisted lines judged",
    "shortlist_persisted": "Shortlist: share persisted",
    "shortlist_expected": "Shortlist: share its estimates expected",
}


def _heading(column: str) -> str:
    """A table column as the page heads it: words first, the CSV column's name in brackets."""
    return f"{HEADINGS.get(column, column)} ({column})"


def render_backtest(backtest) -> str:
    """The backtest page as one self-contained HTML document (no scripts, inline SVG)."""
    return _environment().get_template("backtest.html.j2").render(**backtest_context(backtest))
