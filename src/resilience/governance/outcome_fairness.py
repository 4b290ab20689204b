"""The fairness check of the deployed model, on outcomes as they arrive.

Training checks the evaluated model on its test period (:mod:`resilience.governance.fairness`);
the model that scores the weeks is the recipe refitted on every labelled row, and the world moves
on. ``resilience-outcomes`` therefore runs the same check on what was estimated in use: each
disruption whose outcome is now known, with the estimate its latest scored week gave it and the
slices that week recorded, grouped by the model that scored it. Each group's row carries the same
numbers as at training: the gap, the adjusted interval the flag uses, the flag, the smallest gap
it could detect (80% power) and that gap found by simulation. It is written to
``outcomes_fairness.csv`` beside ``outcomes.csv`` and logged with the outcomes run.

>>> table = deployed_fairness(Path("outputs/weekly"), labels, contract, FairnessSettings())  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from resilience.core import week_files
from resilience.data.contract import DataContract
from resilience.data.io import read_json, read_parquet
from resilience.governance.fairness import (
    fairness_flags,
    group_calibration,
    verify_detectable_gaps,
)
from resilience.governance.outcomes import scored_weeks

COLUMNS = (
    "model",
    "slice",
    "value",
    "rows",
    "suppressed",
    "same_lines_as",
    "mean_predicted",
    "observed_rate",
    "calibration_gap",
    "flag_interval_low",
    "flag_interval_high",
    "flag_family",
    "flag",
    "detectable_gap",
    "detectable_gap_simulated",
)


@dataclass(frozen=True)
class FairnessSettings:
    """The check's settings (``configs/outcomes.yaml``; training's are in ``configs/evaluation``)."""

    tolerance: float = 0.03
    family_level: float = 0.025
    cohort_level: float = 0.02
    min_rows: int = 50
    seed: int = 0


def estimates_in_use(output_root: Path, contract: DataContract) -> pd.DataFrame:
    """Every disruption's latest scored estimate, its slices and the model that gave it."""
    frames = []
    for folder in reversed(scored_weeks(output_root)):
        path = folder / week_files.SCORES_PARQUET
        scores = read_parquet(
            path, f"rescore week {folder.name} with resilience-score ... overwrite=true"
        )
        manifest = folder / week_files.MANIFEST
        model = (read_json(manifest).get("model") or {}) if manifest.is_file() else {}
        kept = ["disruption_id", "persistence_probability"]
        kept += [c for c in contract.slices if c in scores.columns]
        frame = scores[kept].copy()
        frame["model"] = str(model.get("identity") or "unknown")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["disruption_id", "persistence_probability", "model"])
    joined = pd.concat(frames, ignore_index=True)  # newest week first: its estimate is kept
    return joined.drop_duplicates("disruption_id").reset_index(drop=True)


def deployed_fairness(
    output_root: str | Path,
    labels: pd.DataFrame,
    contract: DataContract,
    settings: FairnessSettings = FairnessSettings(),
) -> pd.DataFrame:
    """One row per (model, slice, value) of the check on outcomes known so far (see the module
    docstring); ``labels``: ``disruption_id`` and ``outcome``."""
    estimates = estimates_in_use(Path(output_root), contract)
    known = estimates.merge(labels[["disruption_id", "outcome"]], on="disruption_id")
    known["outcome"] = known["outcome"].astype(int)
    slices = [c for c in contract.slices if c in known.columns]
    cohort = contract.cohort_column if contract.cohort_column in slices else None
    rows = []
    for model, group in known.groupby("model", sort=True):
        groups = group_calibration(
            group, slices, "outcome", "persistence_probability", settings.min_rows
        )
        flags = fairness_flags(
            groups, settings.tolerance, settings.family_level, cohort, settings.cohort_level
        )
        flags = verify_detectable_gaps(
            flags, group, "outcome", "persistence_probability", settings.min_rows, settings.seed
        )
        rows += [{**row, "model": model} for row in flags]
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))
