"""Chart geometry as plain numbers (the SVG is drawn by the template, every text autoescaped):
the forest plot of estimates with their intervals and naive comparisons, and the overlap bars."""

from __future__ import annotations

import math

from resilience.tactics.words import signed

WIDTH, LEFT, RIGHT, ROW = 940, 390, 920, 26


def _scale(value: float, lo: float, hi: float) -> float:
    value = min(max(value, lo), hi)
    return round(LEFT + (value - lo) / (hi - lo) * (RIGHT - LEFT), 1)


def _span(rows: list[dict]) -> tuple[float, float]:
    values = [
        v
        for r in rows
        for v in (r.get("ci_low_points"), r.get("ci_high_points"), r.get("naive_points"))
    ]
    finite = [v for v in values if v is not None and math.isfinite(v)] or [0.0]
    lo, hi = min(min(finite), 0.0), max(max(finite), 0.0)
    step = 10.0
    return math.floor(lo / step) * step, math.ceil(hi / step) * step if hi > lo else lo + step


def forest(rows: list[dict], chart_id: str) -> dict:
    """One row per tactic: the estimate, its interval, the naive difference, and a fragile mark."""
    lo, hi = _span(rows)
    drawn = []
    for i, row in enumerate(rows):
        y = 30 + i * ROW
        estimated = not row.get("note")
        drawn.append(
            {
                "label": row["label"],
                "y": y,
                "estimated": estimated,
                "x": _scale(row["estimate_points"], lo, hi) if estimated else None,
                "x_low": _scale(row["ci_low_points"], lo, hi) if estimated else None,
                "x_high": _scale(row["ci_high_points"], lo, hi) if estimated else None,
                "x_naive": _scale(row["naive_points"], lo, hi) if estimated else None,
                "fragile": bool(row.get("fragile")) and estimated,
                "text": signed(row["estimate_points"]) if estimated else "not estimated",
            }
        )
    ticks = [
        {"x": _scale(t, lo, hi), "label": signed(t, 0)} for t in range(int(lo), int(hi) + 1, 10)
    ]
    return {
        "id": chart_id,
        "width": WIDTH,
        "height": 30 + len(rows) * ROW + 30,
        "rows": drawn,
        "ticks": ticks,
        "zero": _scale(0.0, lo, hi),
        "axis_y": 30 + len(rows) * ROW + 4,
        "left": LEFT,
        "right": RIGHT,
    }


def overlap_bars(histogram: dict, trim: float) -> dict:
    """Propensity histograms of disruptions given and not given a tactic (mirrored bars)."""
    width, height, half = 300, 120, 55
    given, not_given = histogram["given"], histogram["not_given"]
    peak = max(max(given), max(not_given), 1)
    bar = width / len(given)
    bars = [
        {
            "x": round(i * bar, 1),
            "width": round(bar - 1, 1),
            "up": round(half * g / peak, 1),
            "down": round(half * n / peak, 1),
        }
        for i, (g, n) in enumerate(zip(given, not_given))
    ]
    return {
        "width": width,
        "height": height,
        "mid": half + 5,
        "bars": bars,
        "trim_low": round(width * trim, 1),
        "trim_high": round(width * (1 - trim), 1),
    }
