"""Leaves per tree chosen on the early-stopping folds (the default: ``num_leaves`` null, chosen
among ``resilience.learn.families.LEAVES_SEARCH``) against the fixed 5 leaves of the toolkit
before it, on the same split, in one run.

Per world (``benchmarks/cohorts.py``'s: six the toolkit was not tuned on, the default world and
``pursue_driven``; ``--n-lines`` lines each) the default recipe is fitted on the split's training
span both ways, with the same seed, and judged on the test period against the world's true
probabilities: the rank correlation with the truth (Spearman's rho: ranking, without the label
noise of an AUC on a few thousand outcomes), the root-mean-square distance to the truth in
points, the ROC AUC on the outcomes beside the AUC of the truth itself (the best possible), and
the fit's CPU seconds. Prints each world, then the mean differences and the CPU ratio.

    python benchmarks/capacity.py                      # 8 worlds of 8,000 lines
    python benchmarks/capacity.py --n-lines 20000 --worlds default sparse/11
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from resilience.learn.families import LEAVES_SEARCH
from resilience.learn.models import PersistenceModel


def _cohorts():
    """``benchmarks/cohorts.py`` (its worlds; ``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location("cohorts", Path(__file__).with_name("cohorts.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["cohorts"] = module
    spec.loader.exec_module(module)
    return module


def judged(model, world, cohorts) -> dict:
    """The fitted model on the world's test period against its truth."""
    test = world.split.test
    truth = cohorts.truth_of(world, test)
    y = test[world.contract.label].astype(int).to_numpy()
    p = model.persistence_probability(test)
    return {
        "rho": float(spearmanr(p, truth)[0]),
        "rmse": float(100 * np.sqrt(np.mean((p - truth) ** 2))),
        "auc": float(roc_auc_score(y, p)),
        "oracle": float(roc_auc_score(y, truth)),
        "leaves": model.capacity()["num_leaves"],
    }


def run_world(name: str, n_lines: int, cohorts) -> dict[str, dict]:
    world = cohorts.make_world(name, n_lines)
    train = world.split.train.reset_index(drop=True)
    out = {}
    for label, params in (("fixed 5", {"num_leaves": 5}), ("chosen", {})):
        started = time.process_time()
        model = PersistenceModel(world.contract, params=params, random_state=7, n_jobs=1)
        model.fit(train)
        out[label] = {**judged(model, world, cohorts), "cpu": time.process_time() - started}
    return out


def main() -> None:
    cohorts = _cohorts()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-lines", type=int, default=8000)
    parser.add_argument("--worlds", nargs="+", default=list(cohorts.WORLDS))
    args = parser.parse_args()
    print(f"leaves chosen among {LEAVES_SEARCH} against 5, {args.n_lines:,} lines per world")
    rows = []
    for name in args.worlds:
        result = run_world(name, args.n_lines, cohorts)
        base, new = result["fixed 5"], result["chosen"]
        rows.append(result)
        print(
            f"{name:18s} chose {new['leaves']}: rho {base['rho']:.4f} -> {new['rho']:.4f}, "
            f"distance to truth {base['rmse']:.2f} -> {new['rmse']:.2f} points, AUC "
            f"{base['auc']:.4f} -> {new['auc']:.4f} (truth's {base['oracle']:.4f}), "
            f"fit CPU x{new['cpu'] / base['cpu']:.2f}",
            flush=True,
        )
    mean = {
        key: np.mean([r["chosen"][key] - r["fixed 5"][key] for r in rows])
        for key in ("rho", "rmse", "auc")
    }
    cpu = sum(r["chosen"]["cpu"] for r in rows) / sum(r["fixed 5"]["cpu"] for r in rows)
    better = sum(r["chosen"]["rho"] >= r["fixed 5"]["rho"] for r in rows)
    print(
        f"mean change: rho {mean['rho']:+.4f}, distance to truth {mean['rmse']:+.2f} points, "
        f"AUC {mean['auc']:+.4f}; rho not lower in {better} of {len(rows)} worlds; "
        f"fit CPU ratio {cpu:.2f}"
    )


if __name__ == "__main__":
    main()
