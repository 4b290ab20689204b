"""The outcomes command's pipeline: realised performance of every scored week and the known
outcomes against their last estimates, written beside the week folders and logged to MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.core.week_files import (
    CONTRACT,
    OUTCOMES_CSV,
    OUTCOMES_FAIRNESS_CSV,
    OUTCOMES_PARQUET,
)
from resilience.data.contract import DataContract
from resilience.data.io import read_json, write_frame_atomic
from resilience.governance.outcome_fairness import FairnessSettings, deployed_fairness
from resilience.governance.outcomes import (
    read_labels,
    realised_metrics,
    update_outcomes,
    write_outcomes,
)
from resilience.tracking import store, weekly_runs


@dataclass
class Outcomes:
    realised: pd.DataFrame  # per scoring week and cohort (outcomes.csv)
    known: pd.DataFrame  # per disruption, with its last estimate (outcomes.parquet)
    added: int  # disruptions newly recorded
    fairness: pd.DataFrame | None = None  # the check of each model in use (outcomes_fairness.csv)
    unmatched: int = 0  # labelled disruptions no scored week holds (left out)


def record_outcomes(
    input_path: str | Path,
    output_root: str | Path,
    tracking: store.TrackingConfig,
    experiment: str,
    capacity_k: int = 10,
    min_rows: int = 30,
    fairness: FairnessSettings | None = None,
    as_of: object = "auto",
) -> Outcomes:
    """Join the labels at ``input_path`` to the weeks under ``output_root``; nothing is written
    when a label contradicts a recorded outcome or cannot be known yet at the labels' ``as_of``
    (the training option's values: ``auto``, a date or ``unchecked``)."""
    root = Path(output_root)
    contracts = sorted(root.glob(f"*/{CONTRACT}"))
    if not contracts:
        raise ResilienceError(f"no scored weeks under {root}")
    store.connect(tracking)
    store.check_store()  # a typo'd sqlite:/// path is refused, never created
    contract = DataContract.from_dict(read_json(contracts[-1]))
    labels = read_labels(input_path, contract, as_of=as_of)
    # per disruption: the outcome against the last estimate, every outcome known so far (checked
    # for conflicts and for labels not knowable yet before anything is written)
    known, added = update_outcomes(root, labels, str(input_path))
    so_far = known[["disruption_id", "outcome"]]  # what the metrics and the fairness rest on
    realised = realised_metrics(root, so_far, contract.cohort_column, capacity_k, min_rows)
    checked = deployed_fairness(root, so_far, contract, fairness or FairnessSettings())
    write_outcomes(known, root / OUTCOMES_PARQUET)
    write_frame_atomic(realised, root / OUTCOMES_CSV)
    write_frame_atomic(checked, root / OUTCOMES_FAIRNESS_CSV)
    weekly_runs.log_outcomes(
        tracking, experiment, realised, root / OUTCOMES_CSV, [root / OUTCOMES_FAIRNESS_CSV]
    )
    unmatched = int((~labels["disruption_id"].isin(known["disruption_id"])).sum())
    return Outcomes(realised, known, added, checked, unmatched)
