"""Outcomes arrive later: how did the scores of each week turn out?

:func:`realised_metrics` joins a labels extract (id + label) to every scored week's
``scores.parquet`` and measures, per scoring week and per cohort (e.g. imported / home-grown),
the realised ROC AUC, Brier score, calibration (mean predicted vs observed) and ECE, so
calibration in use is tracked over time. Small groups are suppressed, not reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.data.contract import DataContract
from resilience.data.io import read_json, read_parquet
from resilience.governance.known_outcomes import OutcomeConflict, ids_text
from resilience.learn.metrics import headline_metrics


def read_labels(path: str | Path, contract: DataContract) -> pd.DataFrame:
    """Id and label from a labels extract, with the label parsed as the contract says."""
    from resilience.data.io import read_extract
    from resilience.data.validate import parse_column

    raw = read_extract(path)
    missing = [c for c in (contract.id_column, contract.label) if c not in raw.columns]
    if missing:
        raise ResilienceError(f"{path}: the labels extract needs column(s) {', '.join(missing)}")
    label, bad = parse_column(raw[contract.label], contract.column(contract.label))
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise ResilienceError(f"{path}: column '{contract.label}': not true/false in row(s) {rows}")
    frame = pd.DataFrame({"disruption_id": raw[contract.id_column].astype(str), "outcome": label})
    frame = frame[frame["outcome"].notna()].astype({"outcome": bool}).drop_duplicates()
    clash = frame.loc[frame["disruption_id"].duplicated(), "disruption_id"].unique()
    if len(clash):
        raise OutcomeConflict(
            f"{path}: disruption(s) {ids_text(clash)} labelled both true and false "
            f"in column '{contract.label}'; an outcome is one or the other"
        )
    return frame


def realised_metrics(
    output_root: str | Path,
    labels: pd.DataFrame,
    cohort_column: str | None,
    k: int = 10,
    min_rows: int = 30,
) -> pd.DataFrame:
    """One row per (scoring week, cohort) with realised metrics; ``cohort`` "all" is the whole week."""
    rows = []
    for folder in sorted(
        p for p in Path(output_root).iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        scores_path = folder / "scores.parquet"
        if not scores_path.is_file():
            continue
        scores = read_parquet(
            scores_path, f"rescore week {folder.name} with resilience-score ... overwrite=true"
        )
        manifest = (
            read_json(folder / "manifest.json") if (folder / "manifest.json").is_file() else {}
        )
        joined = scores.merge(labels, on="disruption_id", how="inner")
        groups = [("all", joined)]
        if cohort_column and cohort_column in joined.columns:
            groups += [(str(v), g) for v, g in joined.groupby(cohort_column)]
        for cohort, group in groups:
            row = {
                "week": folder.name,
                "cohort": cohort,
                "scored": int(len(scores)) if cohort == "all" else None,
                "labelled": int(len(group)),
                "model": manifest.get("model", {}).get("identity"),
            }
            y = group["outcome"].astype(int).to_numpy()
            if len(group) < min_rows or len(np.unique(y)) < 2:
                row["suppressed"] = True
            else:
                m = headline_metrics(y, group["persistence_probability"].to_numpy(), None, k)
                row.update(
                    {
                        "suppressed": False,
                        **{
                            key: m[key]
                            for key in (
                                "roc_auc",
                                "brier",
                                "ece",
                                "observed_rate",
                                "mean_predicted",
                                f"precision_at_{k}",
                            )
                        },
                    }
                )
            rows.append(row)
    if not rows:
        raise ResilienceError(f"no scored weeks with scores.parquet under {output_root}")
    return pd.DataFrame(rows)
