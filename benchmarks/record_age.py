"""Train like you serve: records as they stood against final records, by record age.

    python benchmarks/record_age.py                         # 4 worlds, 60,000 lines each
    python benchmarks/record_age.py --worlds default --n-lines 20000    # quicker
    python benchmarks/record_age.py --per-disruption 1      # one snapshot age per disruption

For each world (``default``, ``delays_half``, ``delays_double`` with referral delays past the
horizon, ``protect_driven``; generated fresh, weekly extracts included), in one run:

* **old**: today's training, on final records (``snapshots=None``: no record age);
* **new**: training on records as they stood (``snapshots=<world>/weekly``, ``per_disruption``
  ages per disruption, the record age an input, the record-incompleteness spread in the ranges).

Both are judged on the same test disruptions as scoring meets them: every snapshot of every
test-period disruption, at each record age 0..11 (one row per disruption per age), against the
world's ``truth.parquet``, plus their complete (final) records:

* ``|bias|``: |mean estimate - mean true probability| in points (target <= 2 at every age);
* ``coverage``: share of true probabilities inside the 80% range (target 0.75-0.90 at every age),
  and the range's median width;
* AUC at record ages 0-1 (pooled) against AUC on complete records (target: within 0.02);
* the last week's top 100 by estimated priority (probability x harm, ``configs/priority/``)
  against its top 100 by true priority (target: at least as many in common as the old model);
* AUC on complete records (target: not more than 0.003 below the old model's);
* training time (``train()``: split, fits, screen, ranges, evidence; MLflow logging excluded,
  which only flatters a ratio) with snapshots over without (target <= 2 on the default world).

``--overlap`` also reports the test period with and without **repeat disruptions** (of lines that
have training rows; ``split.line_overlap``): their share, and the new model's AUC and bias on each.

Measured: see docs/record_age.md, "Measured" (figures printed by this script).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from resilience.core.progress import Stages
from resilience.data.asof import AsOf
from resilience.data.contract import load_data_contract
from resilience.data.record_age import extract_as_of, with_record_age
from resilience.data.snapshots import find_snapshots
from resilience.data.synthetic import generate_world, write_world
from resilience.data.synthetic.config import load_world_config
from resilience.data.validate import load_extract
from resilience.explain.screen import ScreenConfig
from resilience.learn.by_age import by_record_age
from resilience.learn.models import WHOLE, PersistenceModel
from resilience.learn.ranges import IntervalConfig
from resilience.learn.records import RecordsConfig
from resilience.learn.split import SplitConfig
from resilience.pipelines.train import TrainingData, TrainSettings, train
from resilience.pipelines.train_inputs import load_truth
from resilience.weekly.priority import load_priority_policy

WORLDS = ("default", "delays_half", "delays_double", "protect_driven")
TOP = 100


def threads() -> int | None:
    value = os.environ.get("RESILIENCE_N_JOBS")
    return int(value) if value else None


def make_world(name: str, n_lines: int, seed: int | None, folder: Path) -> Path:
    config = load_world_config(name)
    config = replace(config, n_lines=n_lines, **({"seed": seed} if seed is not None else {}))
    write_world(generate_world(config), folder)
    return folder


def trained(world: Path, snapshots: bool, records: RecordsConfig, split: SplitConfig):
    """``train()`` on the world, with or without its weekly snapshots; (Trained, seconds)."""
    contract = load_data_contract("default")
    path = world / "disruptions.parquet"
    history = load_extract(path, contract, require_label=True).frame
    end = pd.Timestamp(pd.read_json(world / "world.json", typ="series")["end_date"])
    as_of = AsOf(date=end, source="world.json")
    data = TrainingData(
        history,
        contract,
        path,
        "benchmark",
        truth=load_truth("auto", path, contract),
        as_of=as_of,
        snapshots=find_snapshots(world / "weekly") if snapshots else None,
    )
    settings = TrainSettings(
        split=split,
        records=records,
        screen=ScreenConfig(n_jobs=threads()),
        intervals=IntervalConfig(),
    )
    start = time.perf_counter()
    result = train(
        data, PersistenceModel(contract, n_jobs=threads()), settings, Stages("train", enabled=False)
    )
    return result, time.perf_counter() - start


def judged(result, rows: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """A trained model's evaluated model on ``rows`` by record age, with its own ranges."""
    ensembles = {WHOLE: result.model.interval_ensemble_}
    contract = result.model.contract
    return by_record_age(result.evaluation.model, rows, contract, truth, ensembles).set_index(
        "record_age"
    )


def young_auc(model, rows: pd.DataFrame, contract) -> float:
    """AUC over the rows of record ages 0 and 1, pooled."""
    young = rows[rows[contract.record_age_column] <= 1]
    return float(
        roc_auc_score(young[contract.label].astype(int), model.persistence_probability(young))
    )


def top_overlap(model, world: Path, truth: pd.DataFrame) -> int:
    """Of the last week's top 100 by estimated priority, how many are in its top 100 by true
    priority (probability x harm, the harm policy of the default data config)."""
    contract = model.contract
    week = sorted((world / "weekly").glob("*.parquet"))[-1]
    frame = load_extract(week, contract).frame
    frame = with_record_age(frame, contract, extract_as_of(frame, contract))
    policy = load_priority_policy(None, contract)
    harm = np.maximum(policy.columns(frame)["harm_index"].to_numpy(float), policy.harm_floor)
    true = frame[[contract.id_column]].merge(truth, on=contract.id_column)["true_probability"]
    estimated = model.persistence_probability(frame) * harm
    top = lambda score: set(np.argsort(-np.asarray(score), kind="stable")[:TOP])  # noqa: E731
    return len(top(estimated) & top(true.to_numpy() * harm))


def compare_world(name: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        world = make_world(name, args.n_lines, args.seed, Path(tmp))
        contract = load_data_contract("default")
        truth = pd.read_parquet(world / "truth.parquet")[[contract.id_column, "true_probability"]]
        records = RecordsConfig(per_disruption=args.per_disruption)
        split = SplitConfig(line_overlap=args.line_overlap)
        old, old_seconds = trained(world, False, records, split)
        new, new_seconds = trained(world, True, records, split)
        rows = new.rows.split.test_by_age
        out = {
            "world": name,
            "old": judged(old, rows, truth),
            "new": judged(new, rows, truth),
            "old_young_auc": young_auc(old.evaluation.model, rows, contract),
            "new_young_auc": young_auc(new.evaluation.model, rows, contract),
            "old_top": top_overlap(old.model, world, truth),
            "new_top": top_overlap(new.model, world, truth),
            "time_ratio": new_seconds / old_seconds,
            "seconds": (old_seconds, new_seconds),
        }
        if args.overlap:
            out["overlap"] = repeat_lines(new, rows, truth, contract, new.rows.all_rows)
        return out


def repeat_lines(result, rows: pd.DataFrame, truth, contract, history: pd.DataFrame) -> dict:
    """The test period split three ways: lines with training rows (what ``drop_from_test``
    leaves out), and disruptions of lines disrupted before (any earlier row in the history)."""
    train_lines = set(result.rows.split.train[contract.line_column])
    seen = rows[contract.line_column].isin(train_lines).to_numpy()
    dates = pd.to_datetime(history[contract.date_column])
    first_date = dates.groupby(history[contract.line_column]).min()
    disrupted_before = (
        pd.to_datetime(rows[contract.date_column]).to_numpy()
        > rows[contract.line_column].map(first_date).to_numpy()
    )
    ensembles = {WHOLE: result.model.interval_ensemble_}
    at_zero = (rows[contract.record_age_column] == 0).to_numpy()
    out = {
        "seen_share": float(seen[at_zero].mean()),
        "repeat_share": float(disrupted_before[at_zero].mean()),
    }
    parts = (("all", np.ones(len(rows), bool)), ("unseen lines", ~seen), ("seen lines", seen))
    for label, mask in parts:
        table = by_record_age(result.evaluation.model, rows[mask], contract, truth, ensembles)
        table = table[table["record_age"] != "complete"]
        out[label] = {
            "auc": float(table["roc_auc"].mean()),
            "bias_truth": float(table["bias_vs_truth_points"].abs().max()),
            "bias_observed": float(table["bias_vs_observed_points"].abs().max()),
        }
    return out


def report(found: dict) -> None:
    old, new = found["old"], found["new"]
    ages = [a for a in new.index if a != "complete"]
    print(f"\n== {found['world']} ==")
    print("age   |bias| old  new   coverage old  new   width old  new   AUC old  new")
    for age in [*ages, "complete"]:
        o, n = old.loc[age], new.loc[age]
        print(
            f"{age:>8} {abs(o.bias_vs_truth_points):5.1f} {abs(n.bias_vs_truth_points):5.1f}"
            f"      {o.coverage:5.2f} {n.coverage:5.2f}      {o.median_width:4.2f} {n.median_width:4.2f}"
            f"   {o.roc_auc:.4f} {n.roc_auc:.4f}"
        )
    worst = new.loc[ages]
    complete_gap = new.loc["complete", "roc_auc"] - old.loc["complete", "roc_auc"]
    print(
        f"worst |bias| (points): old {old.loc[ages].bias_vs_truth_points.abs().max():.1f}, "
        f"new {worst.bias_vs_truth_points.abs().max():.1f} (target <= 2: "
        f"{'met' if worst.bias_vs_truth_points.abs().max() <= 2 else 'NOT met'})"
    )
    low, high = worst.coverage.min(), worst.coverage.max()
    print(
        f"coverage by age: old {old.loc[ages].coverage.min():.2f}-{old.loc[ages].coverage.max():.2f}, "
        f"new {low:.2f}-{high:.2f} (target 0.75-0.90: {'met' if low >= 0.75 and high <= 0.90 else 'NOT met'})"
    )
    print(
        f"AUC ages 0-1 vs complete: old {found['old_young_auc']:.4f} vs {old.loc['complete', 'roc_auc']:.4f}, "
        f"new {found['new_young_auc']:.4f} vs {new.loc['complete', 'roc_auc']:.4f} "
        f"(gap {new.loc['complete', 'roc_auc'] - found['new_young_auc']:.4f}; target <= 0.02)"
    )
    print(
        f"top {TOP} by priority in the true top {TOP}, last week: old {found['old_top']}, "
        f"new {found['new_top']}"
    )
    print(
        f"AUC on complete records: new - old = {complete_gap:+.4f} (target >= -0.003: "
        f"{'met' if complete_gap >= -0.003 else 'NOT met'})"
    )
    old_s, new_s = found["seconds"]
    print(
        f"training time with snapshots / without: x{found['time_ratio']:.2f} "
        f"({new_s:.0f} s / {old_s:.0f} s, same run)"
    )
    if "overlap" in found:
        lap = found["overlap"]
        print(
            f"test period: {lap['repeat_share']:.0%} repeat disruptions (the line disrupted "
            f"before), {lap['seen_share']:.0%} of lines with training rows"
        )
        for label in ("all", "unseen lines", "seen lines"):
            part = lap[label]
            print(
                f"  {label:>12}: mean AUC by age {part['auc']:.4f}, worst |bias| vs truth "
                f"{part['bias_truth']:.1f}, vs observed {part['bias_observed']:.1f} points"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS))
    parser.add_argument("--n-lines", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--per-disruption", type=int, default=RecordsConfig().per_disruption)
    parser.add_argument("--line-overlap", default=SplitConfig().line_overlap)
    parser.add_argument(
        "--overlap", action="store_true", help="also judge repeat disruptions apart"
    )
    args = parser.parse_args()
    for name in args.worlds:
        report(compare_world(name, args))


if __name__ == "__main__":
    main()
