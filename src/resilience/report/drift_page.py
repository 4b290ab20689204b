"""The drift page: each model feature's distribution this week against the reference the model
was checked on, with the test, the effect size and the verdict (for analysts; the briefing's trust
section links to it). It reads only the week's ``drift.json`` (:mod:`resilience.weekly.drift`
computes every number) and draws with inline SVG, so the page is one offline file.

Verdicts: **shift** (an alert: large and significant after the Holm correction over every test of
the week), **watch** (a stability index above the warning level, not an alert), **information**
(an age or history field, which shifts as lines age: never an alert) and **stable**.
"""

from __future__ import annotations

import math
from pathlib import Path

from jinja2 import Environment, PackageLoader

from resilience.core.week_files import CONTRACT, DRIFT, DRIFT_HTML, MANIFEST
from resilience.data.contract import DataContract
from resilience.data.io import read_json, write_text_atomic
from resilience.report.words import slice_value_text

BAR_WIDTH, BAR_HEIGHT = 260, 12


def verdict(name: str, numbers: dict, alerts: list[dict], warning: float) -> str:
    """The feature's verdict (see the module docstring)."""
    if numbers.get("ageing"):
        return "information"
    if any(a.get("kind") in ("feature", "missing") and a.get("name") == name for a in alerts):
        return "shift"
    return "watch" if numbers.get("psi", 0) > warning else "stable"


def _bars(labels: list[str], reference: list[float], week: list[float]) -> list[dict]:
    top = max([*reference, *week, 1e-9])
    return [
        {
            "label": label,
            "reference": round(BAR_WIDTH * r / top, 1),
            "week": round(BAR_WIDTH * w / top, 1),
            "reference_text": f"{r:.1%}",
            "week_text": f"{w:.1%}",
        }
        for label, r, w in zip(labels, reference, week)
    ]


def _p_text(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def feature_rows(drift: dict, contract: DataContract | None = None) -> list[dict]:
    """One row per feature, largest effect first; with the week's ``contract``, a declared
    category reads as the briefing and the annex print it ("home_grown" -> "Home grown")."""
    thresholds, alerts = drift.get("thresholds", {}), drift.get("alerts", [])
    rows = []
    for name, numbers in (drift.get("features") or {}).items():
        shares, reference = numbers.get("shares"), numbers.get("reference_shares")
        bins = [
            slice_value_text(contract, name, b) if contract else b for b in numbers.get("bins", [])
        ]
        rows.append(
            {
                "name": name,
                "label": numbers.get("label", name),
                "psi": numbers.get("psi", float("nan")),
                "p_text": _p_text(numbers.get("p_value")),
                "significant": bool(numbers.get("significant")),
                "missing_text": f"{numbers.get('missing_rate', 0):.1%} "
                f"(reference {numbers.get('reference_missing_rate', 0):.1%})",
                "verdict": verdict(name, numbers, alerts, thresholds.get("psi_warning", 0.1)),
                "bars": _bars(bins, reference, shares) if shares and reference else [],
            }
        )
    return sorted(rows, key=lambda r: -(r["psi"] if math.isfinite(r["psi"]) else 0))


def write_drift_page(folder: Path) -> Path | None:
    """``drift.html`` beside a week's ``drift.json`` (None when the week has no drift report)."""
    source = folder / DRIFT
    if not source.is_file():
        return None
    manifest = (
        folder / MANIFEST
    )  # a week being built lives in a temporary folder: its manifest names it
    week = read_json(manifest).get("week", folder.name) if manifest.is_file() else folder.name
    contract = (
        DataContract.from_dict(read_json(folder / CONTRACT))
        if (folder / CONTRACT).is_file()
        else None
    )
    return write_text_atomic(
        folder / DRIFT_HTML, render_drift_page(read_json(source), week, contract)
    )


def render_drift_page(drift: dict, week: str, contract: DataContract | None = None) -> str:
    """``drift.html`` of a scored week, from its ``drift.json`` (and its ``contract.json``, for
    the words of declared categories)."""
    environment = Environment(
        loader=PackageLoader("resilience.report", "templates"), autoescape=True
    )
    return environment.get_template("drift.html.j2").render(
        week=week,
        drift=drift,
        rows=feature_rows(drift, contract),
        thresholds=drift.get("thresholds", {}),
        bar_width=BAR_WIDTH,
        bar_height=BAR_HEIGHT,
    )
