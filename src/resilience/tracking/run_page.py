"""How a training run reads on MLflow's run page: its name (recipe, data config, the week of the
last label), headline metrics first under ``headline/`` and per-slice ones grouped under
``slice/`` (with the older flat names kept for runs compared across versions)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from resilience.core.weeks import iso_week
from resilience.data.contract import DataContract

SLICE_METRICS = {
    "roc_auc": "auc",
    "brier": "brier",
    "calibration_gap": "calibration_gap",
    "calibration_slope": "calibration_slope",
}
HEADLINE = ("roc_auc", "pr_auc", "brier", "ece", "log_loss", "oracle_roc_auc")
HEADLINE_PREFIXES = ("precision_at_", "recall_at_")


def _slice_metrics(row: dict) -> dict[str, float]:
    """A fairness row's finite metrics, by their short MLflow names."""
    return {
        short: float(row[column])
        for column, short in SLICE_METRICS.items()
        if row.get(column) is not None and np.isfinite(float(row[column]))
    }


def _metric_key_part(value, allowed: str) -> str:
    """A group's value as part of an MLflow metric name: other characters become ``_``; where
    ``/`` is allowed, the name still reads as one path (MLflow refuses ``//``, a ``.`` or ``..``
    part and a trailing ``/``), so each part is kept and the empty or dotted ones become ``_``."""
    text = re.sub(f"[^{allowed}]", "_", str(value))[:100]
    if "/" not in text:
        return text
    return "/".join(part if part.strip(".") else "_" for part in text.split("/"))


def slice_metric_names(fairness: list[dict]) -> dict[str, float]:
    """Per-slice metrics under MLflow names such as ``auc.line_type.home_grown``."""
    out = {}
    for row in fairness:
        if row.get("suppressed"):
            continue
        value = _metric_key_part(row["value"], r"A-Za-z0-9_\-. /")
        for short, number in _slice_metrics(row).items():
            out[f"{short}.{row['slice']}.{value}"] = number
    return out


def labels_to(contract: DataContract, history: pd.DataFrame) -> str:
    """The ISO week of the data's last labelled disruption (``2026-W35``)."""
    labelled = history[history[contract.label].notna()] if contract.label in history else history
    return iso_week(pd.to_datetime(labelled[contract.date_column]).max())


def display_run_name(
    recipe_name: str | None, family: str, contract: DataContract, history: pd.DataFrame
) -> str:
    """``lightgbm-default · default · labels to 2026-W35``: recipe, data config and the week of
    the data's last labelled disruption."""
    week = labels_to(contract, history)
    return f"{recipe_name or family + '-default'} · {contract.name} · labels to {week}"


def headline_metric_names(metrics: dict) -> dict[str, float]:
    """The test period's headline metrics under ``headline/<name>`` (they lead the run page)."""
    return {
        f"headline/{name}": value
        for name, value in metrics.items()
        if name in HEADLINE or name.startswith(HEADLINE_PREFIXES)
    }


def grouped_slice_metric_names(fairness: list[dict]) -> dict[str, float]:
    """Per-slice metrics grouped as ``slice/<slice>.<value>/<metric>``, leaving out a slice value
    that holds exactly the rows of one already named (``origin_hub.local`` is
    ``line_type.home_grown`` when every home-grown line is local): the same numbers, once. The
    fairness table marks such a value (``same_lines_as``); its numbers are compared too, for a
    table without the mark."""
    out, seen = {}, set()
    for row in fairness:
        if row.get("suppressed") or row.get("same_lines_as"):
            continue
        numbers = tuple(row.get(column) for column in (*SLICE_METRICS, "n"))
        if numbers in seen:
            continue
        seen.add(numbers)
        value = _metric_key_part(row["value"], r"A-Za-z0-9_\-. ")  # "/" separates the group
        for short, number in _slice_metrics(row).items():
            out[f"slice/{row['slice']}.{value}/{short}"] = number
    return out
