"""The commander's weekly report: one self-contained HTML page and the same page as a PDF.

Three steps, each callable on its own:

* :func:`load_week` reads a scored week folder (``scores.parquet``, ``explanations.parquet``,
  ``contract.json``, ``safeguarding.json``, ``drift.json``, ``manifest.json`` and, if present,
  ``decisions.json``) into a :class:`WeekInputs`.
* :func:`report_context` turns those inputs (and last week's scores) into a plain dict of words,
  numbers and chart geometry. It is pure: no files, no clock.
* :func:`render_html` renders the context with Jinja2 (autoescaping on, templates in the package,
  CSS inlined, charts as inline SVG): the page makes no network request.

:func:`build_report` does all three for a week folder and writes ``report.html`` and
``report.pdf`` (WeasyPrint) atomically beside the scores.

Every string that comes from the data reaches the page only through Jinja's autoescaping, the
SVG charts included (they are Jinja macros, not strings built here).

Example
-------
>>> html_path, pdf_path = build_report(Path("outputs/weekly/2026-W47"),
...                                    Path("outputs/weekly/2026-W46"))  # doctest: +SKIP
"""
from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from resilience.data.contract import DataContract
from resilience.data.io import atomic_path, write_text_atomic
from resilience.errors import ResilienceError
from resilience.explain import REASON_COLUMNS
from resilience.yardstick import BANDS, BAND_NAMES, place

DEFAULT_MARKING = "OFFICIAL-SENSITIVE — SYNTHETIC DATA"
UNCHANGED_POINTS = 2          # a change of at most this many points either way reads "unchanged"
WATERFALL_CONCEPTS = 8        # concepts shown one by one in a waterfall; the rest are summed
LIKELY_BANDS = ("likely", "highly likely", "almost certain")   # "likely or above" in headlines
REASON_COLUMNS_FOR, REASON_COLUMNS_AGAINST = REASON_COLUMNS[:3], REASON_COLUMNS[3:]
SCORE_COLUMNS = ("rank", "disruption_id", "line_id", "persistence_probability")
FOUR_PS_WORDS = {
    "pursue": "Pursue",
    "prepare": "Prepare",
    "protect": "Protect",
    "prevent": "Prevent",
    "context": "Context (not a policing action)",
}
DRIFT_KIND_WORDS = {
    "feature": "An input has shifted",
    "missing": "More values are missing",
    "explanation": "What the model weighs has shifted",
}
FAMILY_WORDS = {
    "lightgbm": "gradient-boosted decision trees (LightGBM)",
    "logistic": "logistic regression",
    "logistic_regression": "logistic regression",
    "random_forest": "random forest",
}
# Characters that would let a hostile value break out of the page's text flow or confuse a reader:
# C0/C1 controls (not tab/newline) and bidirectional overrides/embeddings. Shown as U+FFFD.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class ReportError(ResilienceError):
    """A week folder that cannot be turned into a report (missing file or column)."""


class PdfRendererUnavailable(ReportError):
    """WeasyPrint (or the Pango library it needs) is not installed, so no PDF can be made."""


# -- reading a week folder ------------------------------------------------------------------------
@dataclass
class WeekInputs:
    """Everything the scoring step wrote for one week, as plain frames and dicts."""

    scores: pd.DataFrame
    explanations: pd.DataFrame
    contract: DataContract
    safeguarding: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    decisions: list[dict[str, Any]] | None = None


def _read_json(path: Path, required: bool = True) -> Any:
    if not path.is_file():
        if required:
            raise ReportError(f"{path}: missing; the scoring step writes it into every week folder")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not valid UTF-8 JSON: {exc}") from exc


def read_scores(path: Path) -> pd.DataFrame:
    """Read a week's ``scores.parquet`` and check it has the columns the report needs."""
    if not path.is_file():
        raise ReportError(f"{path}: missing; run the weekly scoring step first")
    try:
        scores = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise ReportError(f"{path}: cannot be read as Parquet: {exc}") from exc
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}; found {list(scores.columns)}")
    return scores


def load_week(week_dir: Path) -> WeekInputs:
    """Read a scored week folder. Raises :class:`ReportError` naming the file that is wrong."""
    week_dir = Path(week_dir)
    if not week_dir.is_dir():
        raise ReportError(f"{week_dir}: no such week folder")
    scores = read_scores(week_dir / "scores.parquet")
    explanations_path = week_dir / "explanations.parquet"
    if not explanations_path.is_file():
        raise ReportError(f"{explanations_path}: missing; the scoring step writes it with the scores")
    explanations = pd.read_parquet(explanations_path)
    if "disruption_id" not in explanations.columns:
        raise ReportError(f"{explanations_path}: missing column 'disruption_id'")
    try:
        contract = DataContract.from_dict(_read_json(week_dir / "contract.json"))
    except ResilienceError as exc:
        raise ReportError(f"{week_dir / 'contract.json'}: {exc}") from exc
    safeguarding = _read_json(week_dir / "safeguarding.json", required=False) or []
    drift = _read_json(week_dir / "drift.json", required=False) or {}
    manifest = _read_json(week_dir / "manifest.json")
    decisions = _read_json(week_dir / "decisions.json", required=False)
    return WeekInputs(scores, explanations, contract, list(safeguarding), dict(drift), dict(manifest),
                      list(decisions) if decisions is not None else None)


# -- small formatting helpers ---------------------------------------------------------------------
def clean_text(value: Any) -> str:
    """A data value as display text: None/NaN -> "", unsafe control characters -> U+FFFD.

    Escaping is Jinja's job; this only removes characters that no escaping makes safe to show.
    """
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if value is pd.NaT:
        return ""
    return _UNSAFE_CHARS.sub("\ufffd", str(value))


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string that is safe inside a ``<style>`` element.

    Every character other than letters, digits, space and a few harmless marks becomes a CSS hex
    escape, so no value can close the string, the rule or the ``<style>`` element.
    """
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,:;()")
    body = "".join(ch if ch in safe else f"\\{ord(ch):x} " for ch in clean_text(text))
    return Markup(f'"{body}"')


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def signed_points(points: float, decimals: int = 1) -> str:
    """+3.2 / −1.0 / 0.0 with a real minus sign (screen readers read it as "minus")."""
    rounded = round(points, decimals)
    if rounded == 0:
        return f"{0:.{decimals}f}"
    text = f"{abs(rounded):.{decimals}f}"
    return ("+" if rounded > 0 else "\u2212") + text


def points_text(points: float, decimals: int = 0) -> str:
    """"+3 points", "\u22121 point", "0 points"."""
    text = signed_points(points, decimals)
    unit = "point" if text.lstrip("+\u2212") in ("1", "1.0") else "points"
    return f"{text} {unit}"


def _percent(value: Any, decimals: int = 0) -> str:
    number = _number(value)
    if number is None:
        return "not recorded"
    return f"{number * 100:.{decimals}f}%"


def _band_range(name: str) -> str:
    for band_name, low, high in BANDS:
        if band_name == name:
            if low == 0:
                return f"{high}% or less"
            if high == 100:
                return f"{low}% or more"
            return f"{low}\u2013{high}%"
    return ""


def _slice_value_text(contract: DataContract, column: str, value: Any) -> str:
    """A slice value for people: declared categories lose their underscores ("home_grown" ->
    "Home grown"); free values (area names) are shown exactly as the data has them."""
    text = clean_text(value)
    if not text:
        return "not recorded"
    try:
        spec = contract.column(column)
    except KeyError:
        return text
    if spec.allowed and text in spec.allowed:
        text = text.replace("_", " ")
        return text[:1].upper() + text[1:]
    return text


def _when(value: Any) -> str:
    """An ISO timestamp as "23 Nov 2026, 06:00 UTC"; anything unparseable is shown as given."""
    text = clean_text(value)
    if not text:
        return ""
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return text
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
        return stamp.strftime("%d %b %Y, %H:%M UTC")
    return stamp.strftime("%d %b %Y, %H:%M") if (stamp.hour or stamp.minute) else stamp.strftime("%d %b %Y")


def _day(value: Any) -> str:
    """A date as "16 Nov 2026"; missing -> "not recorded"; unparseable -> as given."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "not recorded"
    try:
        return pd.Timestamp(value).strftime("%d %b %Y")
    except (ValueError, TypeError):
        return clean_text(value)


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


# -- change since last week -----------------------------------------------------------------------
def change_since_last_week(scores: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Per scored row: ``change`` (new / up / down / unchanged), ``change_points`` and
    ``previous_percent``, matched on ``line_id``.

    Points are the difference of the whole percentages printed in the two reports, so the words
    agree with the numbers a reader compares. A change of at most ±2 points is "unchanged". A line
    scored more than once last week is compared with its highest score.
    """
    now = scores["persistence_probability"].astype(float).clip(0, 1).mul(100).round().astype(int)
    out = pd.DataFrame(index=scores.index)
    out["percent"] = now
    if previous is None or previous.empty:
        out["previous_percent"] = pd.array([pd.NA] * len(scores), dtype="Int64")
    else:
        before = pd.to_numeric(previous["persistence_probability"], errors="coerce")
        known = before.notna()  # a row last week without a probability cannot anchor a change
        before = before[known].clip(0, 1).mul(100).round().astype(int)
        best = pd.Series(before.to_numpy(), index=previous.loc[known, "line_id"].astype(str)).groupby(level=0).max()
        out["previous_percent"] = scores["line_id"].astype(str).map(best).astype("Int64")
    diff = out["percent"] - out["previous_percent"]
    change = np.where(out["previous_percent"].isna(), "new",
                      np.where(diff.fillna(0).abs() <= UNCHANGED_POINTS, "unchanged",
                               np.where(diff.fillna(0) > 0, "up", "down")))
    out["change"] = change
    out["change_points"] = diff
    return out


def _change_words(kind: str, points: Any, previous_percent: Any) -> dict[str, str]:
    if kind == "new":
        return {"kind": "new", "symbol": "\u25cf", "text": "new this week", "short": "New"}
    points = int(points)
    was = f"from {int(previous_percent)}%"
    if kind == "unchanged":
        detail = "no change" if points == 0 else f"{points_text(points)}, within \u00b1{UNCHANGED_POINTS}"
        return {"kind": kind, "symbol": "=", "text": f"unchanged ({detail}; {was})", "short": "Unchanged"}
    word = "up" if kind == "up" else "down"
    symbol = "\u25b2" if kind == "up" else "\u25bc"
    unit = "point" if abs(points) == 1 else "points"
    return {"kind": kind, "symbol": symbol, "text": f"{word} {abs(points)} {unit} ({was})", "short": word.title()}


# -- explanations grouped by concept (the waterfall) ----------------------------------------------
def concept_contributions(explanations: pd.DataFrame, contract: DataContract) -> tuple[pd.DataFrame, list[dict]]:
    """Sum each row's feature contributions (percentage points) per concept.

    Returns the per-concept frame (index ``disruption_id``, one column per concept) and the
    concepts' descriptions (name, label, four Ps) in contract order. A feature the contract does
    not know becomes its own concept, labelled from its name, so nothing is silently dropped.
    """
    feature_columns = [c for c in explanations.columns if c not in ("disruption_id", "baseline_probability")]
    known = set(contract.column_names)
    groups: dict[str, list[str]] = {}
    concepts: dict[str, dict] = {}
    for feature in feature_columns:
        if feature in known:
            concept = contract.concept_of(feature)
            name, label, four_ps = concept.name, concept.label_text, concept.four_ps
        else:
            name, label, four_ps = feature, feature.replace("_", " "), "context"
        groups.setdefault(name, []).append(feature)
        concepts.setdefault(name, {"name": name, "label": label, "four_ps": four_ps})
    values = explanations[feature_columns].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    summed = pd.DataFrame(
        {name: values[cols].sum(axis=1).to_numpy() for name, cols in groups.items()},
        index=explanations["disruption_id"].astype(str).to_numpy(),
    )
    return summed, list(concepts.values())


def waterfall_steps(baseline_percent: float, contributions: Mapping[str, float], concepts: Sequence[dict],
                    max_concepts: int = WATERFALL_CONCEPTS) -> list[dict]:
    """The waterfall's rows: the baseline, the largest concepts by size, "all other factors", and
    the line's probability. Each row has ``start`` and ``end`` on the 0-100 probability scale."""
    by_name = {c["name"]: c for c in concepts}
    ordered = sorted(contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    shown = [(n, v) for n, v in ordered if round(v, 1) != 0][:max_concepts]
    rest = [(n, v) for n, v in ordered if (n, v) not in shown]
    steps = [{"kind": "baseline", "label": "Starting point: the average line in training",
              "four_ps": "", "four_ps_short": "", "points": baseline_percent, "start": 0.0, "end": baseline_percent}]
    running = baseline_percent
    for name, value in shown:
        concept = by_name[name]
        steps.append({"kind": "up" if value > 0 else "down", "label": concept["label"],
                      "four_ps": FOUR_PS_WORDS.get(concept["four_ps"], concept["four_ps"].title()),
                      "four_ps_short": concept["four_ps"].title(), "points": value, "start": running, "end": running + value})
        running += value
    rest_total = float(sum(v for _, v in rest))
    if rest:
        steps.append({"kind": "up" if rest_total > 0 else "down" if rest_total < 0 else "none",
                      "label": f"All other factors ({len(rest)} together)", "four_ps": "Mixed",
                      "four_ps_short": "Mixed",
                      "points": rest_total, "start": running, "end": running + rest_total})
        running += rest_total
    steps.append({"kind": "final", "label": "This line's probability of persisting", "four_ps": "",
                  "four_ps_short": "",
                  "points": running, "start": 0.0, "end": running})
    return steps


# -- chart geometry (the SVG itself is drawn by Jinja macros in templates/charts.j2) ----------------
def _scale(value: float, lo: float, hi: float, px_lo: float, px_hi: float) -> float:
    value = min(max(value, lo), hi)
    return round(px_lo + (value - lo) / (hi - lo) * (px_hi - px_lo), 1)


def waterfall_chart(steps: list[dict], chart_id: str) -> dict:
    """Rows of a horizontal waterfall: label line above each bar, signed value beside it."""
    width, left, right, row_height, top = 640, 8, 560, 40, 8
    rows = []
    for i, step in enumerate(steps):
        x0 = _scale(min(step["start"], step["end"]), 0, 100, left, right)
        x1 = _scale(max(step["start"], step["end"]), 0, 100, left, right)
        if step["kind"] in ("baseline", "final"):
            value_text = f"{step['end']:.0f}%"
        else:
            value_text = f"{signed_points(step['points'])} pts"
        y = top + i * row_height
        label = step["label"] + (f" \u00b7 {step['four_ps_short']}" if step["four_ps_short"] else "")
        # the value sits right of the bar unless that would run off the chart
        anchor, value_x = ("start", x1 + 5) if x1 + 70 < width else ("end", x0 - 5)
        link = None if i == 0 else _scale(steps[i - 1]["end"], 0, 100, left, right)
        rows.append({"label": label, "x": x0, "width": max(round(x1 - x0, 1), 1.0), "y_text": y + 12,
                     "y_bar": y + 17, "bar_height": 16, "kind": step["kind"], "value_text": value_text,
                     "value_x": round(value_x, 1), "value_y": y + 29, "value_anchor": anchor,
                     "link_x": link, "link_y1": None if i == 0 else y + 17 - row_height + 16})
    height = top + len(steps) * row_height + 22
    ticks = [{"x": _scale(t, 0, 100, left, right), "label": f"{t}%"} for t in (0, 25, 50, 75, 100)]
    return {"id": chart_id, "width": width, "height": height, "rows": rows, "ticks": ticks,
            "axis_y": height - 20, "plot_top": top, "left": left, "right": right}


def band_chart(bands: list[dict], chart_id: str) -> dict:
    """Horizontal bars of lines per yardstick band."""
    width, label_width, right, row_height = 640, 230, 590, 30
    biggest = max([b["count"] for b in bands] + [1])
    rows = []
    for i, band_row in enumerate(bands):
        bar = _scale(band_row["count"], 0, biggest, 0, right - label_width)
        rows.append({"label": f"{band_row['band']} ({band_row['range']})", "count": band_row["count"],
                     "y": 6 + i * row_height, "width": bar, "x": label_width,
                     "value_x": label_width + bar + 6})
    return {"id": chart_id, "width": width, "height": 12 + len(bands) * row_height, "rows": rows,
            "label_x": label_width - 8}


def calibration_chart(table: list[dict], chart_id: str) -> dict:
    """Predicted against observed per probability group, with the perfect-calibration diagonal."""
    width, height, left, right, top, bottom = 420, 330, 56, 400, 14, 280
    points = []
    for row in table:
        if row["mean_predicted"] is None or row["observed_rate"] is None:
            continue
        points.append({"x": _scale(row["mean_predicted"] * 100, 0, 100, left, right),
                       "y": _scale(row["observed_rate"] * 100, 0, 100, bottom, top)})
    ticks = [0, 25, 50, 75, 100]
    return {
        "id": chart_id, "width": width, "height": height, "left": left, "right": right, "top": top,
        "bottom": bottom, "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "x_ticks": [{"pos": _scale(t, 0, 100, left, right), "label": f"{t}%"} for t in ticks],
        "y_ticks": [{"pos": _scale(t, 0, 100, bottom, top), "label": f"{t}%"} for t in ticks],
    }


# -- the report's sections ------------------------------------------------------------------------
def _headline(scores: pd.DataFrame, placements: list, contract: DataContract, change: pd.DataFrame,
              has_previous: bool) -> dict:
    band_of = pd.Series([p.band for p in placements], index=scores.index)
    total = len(scores)
    bands = []
    for name in BAND_NAMES:
        count = int((band_of == name).sum())
        share = f"{count / total * 100:.0f}%" if total else "0%"
        bands.append({"band": name, "range": _band_range(name), "count": count, "share": share})
    likely = int(band_of.isin(LIKELY_BANDS).sum())
    chart = band_chart(bands, "chart-bands")
    chart["aria_label"] = (
        f"Bar chart of the {total:,} lines scored by yardstick band: "
        + "; ".join(f"{b['band']} {b['count']:,}" for b in bands) + "."
    )

    splits = []
    slice_columns = list(contract.slices)
    if contract.cohort_column and contract.cohort_column in slice_columns:
        slice_columns.remove(contract.cohort_column)
        slice_columns.insert(0, contract.cohort_column)
    for column in slice_columns:
        if column not in scores.columns:
            continue
        values = scores[column].map(lambda v, c=column: _slice_value_text(contract, c, v))
        rows = []
        for value, group_index in values.groupby(values, sort=True).groups.items():
            group_bands = band_of.loc[group_index]
            rows.append({
                "value": value,
                "count": len(group_index),
                "bands": [int((group_bands == name).sum()) for name in BAND_NAMES],
                "likely": int(group_bands.isin(LIKELY_BANDS).sum()),
            })
        rows.sort(key=lambda r: (-r["count"], r["value"]))
        label = contract.describe(column) if column in contract.column_names else column
        splits.append({"column": column, "label": label, "is_cohort": column == contract.cohort_column,
                       "rows": rows})

    sentences = [f"{_plural(total, 'line')} scored this week."]
    sentences.append(
        f"{likely:,} of them {'is' if likely == 1 else 'are'} likely or more to persist "
        f"(55% or above on the yardstick)."
    )
    cohort = next((s for s in splits if s["is_cohort"]), None)
    if cohort and cohort["rows"]:
        parts = [f"{r['likely']:,} of {r['count']:,} {r['value'].lower()}" for r in cohort["rows"]]
        sentences.append(f"By {cohort['label'].lower()}: " + "; ".join(parts) + " lines are likely or more to persist.")
    counts = change["change"].value_counts()
    change_counts = {k: int(counts.get(k, 0)) for k in ("new", "up", "down", "unchanged")}
    if has_previous:
        sentences.append(
            f"Since last week: {change_counts['new']:,} new, {change_counts['up']:,} up, "
            f"{change_counts['down']:,} down, {change_counts['unchanged']:,} unchanged "
            f"(within \u00b1{UNCHANGED_POINTS} points)."
        )
    return {"lines_scored": total, "likely": likely, "bands": bands, "band_chart": chart,
            "splits": splits, "sentences": sentences, "change_counts": change_counts,
            "band_names": list(BAND_NAMES)}


def _reasons(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    return [text for text in (clean_text(row.get(c)).strip() for c in columns) if text]


def _decisions(decisions: list[dict] | None) -> tuple[list[dict] | None, dict[str, list[dict]]]:
    if decisions is None:
        return None, {}
    rows, by_line = [], {}
    for item in decisions:
        if not isinstance(item, Mapping):
            continue
        row = {k: clean_text(item.get(k)) for k in ("line_id", "decision", "reason", "by")}
        row["at"] = _when(item.get("at"))
        rows.append(row)
        by_line.setdefault(row["line_id"], []).append(row)
    return rows, by_line


def _safeguarding(items: list[dict], lines_scored: int) -> dict:
    rows = []
    for item in items:
        total = _number(item.get("total"))
        lines_with_any = _number(item.get("lines_with_any"))
        rows.append({
            "label": clean_text(item.get("label_text") or item.get("column")),
            "concept": clean_text(item.get("concept_label") or item.get("concept")),
            "four_ps": FOUR_PS_WORDS.get(str(item.get("four_ps")), clean_text(item.get("four_ps")).title()),
            "total": f"{int(total):,}" if total is not None else "not recorded",
            "lines_with_any": f"{int(lines_with_any):,}" if lines_with_any is not None else "not recorded",
            "column": clean_text(item.get("column")),
        })

    def total_of(column: str) -> str | None:
        return next((r["total"] for r in rows if r["column"] == column), None)

    people = [(total_of("exploited_children"), "children"), (total_of("exploited_adults"), "vulnerable adults")]
    summary = [f"{n} exploited {who}" for n, who in people if n is not None]
    referrals = total_of("safeguarding_referrals")
    if referrals is not None:
        summary.append(f"{referrals} safeguarding referrals")
    sentence = ""
    if summary:
        sentence = (f"Across the {_plural(lines_scored, 'line')} scored this week, the extract records "
                    + ", ".join(summary[:-1]) + (" and " if len(summary) > 1 else "") + summary[-1] + ".")
    return {"rows": rows, "sentence": sentence}


def _metric_words(metrics: Mapping[str, Any]) -> dict[str, str]:
    auc = _number(metrics.get("roc_auc"))
    brier = _number(metrics.get("brier"))
    ece = _number(metrics.get("ece"))
    observed = _number(metrics.get("observed_rate"))
    predicted = _number(metrics.get("mean_predicted"))
    rows = _number(metrics.get("rows"))
    words = {
        "ranking": (f"{auc * 100:.0f} times in 100" if auc is not None else "not recorded"),
        "observed": f"{observed * 100:.0f}%" if observed is not None else "not recorded",
        "predicted": f"{predicted * 100:.0f}%" if predicted is not None else "not recorded",
        "calibration_error": f"{ece * 100:.1f} points" if ece is not None else "not recorded",
        "brier": f"{brier:.3f}" if brier is not None else "not recorded",
        "rows": f"{int(rows):,}" if rows is not None else "",
    }
    if brier is not None and observed is not None:
        words["brier_reference"] = f"{observed * (1 - observed):.3f}"
    return words


def _trust(manifest: Mapping[str, Any], drift: Mapping[str, Any], contract: DataContract) -> dict:
    model = manifest.get("model") or {}
    training = model.get("training") or {}
    metrics = model.get("test_metrics") or {}
    overall = _metric_words(metrics)
    sentences = []
    if _number(metrics.get("roc_auc")) is not None:
        sentences.append(
            f"Ranking: shown one line that persisted and one that closed, the model ranks the persisting "
            f"line higher {overall['ranking']} (a coin toss would manage 50 in 100). Statisticians call "
            f"this the ROC AUC ({_number(metrics['roc_auc']):.2f})."
        )
    if overall["observed"] != "not recorded" and overall["predicted"] != "not recorded":
        sentences.append(
            f"Overall level: {overall['observed']} of the test lines persisted; the model's average "
            f"prediction was {overall['predicted']}."
        )
    if overall["calibration_error"] != "not recorded":
        sentences.append(
            f"Calibration: on average its stated probabilities were {overall['calibration_error']} away "
            f"from the share of lines that actually persisted (the expected calibration error). "
            f"When it says 70%, expect roughly 70 in 100 such lines to persist, give or take that much."
        )
    if overall["brier"] != "not recorded":
        reference = overall.get("brier_reference")
        extra = (f"; always guessing the overall rate would score {reference}" if reference else "")
        sentences.append(
            f"Accuracy of the probabilities (Brier score): {overall['brier']}, the average squared gap "
            f"between the stated probability and what happened, where 0 is perfect{extra}."
        )

    cohorts = []
    for name, cohort_metrics in (model.get("test_metrics_by_cohort") or {}).items():
        value = _slice_value_text(contract, contract.cohort_column, name) if contract.cohort_column else clean_text(name)
        cohorts.append({"name": value, **_metric_words(cohort_metrics or {})})

    table = []
    raw_table = list(model.get("calibration_table") or [])
    n_bins = max([int(_number(r.get("bin")) or 0) for r in raw_table] + [9]) + 1
    for row in raw_table:
        b = int(_number(row.get("bin")) or 0)
        predicted, observed = _number(row.get("mean_predicted")), _number(row.get("observed_rate"))
        table.append({
            "range": f"{b * 100 / n_bins:.0f}\u2013{(b + 1) * 100 / n_bins:.0f}%",
            "rows": f"{int(_number(row.get('rows')) or 0):,}",
            "mean_predicted": predicted, "observed_rate": observed,
            "predicted_text": _percent(predicted), "observed_text": _percent(observed),
            "gap_text": (points_text((predicted - observed) * 100)
                         if predicted is not None and observed is not None else "not recorded"),
        })
    chart = calibration_chart(table, "chart-calibration") if table else None
    if chart:
        chart["aria_label"] = (
            f"Calibration chart for the test period, {len(table)} groups of lines by predicted probability. "
            "Predicted against observed: "
            + "; ".join(f"{r['predicted_text']} predicted, {r['observed_text']} persisted" for r in table)
            + ". Points on the diagonal would be perfectly calibrated."
        )

    alerts = []
    for alert in (drift.get("alerts") or []):
        if not isinstance(alert, Mapping):
            continue
        value, threshold = _number(alert.get("value")), _number(alert.get("threshold"))
        measure = (f"measured {value:.2f} against a warning level of {threshold:.2f}"
                   if value is not None and threshold is not None else "")
        alerts.append({
            "kind": DRIFT_KIND_WORDS.get(str(alert.get("kind")), "Change in the data"),
            "label": clean_text(alert.get("label_text") or alert.get("name")),
            "message": clean_text(alert.get("message")),
            "measure": measure,
        })

    fairness = None
    if model.get("fairness"):
        fairness = []
        for row in model["fairness"]:
            slice_column = str(row.get("slice", ""))
            slice_label = (contract.describe(slice_column) if slice_column in contract.column_names
                           else clean_text(slice_column))
            flag = str(row.get("flag", "ok"))
            suppressed = bool(row.get("suppressed")) or flag == "suppressed"
            gap, low, high = (_number(row.get(k)) for k in ("calibration_gap", "calibration_gap_low", "calibration_gap_high"))
            if suppressed:
                words, symbol = "too few test lines to judge", "\u2013"
            elif flag == "over-predicts":
                words, symbol = "over-predicts: says lines will persist more often than they did", "\u26a0"
            elif flag == "under-predicts":
                words, symbol = "under-predicts: says lines will persist less often than they did", "\u26a0"
            else:
                words, symbol = "no clear gap", "\u2713"
            interval = (f"{signed_points(low * 100, 0)} to {signed_points(high * 100, 0)}"
                        if low is not None and high is not None else "")
            fairness.append({
                "slice": slice_label,
                "value": _slice_value_text(contract, slice_column, row.get("value")) if slice_column in contract.column_names else clean_text(row.get("value")),
                "rows": f"{int(_number(row.get('rows')) or 0):,}",
                "observed": "" if suppressed else _percent(row.get("observed_rate")),
                "predicted": "" if suppressed else _percent(row.get("mean_predicted")),
                "gap": "" if suppressed or gap is None else points_text(gap * 100),
                "interval": "" if suppressed else interval,
                "flag": flag, "flagged": flag in ("over-predicts", "under-predicts"),
                "words": words, "symbol": symbol,
            })

    input_info = manifest.get("input") or {}
    return {
        "model_name": clean_text(model.get("name") or "not recorded"),
        "model_version": clean_text(model.get("version") or "not recorded"),
        "run_id": clean_text(model.get("run_id") or ""),
        "family": FAMILY_WORDS.get(str(model.get("family", "")).lower(), clean_text(model.get("family") or "not recorded")),
        "train_start": clean_text(training.get("train_start") or "not recorded"),
        "train_end": clean_text(training.get("train_end") or "not recorded"),
        "test_start": clean_text(training.get("test_start") or "not recorded"),
        "test_end": clean_text(training.get("test_end") or "not recorded"),
        "train_rows": f"{int(training['train_rows']):,}" if _number(training.get("train_rows")) is not None else "not recorded",
        "test_rows": f"{int(training['test_rows']):,}" if _number(training.get("test_rows")) is not None else "not recorded",
        "overall": overall, "sentences": sentences, "cohorts": cohorts,
        "calibration_table": table, "calibration_chart": chart,
        "alerts": alerts, "fairness": fairness,
        "fairness_flagged": [f for f in (fairness or []) if f["flagged"]],
        "warnings": [clean_text(w) for w in (manifest.get("warnings") or [])],
        "input_rows": f"{int(input_info['rows']):,}" if _number(input_info.get("rows")) is not None else "not recorded",
        "input_sha256": clean_text(input_info.get("sha256") or ""),
        "input_path": clean_text(input_info.get("path") or ""),
        "toolkit_version": clean_text(manifest.get("toolkit_version") or "not recorded"),
        "created": clean_text(manifest.get("created") or ""),
    }


def report_context(week: WeekInputs, previous_scores: pd.DataFrame | None = None,
                   marking: str = DEFAULT_MARKING, max_detail_lines: int = 25,
                   previous_week: str | None = None) -> dict[str, Any]:
    """Everything the template shows, as plain words, numbers and chart geometry.

    Pure: the same inputs give the same dict. ``previous_scores`` is last week's ``scores.parquet``
    (or None: every line is then "new"); ``previous_week`` only names it in the text.
    """
    contract = week.contract
    scores = week.scores.sort_values("rank", kind="stable").reset_index(drop=True)
    probability = pd.to_numeric(scores["persistence_probability"], errors="coerce")
    bad = scores.index[probability.isna() | (probability < 0) | (probability > 1)]
    if len(bad):
        shown = ", ".join(f"rank {scores.at[i, 'rank']} ({scores.at[i, 'persistence_probability']!r})" for i in bad[:5])
        raise ReportError(f"scores: persistence_probability must be a number from 0 to 1; {len(bad)} row(s) are not: {shown}")
    placements = [place(p) for p in probability]
    has_previous = previous_scores is not None
    change = change_since_last_week(scores, previous_scores)
    decisions, decisions_by_line = _decisions(week.decisions)
    slice_columns = [c for c in contract.slices if c in scores.columns]
    max_detail_lines = max(int(max_detail_lines), 0)

    records = scores.to_dict("records")
    ranked = []
    for i, (row, placement) in enumerate(zip(records, placements)):
        line_id = clean_text(row.get("line_id"))
        ranked.append({
            "rank": int(row["rank"]),
            "line_id": line_id,
            "disruption_id": clean_text(row.get("disruption_id")),
            "slices": " \u00b7 ".join(_slice_value_text(contract, c, row.get(c)) for c in slice_columns),
            "words": placement.words,
            "band": placement.band,
            "percent": placement.percent,
            "reasons_for": _reasons(row, REASON_COLUMNS_FOR),
            "reasons_against": _reasons(row, REASON_COLUMNS_AGAINST),
            "change": _change_words(change.at[i, "change"], change.at[i, "change_points"],
                                    change.at[i, "previous_percent"]),
            "decisions": decisions_by_line.get(line_id, []),
            "anchor": f"detail-{i + 1}" if i < max_detail_lines else None,
            "summary": clean_text(row.get("summary")),
            "date": _day(row.get("disruption_date")),
        })

    by_concept, concepts = concept_contributions(week.explanations, contract)
    baselines = (week.explanations.set_index(week.explanations["disruption_id"].astype(str))["baseline_probability"]
                 if "baseline_probability" in week.explanations.columns else pd.Series(dtype=float))
    detail = []
    for i, line in enumerate(ranked[:max_detail_lines]):
        disruption = str(scores.at[i, "disruption_id"])
        item = {**line, "number": i + 1, "steps": None, "chart": None}
        if disruption in by_concept.index and disruption in baselines.index:
            contributions = by_concept.loc[disruption]
            if isinstance(contributions, pd.DataFrame):  # a duplicated disruption id: use its first row
                contributions = contributions.iloc[0]
            baseline = baselines.loc[disruption]
            baseline = float(baseline.iloc[0] if isinstance(baseline, pd.Series) else baseline) * 100
            steps = waterfall_steps(baseline, contributions.to_dict(), concepts)
            for step in steps:
                step["points_text"] = (f"{step['end']:.0f}%" if step["kind"] in ("baseline", "final")
                                       else points_text(step["points"], 1))
                step["running_text"] = f"{step['end']:.1f}%"
            chart = waterfall_chart(steps, f"waterfall-{i + 1}")
            chart["aria_label"] = (
                f"Waterfall chart for line {line['line_id']}: starts at {steps[0]['end']:.0f}% for the "
                "average line, then "
                + "; ".join(f"{s['label']} {s['points_text']}" for s in steps[1:-1])
                + f"; ends at {steps[-1]['end']:.0f}%, this line's probability of persisting."
            )
            item["steps"], item["chart"] = steps, chart
        detail.append(item)

    manifest = week.manifest
    headline = _headline(scores, placements, contract, change, has_previous)
    week_name = clean_text(manifest.get("week") or "")
    return {
        "marking": clean_text(marking),
        "marking_css": css_string(marking),
        "title": "Which disrupted lines are likely to persist" + (f" \u2014 week {week_name}" if week_name else ""),
        "week": week_name,
        "created": _when(manifest.get("created")),
        "horizon_weeks": contract.horizon_weeks,
        "headline": headline,
        "ranked": ranked,
        "detail": detail,
        "detail_count": len(detail),
        "max_detail_lines": max_detail_lines,
        "has_previous": has_previous,
        "previous_week": clean_text(previous_week) if previous_week else None,
        "unchanged_points": UNCHANGED_POINTS,
        "safeguarding": _safeguarding(week.safeguarding, len(scores)),
        "trust": _trust(manifest, week.drift, contract),
        "decisions": decisions,
        "bands_explained": [{"band": n, "range": _band_range(n)} for n in BAND_NAMES],
    }


# -- rendering ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("resilience.report", "templates"),
        autoescape=True,              # every {{ value }} is HTML-escaped, SVG text included
        undefined=StrictUndefined,    # a misspelt key fails loudly instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{int(n):,}"
    return env


def _stylesheet() -> Markup:
    # Our own static file, not data: safe to insert unescaped. Guard against it ever closing <style>.
    css = resources.files("resilience.report").joinpath("static", "report.css").read_text(encoding="utf-8")
    if "</" in css:
        raise ReportError("report.css may not contain '</'")
    return Markup(css)


def render_html(context: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML document (inline CSS and SVG, no scripts)."""
    return _environment().get_template("report.html.j2").render(**context, stylesheet=_stylesheet())


def _weasyprint():
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango/Cairo libraries are missing
        raise PdfRendererUnavailable(
            "cannot make the PDF report: WeasyPrint is not usable here "
            f"({exc}). Install it with `pip install weasyprint` (it needs the Pango library, "
            "Debian package libpango-1.0-0)."
        ) from exc
    return weasyprint


def render_pdf(html: str, target: Path) -> Path:
    """Render the report HTML to PDF with WeasyPrint, fetching nothing from outside the document."""
    weasyprint = _weasyprint()
    try:
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(allowed_protocols={"data"})
    except (ImportError, TypeError):  # older WeasyPrint: a plain function fetcher
        from weasyprint import default_url_fetcher

        def fetcher(url, *args, **kwargs):
            if not url.startswith("data:"):
                raise ValueError(f"the report may not load {url!r}")
            return default_url_fetcher(url, *args, **kwargs)

    with atomic_path(target) as tmp:
        weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf(tmp)
    return Path(target)


def build_report(week_dir: Path, previous_dir: Path | None, marking: str = DEFAULT_MARKING,
                 max_detail_lines: int = 25) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.pdf`` into ``week_dir`` atomically; return their paths.

    ``previous_dir`` is last week's folder (None, or a folder without scores: every line is "new").
    Raises :class:`PdfRendererUnavailable` before writing anything if WeasyPrint cannot run, so a
    rerun never leaves a new HTML beside an old PDF.
    """
    week_dir = Path(week_dir)
    _weasyprint()
    week = load_week(week_dir)
    previous_scores, previous_week = None, None
    if previous_dir is not None and (Path(previous_dir) / "scores.parquet").is_file():
        previous_scores = read_scores(Path(previous_dir) / "scores.parquet")
        previous_week = Path(previous_dir).name
    context = report_context(week, previous_scores, marking=marking, max_detail_lines=max_detail_lines,
                             previous_week=previous_week)
    html = render_html(context)
    pdf_path = render_pdf(html, week_dir / "report.pdf")
    html_path = write_text_atomic(week_dir / "report.html", html)
    return html_path, pdf_path
