"""The leaderboard's page: one offline HTML table of recipes trained on one split
(:mod:`resilience.pipelines.compare` builds the table; this module only shows it)."""

from __future__ import annotations

import math

from jinja2 import Environment, PackageLoader

COLUMNS = (  # (column, heading, format, higher is better)
    ("roc_auc", "ROC AUC", "{:.3f}", True),
    ("pr_auc", "PR AUC", "{:.3f}", True),
    ("calibration_error", "Calibration error", "{:.3f}", False),
    ("brier", "Brier", "{:.3f}", False),
    ("precision_at_k", "Precision at capacity", "{:.2f}", True),
    ("churn_band_changed_share", "Lines changing band vs champion", "{:.0%}", None),
    ("churn_median_move_points", "Median move vs champion (points)", "{:.1f}", None),
    ("training_seconds", "Training time (s)", "{:.1f}", None),
)
DIFFERENCE_COLUMNS = (("roc_auc", "ROC AUC"), ("brier", "Brier"), ("ece", "Calibration error"))


def _shown(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return pattern.format(value)


def render_leaderboard(board) -> str:
    """The page for a :class:`~resilience.pipelines.compare.Leaderboard`."""
    k = board.capacity_k
    rows = []
    for record in board.table.to_dict("records"):
        record["precision_at_k"] = record.get(f"precision_at_{k}")
        cells = [_shown(record.get(column), pattern) for column, _, pattern, _ in COLUMNS]
        differences = [
            (
                _shown(record.get(f"{metric}_vs_reference"), "{:+.3f}"),
                _shown(record.get(f"{metric}_vs_reference_lower"), "{:+.3f}"),
            )
            for metric, _ in DIFFERENCE_COLUMNS
        ]
        rows.append(
            {
                "recipe": record["recipe"],
                "family": record["family"],
                "cells": cells,
                "differences": differences,
                "reference": record["recipe"] == board.reference,
            }
        )
    environment = Environment(
        loader=PackageLoader("resilience.report", "templates"), autoescape=True
    )
    return environment.get_template("leaderboard.html.j2").render(
        board=board,
        headings=[heading for _, heading, _, _ in COLUMNS],
        difference_headings=[heading for _, heading in DIFFERENCE_COLUMNS],
        rows=rows,
        k=k,
    )
