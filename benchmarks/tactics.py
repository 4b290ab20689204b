"""Benchmark the tactics review against the truth of worlds with confounded assignment.

For each world x seed it generates the world, runs the review (every tactic, overall and per
line type), and computes each tactic's **true** average effect on exactly the disruptions each
estimate kept after trimming (``tactic_effect_truth`` replays every kept disruption's package with
and without the tactic). It prints, per world and over the worlds where adjustment can succeed,
the targets of issue 25 beside the baseline measured in the same run, the naive comparison:

* coverage: the share of tactic x cohort x world estimates whose 95% interval holds the truth
  (target >= 90%), and the median interval width (<= 10 points);
* trimmed: the share of disruption x tactic pairs trimmed (<= 10%), with the tactics over it;
* error: mean |estimate - truth| against mean |naive - truth| (the ratio is the baseline's error
  over the review's);
* the passenger tactic (``confounded_passenger``: ancillary orders with no effect of their own),
  within 2 points of zero, with the naive comparison beside it;
* fragility: the share of estimates marked fragile, per world (all of the hidden world's should be);
* speed: one review of about 50,000 disruptions (``--big-lines``), in wall seconds on the cores given.

    python benchmarks/tactics.py                      # 4 worlds x 2 seeds at ~10,600 disruptions, then 50k timing (~9 min on 2 cores)
    python benchmarks/tactics.py --lines 4000 --seeds 1 --big-lines 0   # a quick look (~1 min)

The worlds: ``confounded``, ``confounded_passenger``, ``confounded_hidden`` (confounded through the
line's unrecorded character: judged on fragility, not coverage) and ``protect_driven`` with
confounded assignment (another true mechanism: exploitation and safeguarding decide persistence).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from resilience.data.contract import load_data_contract
from resilience.data.synthetic import generate_world, load_world_config
from resilience.data.synthetic.tactics import tactic_effect_truth
from resilience.tactics.review import review_tactics
from resilience.tactics.settings import ReviewSettings

WORLDS = {
    "confounded": ("confounded", {}),
    "confounded_passenger": ("confounded_passenger", {}),
    "confounded_hidden": ("confounded_hidden", {}),
    "protect_driven+confounded": (
        "protect_driven",
        {"assignment_strength": 1.0, "tactics_truth": True},
    ),
}
HIDDEN = "confounded_hidden"
PASSENGER = ("confounded_passenger", "ancillary_orders")


def review_world(
    name: str, preset: str, overrides: dict, n_lines: int, seed: int, jobs: int
) -> pd.DataFrame:
    """One world's review rows with the truth on each estimate's own population."""
    world = generate_world(load_world_config(preset, n_lines=n_lines, seed=seed, **overrides))
    history = world.history.reset_index(drop=True)
    started = time.perf_counter()
    result = review_tactics(
        history, load_data_contract("default"), ReviewSettings(n_jobs=jobs, seed=seed)
    )
    seconds = time.perf_counter() - started
    rows = result.rows.copy()
    rows["truth"] = [
        tactic_effect_truth(world, r.tactic, result.populations[(r.tactic, r.cohort)])[
            "effect_points"
        ].mean()
        if len(result.populations[(r.tactic, r.cohort)])
        else np.nan
        for r in rows.itertuples()
    ]
    rows["covered"] = (rows["ci_low_points"] <= rows["truth"]) & (
        rows["truth"] <= rows["ci_high_points"]
    )
    rows["width"] = rows["ci_high_points"] - rows["ci_low_points"]
    return rows.assign(world=name, seed=seed, disruptions=len(history), seconds=seconds)


def _summary(rows: pd.DataFrame) -> dict:
    estimated = rows[rows["note"] == ""]
    seen = estimated["n_treated"] + estimated["n_compared"] + estimated["trimmed"]
    return {
        "estimates": len(estimated),
        "coverage": estimated["covered"].mean(),
        "median width": estimated["width"].median(),
        "trimmed share": estimated["trimmed"].sum() / seen.sum(),
        "|est - truth|": (estimated["estimate_points"] - estimated["truth"]).abs().mean(),
        "|naive - truth|": (estimated["naive_points"] - estimated["truth"]).abs().mean(),
        "naive coverage": (
            (estimated["naive_points"] - estimated["truth"]).abs() <= estimated["width"] / 2
        ).mean(),
        "fragile": estimated["fragile"].fillna(False).astype(bool).mean(),
    }


def report(rows: pd.DataFrame) -> None:
    """Print the per-world figures, the targets and the passenger tactic."""
    pd.set_option("display.width", 200)
    per_world = pd.DataFrame({w: _summary(part) for w, part in rows.groupby("world", sort=False)}).T
    print(per_world.round(3).to_string())
    adjustable = rows[rows["world"] != HIDDEN]
    s = _summary(adjustable)
    print("\nover the worlds where adjustment can succeed (hidden world excluded):")
    print(
        f"  coverage of the 95% interval: {s['coverage']:.1%} (target >= 90%); naive within the same half-width: {s['naive coverage']:.1%}"
    )
    print(f"  median interval width: {s['median width']:.1f} points (target <= 10)")
    print(f"  trimmed: {s['trimmed share']:.1%} of disruption x tactic pairs (target <= 10%)")
    print(
        f"  mean |error|: review {s['|est - truth|']:.2f}, naive {s['|naive - truth|']:.2f} points: the naive comparison's error is x{s['|naive - truth|'] / s['|est - truth|']:.1f} the review's"
    )
    estimated = adjustable[adjustable["note"] == ""]
    per_tactic = estimated.groupby("tactic").apply(
        lambda p: p["trimmed"].sum() / (p["n_treated"] + p["n_compared"] + p["trimmed"]).sum()
    )
    print("  trimmed share by tactic: " + ", ".join(f"{t} {v:.0%}" for t, v in per_tactic.items()))
    passenger = rows[(rows["world"] == PASSENGER[0]) & (rows["tactic"] == PASSENGER[1])]
    print(
        f"\npassenger tactic ({PASSENGER[1]} in {PASSENGER[0]}: no effect of its own; target: within 2 points of zero):"
    )
    print(
        passenger[
            [
                "seed",
                "cohort",
                "estimate_points",
                "ci_low_points",
                "ci_high_points",
                "naive_points",
                "truth",
            ]
        ]
        .round(2)
        .to_string(index=False)
    )
    hidden = rows[(rows["world"] == HIDDEN) & (rows["note"] == "")]
    print(
        f"\nhidden-confounding world: {hidden['fragile'].fillna(False).astype(bool).mean():.0%} of {len(hidden)} estimates marked fragile "
        f"(their coverage {hidden['covered'].mean():.0%}); other worlds: {estimated['fragile'].fillna(False).astype(bool).mean():.0%} fragile"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lines", type=int, default=12000, help="lines per world (12,000: ~10,600 disruptions)"
    )
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="fits side by side (cores)")
    parser.add_argument(
        "--big-lines",
        type=int,
        default=57000,
        help="lines of the timing world (57,000: ~50,000 disruptions); 0 skips it",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    frames = []
    for seed in range(1, args.seeds + 1):
        for name, (preset, overrides) in WORLDS.items():
            frames.append(review_world(name, preset, overrides, args.lines, seed, args.jobs))
            print(
                f"{name} seed {seed}: {frames[-1]['disruptions'].iloc[0]:,} disruptions reviewed in {frames[-1]['seconds'].iloc[0]:.0f} s",
                flush=True,
            )
    report(pd.concat(frames, ignore_index=True))
    if args.big_lines:
        world = generate_world(load_world_config("confounded", n_lines=args.big_lines, seed=1))
        started = time.perf_counter()
        review_tactics(
            world.history, load_data_contract("default"), ReviewSettings(n_jobs=args.jobs)
        )
        seconds = time.perf_counter() - started
        print(
            f"\nspeed: {len(world.history):,} disruptions reviewed (8 tactics x 3 cohorts) in {seconds:.0f} s wall on {args.jobs} jobs: {seconds / 300:.2f} of the 5-minute budget"
        )


if __name__ == "__main__":
    main()
