"""Benchmark: where a line's top reason comes from when it changes between reruns (issue 21).

The issue's target is that the top reason of a line (the concept that moves its estimate most)
changes for at most 3% of lines between reruns on 90% of the lines with every random stream
changed. This splits that change by its source, on one world, without the reason screen (every
concept may be the top one, so only the fit varies):

* **seed only**: every line, the fit's seed changed;
* **data only**: 90% of the lines (a line brings all its rows), the seed fixed;
* **both**: what the issue measures;
* **seeds averaged**: each rerun the mean of ``--bag`` fits with other seeds (bagging over the
  random subsampling of rows and columns LightGBM does per tree), on the whole data and on 90%;
* **the main reasons shown on page 1** (the largest raising and the largest lowering reason, from
  one point), and the pairs of concepts the top reason moves between.

It prints shares of lines, mean over pairs of reruns. Usage::

    python benchmarks/reason_variance.py                        # default world, 8,000 lines
    python benchmarks/reason_variance.py --world protect_driven/11 --reruns 4 --bag 4
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np

from resilience.explain import explain
from resilience.explain.resamples import line_resample
from resilience.learn.models import PersistenceModel


def _sibling(name: str):
    """A sibling benchmark's module (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cohorts = _sibling("cohorts")  # its worlds


def changed(tops: list[np.ndarray]) -> float:
    """Share of lines whose top concept differs between two reruns, mean over pairs."""
    pairs = itertools.combinations(range(len(tops)), 2)
    return float(np.mean([np.mean(tops[i] != tops[j]) for i, j in pairs]))


def top(points: np.ndarray) -> np.ndarray:
    return np.argmax(np.abs(points), axis=1)


def main_reason(points: np.ndarray, sign: int, materiality: float = 1.0) -> np.ndarray:
    """Per line, the concept raising (sign 1) or lowering (-1) the estimate most; -1 when none
    moves it by ``materiality`` points."""
    signed = points * sign
    best = np.argmax(signed, axis=1)
    return np.where(signed[np.arange(len(signed)), best] >= materiality, best, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="default", choices=sorted(cohorts.WORLDS))
    parser.add_argument("--n-lines", type=int, default=8000)
    parser.add_argument("--reruns", type=int, default=4)
    parser.add_argument("--bag", type=int, default=4, help="fits averaged per rerun")
    args = parser.parse_args()
    world = cohorts.make_world(args.world, args.n_lines)
    train = world.split.train.reset_index(drop=True)
    test = world.split.test.reset_index(drop=True)
    lines = train[world.contract.line_column]
    fits: dict = {}
    names: list[str] = []

    def points(sample: int | None, seed: int) -> np.ndarray:
        """(test lines, concepts) points of one fit; ``sample``: which 90% of the lines (None: all)."""
        if (sample, seed) not in fits:
            rows = train
            if sample is not None:
                rng = np.random.default_rng([7, sample])
                rows = train[line_resample(lines, 0.9, rng)].reset_index(drop=True)
            model = PersistenceModel(world.contract, random_state=seed).fit(rows)
            explained = explain(model, test)
            fits[sample, seed] = explained.concept_matrix("points")
            names[:] = explained.concept_map.names  # the data config's concepts, the same each fit
        return fits[sample, seed]

    r, k = range(args.reruns), range(args.bag)
    seed_only = [points(None, 100 + i) for i in r]
    data_only = [points(i, 100) for i in r]
    both = [points(i, 100 + i) for i in r]
    bag_all = [np.mean([points(None, 1000 + 10 * i + j) for j in k], axis=0) for i in r]
    bag_90 = [np.mean([points(i, 1000 + 10 * i + j) for j in k], axis=0) for i in r]
    print(f"== {args.world}, {args.n_lines:,} lines, {args.reruns} reruns, no reason screen ==")
    print(f"  top reason changed, seed only: {changed([top(m) for m in seed_only]):.1%}")
    print(
        f"  top reason changed, data only (90% of the lines): {changed([top(m) for m in data_only]):.1%}"
    )
    print(
        f"  top reason changed, both (the issue's measure): {changed([top(m) for m in both]):.1%}"
    )
    print(
        f"  {args.bag} seeds averaged per rerun: seed only {changed([top(m) for m in bag_all]):.1%}, "
        f"both {changed([top(m) for m in bag_90]):.1%}"
    )
    print(
        f"  page 1's main reasons, both: raising {changed([main_reason(m, 1) for m in both]):.1%}, "
        f"lowering {changed([main_reason(m, -1) for m in both]):.1%}"
    )
    tops = [top(m) for m in both]
    moves: collections.Counter = collections.Counter()
    for i, j in itertools.combinations(r, 2):
        differ = tops[i] != tops[j]
        moves.update(
            tuple(sorted((names[a], names[b]))) for a, b in zip(tops[i][differ], tops[j][differ])
        )
    total = sum(moves.values()) or 1
    print(
        "  the top reason moves between: "
        + "; ".join(f"{a} / {b} {n / total:.0%}" for (a, b), n in moves.most_common(4))
    )


if __name__ == "__main__":
    main()
