"""Chart geometry as plain numbers; the SVG itself is drawn by Jinja macros in templates/charts.j2
(so every text node is autoescaped). Each chart has a data table beside it in the page."""

from __future__ import annotations

from resilience.report.words import signed_points


def _scale(value: float, lo: float, hi: float, px_lo: float, px_hi: float) -> float:
    value = min(max(value, lo), hi)
    return round(px_lo + (value - lo) / (hi - lo) * (px_hi - px_lo), 1)


def _frame(chart_id: str, box: tuple[float, float, float, float, float, float]) -> dict:
    """A chart's id and its box: width, height and the plot area's left, right, top and bottom."""
    return dict(zip(("id", "width", "height", "left", "right", "top", "bottom"), (chart_id, *box)))


def waterfall_chart(steps: list[dict], chart_id: str) -> dict:
    """Rows of a horizontal waterfall: label line above each bar, signed value beside it."""
    width, left, right, row_height, top = 640, 8, 560, 36, 8
    rows = []
    for i, step in enumerate(steps):
        x0 = _scale(min(step["start"], step["end"]), 0, 100, left, right)
        x1 = _scale(max(step["start"], step["end"]), 0, 100, left, right)
        if step["kind"] in ("baseline", "final"):
            value_text = f"{step['end']:.0f}%"
        else:
            value_text = f"{signed_points(step['points'])} pts"
        y = top + i * row_height
        label = step["label"] + (
            f" \u00b7 {step['four_ps_short']}" if step["four_ps_short"] else ""
        )
        # the value sits right of the bar unless that would run off the chart
        anchor, value_x = ("start", x1 + 5) if x1 + 70 < width else ("end", x0 - 5)
        link = None if i == 0 else _scale(steps[i - 1]["end"], 0, 100, left, right)
        rows.append(
            {
                "label": label,
                "x": x0,
                "width": max(round(x1 - x0, 1), 1.0),
                "y_text": y + 12,
                "y_bar": y + 17,
                "bar_height": 16,
                "kind": step["kind"],
                "value_text": value_text,
                "value_x": round(value_x, 1),
                "value_y": y + 29,
                "value_anchor": anchor,
                "link_x": link,
                "link_y1": None if i == 0 else y + 17 - row_height + 16,
            }
        )
    height = top + len(steps) * row_height + 22
    ticks = [{"x": _scale(t, 0, 100, left, right), "label": f"{t}%"} for t in (0, 25, 50, 75, 100)]
    return {
        "id": chart_id,
        "width": width,
        "height": height,
        "rows": rows,
        "ticks": ticks,
        "axis_y": height - 20,
        "plot_top": top,
        "left": left,
        "right": right,
    }


def band_chart(bands: list[dict], chart_id: str) -> dict:
    """Horizontal bars of lines per yardstick band."""
    rows = [
        {
            "label": f"{b['band']} ({b['range']})",
            "value": b["count"],
            "value_text": f"{b['count']:,}",
        }
        for b in bands
    ]
    return value_bars(rows, chart_id, label_width=230, right=590, row_height=30)


def calibration_chart(table: list[dict], chart_id: str) -> dict:
    """Predicted against observed per probability group, with the perfect-calibration diagonal."""
    box = width, height, left, right, top, bottom = 420, 330, 56, 400, 14, 280
    points = []
    for row in table:
        if row["mean_predicted"] is None or row["observed_rate"] is None:
            continue
        points.append(
            {
                "x": _scale(row["mean_predicted"] * 100, 0, 100, left, right),
                "y": _scale(row["observed_rate"] * 100, 0, 100, bottom, top),
            }
        )
    ticks = [0, 25, 50, 75, 100]
    return {
        **_frame(chart_id, box),
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "x_ticks": [{"pos": _scale(t, 0, 100, left, right), "label": f"{t}%"} for t in ticks],
        "y_ticks": [{"pos": _scale(t, 0, 100, bottom, top), "label": f"{t}%"} for t in ticks],
    }


def matrix_chart(
    cells: list[dict], likelihood_labels: list[str], harm_labels: list[str], chart_id: str
) -> dict:
    """A likelihood x harm grid: one square per cell, its count printed inside, darker with more
    lines. ``cells`` have ``x`` (likelihood column), ``y`` (harm row, 0 = lowest) and ``count``."""
    left, top, cell_w, cell_h = 150, 10, 64, 44
    n_x, n_y = len(likelihood_labels), len(harm_labels)
    biggest = max([c["count"] for c in cells] + [1])
    squares = []
    for cell in cells:
        share = cell["count"] / biggest
        fill = (
            "#ffffff"
            if cell["count"] == 0
            else ("#cfe3f2" if share < 0.34 else "#6aaed6" if share < 0.67 else "#08519c")
        )
        squares.append(
            {
                "x": left + cell["x"] * cell_w,
                "y": top + (n_y - 1 - cell["y"]) * cell_h,
                "w": cell_w,
                "h": cell_h,
                "fill": fill,
                "count": cell["count"],
                "ink": "#ffffff" if fill == "#08519c" else "#1a1a1a",
                "urgent": cell.get("urgent", False),
            }
        )
    x_labels = [
        {"x": left + i * cell_w + cell_w / 2, "label": label}
        for i, label in enumerate(likelihood_labels)
    ]
    y_labels = [
        {"y": top + (n_y - 1 - i) * cell_h + cell_h / 2 + 5, "label": label}
        for i, label in enumerate(harm_labels)
    ]
    width = left + n_x * cell_w + 10
    return {
        "id": chart_id,
        "width": width,
        "height": top + n_y * cell_h + 70,
        "squares": squares,
        "x_labels": x_labels,
        "y_labels": y_labels,
        "label_x": left - 8,
        "axis_y": top + n_y * cell_h,
        "left": left,
        "right": left + n_x * cell_w,
        "top": top,
        "cell_w": cell_w,
    }


# The widest a character of a chart's 11-unit DejaVu Sans text runs (digits 7.0, most letters
# less; "m" and "W" more, rare in labels): room for a label of n characters is n times this.
LABEL_CHAR_WIDTH = 7.0
TREND_STYLES = (  # dash pattern and marker per series: meaning never rests on colour alone
    {"stroke": "#0072B2", "dash": "", "marker": "circle"},
    {"stroke": "#D55E00", "dash": "6 3", "marker": "square"},
    {"stroke": "#009E73", "dash": "2 3", "marker": "diamond"},
    {"stroke": "#1a1a1a", "dash": "8 3 2 3", "marker": "circle"},
)


def trend_chart(weeks: list[str], series: list[tuple[str, list]], chart_id: str) -> dict:
    """A small line chart of counts by week: one polyline per series (a gap where a value is None),
    a marker on every point, the series' name and last value at its end, the first and last week
    on the axis. The numbers are in the data table beside it."""
    box = width, height, left, right, top, bottom = 360, 170, 44, 250, 12, 140
    values = [v for _, vs in series for v in vs if v is not None]
    high = max(values + [1.0]) * 1.1
    x = [
        _scale(i, 0, max(len(weeks) - 1, 1), left, right) if len(weeks) > 1 else (left + right) / 2
        for i in range(len(weeks))
    ]
    lines = []
    for n, (label, vs) in enumerate(series):
        style = TREND_STYLES[n % len(TREND_STYLES)]
        points = [
            (x[i], _scale(v, 0, high, bottom, top)) for i, v in enumerate(vs) if v is not None
        ]
        last = next((v for v in reversed(vs) if v is not None), None)
        lines.append(
            {
                **style,
                "points": [{"x": px, "y": py} for px, py in points],
                "polyline": " ".join(f"{px},{py}" for px, py in points),
                "label": f"{label}: {last:,.0f}" if last is not None else f"{label}: none",
                "label_y": points[-1][1] + 4 if points else bottom,
            }
        )
    _spread_labels(lines, top + 4, bottom)
    # the end labels ("Likely or more: 2,124") sit right of the plot: the box is widened to hold
    # the longest, else the SVG's edge cuts it ("Likely or more: 2,1")
    longest = max((len(line["label"]) for line in lines), default=0)
    box = (max(width, round(right + 8 + longest * LABEL_CHAR_WIDTH + 4)), *box[1:])
    return {
        **_frame(chart_id, box),
        "lines": lines,
        "y_ticks": [
            {"pos": _scale(t, 0, high, bottom, top), "label": f"{t:,.0f}"} for t in (0, high / 2.2)
        ],
        "x_labels": [{"x": x[0], "label": weeks[0]}, {"x": x[-1], "label": weeks[-1]}]
        if len(weeks) > 1
        else [{"x": x[0], "label": weeks[0]}],
    }


def _spread_labels(lines: list[dict], top: float, bottom: float, gap: float = 13.0) -> None:
    """Move the end labels apart vertically so none overlaps another."""
    order = sorted(range(len(lines)), key=lambda i: lines[i]["label_y"])
    previous = top - gap
    for i in order:
        lines[i]["label_y"] = round(max(lines[i]["label_y"], previous + gap), 1)
        previous = lines[i]["label_y"]
    overflow = previous - (bottom + 4)
    if overflow > 0:
        for i in order:
            lines[i]["label_y"] = round(lines[i]["label_y"] - overflow, 1)


def value_bars(
    rows: list[dict],
    chart_id: str,
    label_width: int = 200,
    right: int = 560,
    row_height: int = 26,
) -> dict:
    """Horizontal bars of one value per labelled row (``label``, ``value``, ``value_text``)."""
    width = 640
    biggest = max([r["value"] for r in rows] + [1e-9])
    bars = []
    for i, row in enumerate(rows):
        bar = _scale(row["value"], 0, biggest, 0, right - label_width)
        bars.append(
            {
                "label": row["label"],
                "value": row["value"],
                "value_text": row["value_text"],
                "y": 6 + i * row_height,
                "width": bar,
                "x": label_width,
                "value_x": label_width + bar + 6,
            }
        )
    return {
        "id": chart_id,
        "width": width,
        "height": 12 + len(rows) * row_height,
        "rows": bars,
        "label_x": label_width - 8,
    }
