"""Split the synthetic world for `make demo`, so the demo scores weeks the model never trained on.

The demo scores the world's last ``--weeks`` weekly extracts, then records the outcomes the world
knows at its end. Training on the whole labelled history would put those outcomes into the model
that estimated them. So the model is trained on what was known when the first scored week began:

* ``<out>/history.parquet``: the labelled disruptions whose outcome was known by the first scored
  week's extraction day (disrupted at least ``horizon_weeks`` before it);
* ``<out>/labels.parquet``: id and label of every other labelled disruption (those whose outcome
  became known during the scored weeks, by the world's end: only those whose horizon has passed);
* ``<out>/as_of.txt``: that extraction day (YYYY-MM-DD), the training's ``as_of``.

    python scripts/demo_history.py --world data/synthetic --out outputs/demo --weeks 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from resilience.core.weeks import week_monday
from resilience.data.contract import load_data_contract


def split(world: Path, out: Path, weeks: int, data: str = "default") -> tuple[str, int, int]:
    """Write the history, the labels and the as-of date; return (as-of, history rows, label rows)."""
    contract = load_data_contract(data)
    extracts = sorted((world / "weekly").glob("*.parquet"))
    if len(extracts) < weeks:
        raise SystemExit(
            f"{world / 'weekly'} holds {len(extracts)} weekly extracts; the demo scores {weeks}"
        )
    end = pd.Timestamp(json.loads((world / "world.json").read_text())["end_date"])
    first = extracts[-weeks].stem  # the first scored week, e.g. 2026-W44
    as_of = min(week_monday(first) + pd.Timedelta(days=6), end)
    labelled = pd.read_parquet(world / "disruptions.parquet")
    dates = pd.to_datetime(labelled[contract.date_column])
    known = dates <= as_of - pd.Timedelta(weeks=contract.horizon_weeks)
    out.mkdir(parents=True, exist_ok=True)
    labelled[known].to_parquet(out / "history.parquet", index=False)
    labels = labelled.loc[~known, [contract.id_column, contract.label]]
    labels.to_parquet(out / "labels.parquet", index=False)
    (out / "as_of.txt").write_text(as_of.strftime("%Y-%m-%d") + "\n", encoding="utf-8")
    return as_of.strftime("%Y-%m-%d"), int(known.sum()), int(len(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"))
    parser.add_argument("--weeks", type=int, default=4)
    args = parser.parse_args()
    as_of, history, labels = split(args.world, args.out, args.weeks)
    print(
        f"demo: training history {history:,} disruptions known by {as_of}; "
        f"{labels:,} outcomes known later, by the world's end, kept for resilience-outcomes"
    )


if __name__ == "__main__":
    main()
