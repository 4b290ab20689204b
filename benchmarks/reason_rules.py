"""Benchmark: the reason screen's rules beyond the null test, today's against the new, on the
same fit and the same null fits (issue 21, "other factors" and strong drivers).

Per world of ``benchmarks/cohorts.py`` (``--n-lines`` lines, its split): the default recipe fitted
once on the training span (the world's seed), the screen of ``configs/explain/default.yaml`` run
once, and its table judged two ways: **today** (a concept only on its own test; the line type only
on the null test, ``cohort_alpha`` 0) and **new** (a concept also through its earned columns when
it beats its null as a whole; the line type also on its calibration's evidence). Printed per
world: the calibration's p-value that the line types differ, the share of test lines whose "other
factors" outweigh the largest shown reason (target <= 10%), the share shown a column without an
effect of its own in a material reason (target <= 1%), and the strong true drivers shown nowhere.
Usage::

    python benchmarks/reason_rules.py                              # 8 worlds of 8,000 lines
    python benchmarks/reason_rules.py --worlds pursue_driven default --n-lines 6000
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import cohorts  # the sibling benchmark (run from benchmarks/): its worlds, split and strong drivers
import numpy as np

from resilience.data.synthetic import no_effect_features
from resilience.explain import explain
from resilience.explain.reasons import named_columns
from resilience.explain.screen import ReasonScreen, ScreenConfig, null_importance, screen_from_table
from resilience.explain.verdicts import judge_cohort
from resilience.learn.models import PersistenceModel


def figures(model, test, no_effect: set[str], strong: dict) -> dict:
    """Other factors over the largest shown reason, lines shown a no-effect column, drivers hidden."""
    e = explain(model, test)
    points = e.concept_matrix("points", shown_only=True)
    shown = {f for f, s in zip(e.features, e.shown) if s}
    named, material = named_columns(e), np.abs(points) >= e.rules.materiality_points
    is_noise = np.array([f in no_effect for f in e.features])
    noise = [
        any(is_noise[j] for k in np.flatnonzero(material[i]) for j in named[i, k] if j >= 0)
        for i in range(len(e))
    ]
    return {
        "other": float(np.mean(np.abs(e.other_factors()) > np.abs(points).max(axis=1))),
        "noise": float(np.mean(noise)),
        "hidden": [term for term, columns in strong.items() if not set(columns) & shown],
    }


def today_screen(table, config: ScreenConfig) -> ReasonScreen:
    """The table judged as before: a feature and a concept each only on its own row's verdict."""
    earned = table[table["earned"]]
    return ReasonScreen(
        tuple(earned[earned["kind"] == "feature"]["name"]),
        tuple(earned[earned["kind"] == "concept"]["name"]),
        config.materiality_points,
        config.mode,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    worlds = list(cohorts.WORLDS)
    parser.add_argument("--worlds", nargs="+", default=worlds, choices=worlds)
    parser.add_argument("--n-lines", type=int, default=8000)
    args = parser.parse_args()
    for name in args.worlds:
        world = cohorts.make_world(name, args.n_lines)
        train, test = world.split.train.reset_index(drop=True), world.split.test
        seed = world.config.seed % 10_000
        model = PersistenceModel(world.contract, random_state=seed).fit(train)
        config = ScreenConfig(n_jobs=cohorts._threads(), seed=seed)
        no_effect, strong = set(no_effect_features(world.config)), cohorts.strong_drivers(world)
        # one screen (its null fits), judged both ways
        table = null_importance(model, train, replace(config, cohort_alpha=0.0))
        model.reason_screen_ = today_screen(table, config)
        before = figures(model, test, no_effect, strong)
        table = table.copy()
        judge_cohort(table, model, config)
        model.reason_screen_ = screen_from_table(table, config)
        after = figures(model, test, no_effect, strong)
        evidence = model.cohort_evidence()
        print(
            f"{name:18s} line types differ p={evidence[1] if evidence else float('nan'):.2g}  "
            f"other factors {before['other']:.1%} -> {after['other']:.1%}  "
            f"no-effect {before['noise']:.1%} -> {after['noise']:.1%}  "
            f"hidden {before['hidden'] or '-'} -> {after['hidden'] or '-'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
