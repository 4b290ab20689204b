"""The review as one self-contained HTML page (Jinja2, autoescaped, inline CSS and SVG, no
scripts): the findings in words, a forest plot and data table per cohort, overlap, sensitivity,
the assumptions, the group context and the method."""

from __future__ import annotations

import functools
import math

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from resilience.tactics.charts import forest, overlap_bars
from resilience.tactics.words import ASSUMPTIONS, STANDING, finding, signed

COHORT_TITLES = {"all": "All lines"}


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("resilience.tactics", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["signed"] = signed
    env.filters["number"] = lambda v, d=2: (
        "—" if v is None or not math.isfinite(v) else f"{v:.{d}f}"
    )
    return env


def _plain(value):
    """NaN and numpy scalars as the template expects them (None and Python numbers)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def cohort_sections(rows: pd.DataFrame, cohort_labels: dict[str, str]) -> list[dict]:
    """Per cohort: a title, the forest plot, the rows and their sentences."""
    sections = []
    for cohort, part in rows.groupby("cohort", sort=False):
        records = _records(part)
        for record in records:
            record["finding"] = finding(record)
        title = COHORT_TITLES.get(cohort) or cohort_labels.get(cohort, cohort)
        sections.append(
            {
                "cohort": cohort,
                "title": title,
                "chart": forest(records, f"forest-{cohort}"),
                "rows": records,
            }
        )
    return sections


def overlap_sections(overlap: pd.DataFrame, rows: pd.DataFrame, trim: float) -> list[dict]:
    """Per tactic (every line): the propensity bars, and how many were trimmed."""
    trimmed = rows[rows["cohort"] == "all"].set_index("tactic")
    out = []
    for record in _records(overlap[overlap["cohort"] == "all"]):
        row = trimmed.loc[record["tactic"]]
        out.append(
            {
                "label": row["label"],
                "bars": overlap_bars(record, trim),
                "trimmed": _plain(row.get("trimmed")),
                "kept": _plain(row.get("n_treated", 0)) + _plain(row.get("n_compared", 0))
                if not row.get("note")
                else None,
            }
        )
    return out


def render_review(summary: dict, rows: pd.DataFrame, overlap: pd.DataFrame) -> str:
    """The HTML page of a review (``summary``: what :func:`review_summary` returns)."""
    template = _environment().get_template("review.html.j2")
    return template.render(
        summary=summary,
        cohorts=cohort_sections(rows, summary["cohort_labels"]),
        overlap=overlap_sections(overlap, rows, summary["settings"]["trim"]),
        assumptions=ASSUMPTIONS,
        standing=STANDING,
    )
