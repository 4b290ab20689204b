"""Benchmark: do the reasons shown to a commander rest only on features that earned their place?

On synthetic worlds whose true mechanism differs from the default (WorldConfig overrides: effects
switched off, an area that matters, a weaker market), for each seed and size, this fits the
default LightGBM recipe exactly as training does (time-and-line split, early stopping), runs the
null-importance screen (``configs/explain/default.yaml``), and explains the test period with and
without it. It prints, per world and overall:

* **lines with a no-effect feature among shown reasons** — a line counts when any of its (up to
  3 + 3) reasons names a column that no term of the world reads (target <= 1%);
* **share of attribution on no-effect features among the reasons shown** — over every reason
  shown, the |points| of the no-effect columns inside the reason's concept / the |points| of all
  shown columns inside it (target <= 5%);
* **AUC cost** of the screen against the unscreened model of the same run: ``hide`` keeps the
  model (0 by construction, checked), ``drop`` refits without the features that do not beat their null at all (target <= 0.002);
* **training time** with the screen against the fits it adds to (the evaluated fit with its
  early-stopping folds and the refit on every labelled row): the ratio, in CPU seconds of this
  process (every fit is single-threaded under ``RESILIENCE_N_JOBS=1``, so wall time on a shared
  machine would measure the neighbours).

The no-effect columns of a world are the simulator's ``NO_EFFECT_FEATURES``, plus
``policing_area`` unless an area is miscalibrated, plus every column whose only terms the variant
switched off. Usage::

    python benchmarks/reasons.py                        # 3 seeds x 2 sizes (~4k and ~9k lines): a few minutes on 2 cores
    python benchmarks/reasons.py --seeds 6 --min-ratio 3.5 3 2   # 12 worlds, three bars on the same null fits
    python benchmarks/reasons.py --seeds 1 --sizes 4000 # one quick world
    python benchmarks/reasons.py --permutations 40 --quantile 0.975
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np
import pandas as pd

# Worlds the toolkit was not written against: each changes the true mechanism.
VARIANTS = {
    "no-telecoms-no-safeguarding": (
        {"effect_ddtro_single_number": 0.0, "effect_log_safeguarding": 0.0},
        ("ddtro", "safeguarding_referrals"),
    ),
    "area-matters-no-sustained": (
        {
            "miscalibrated_area": "Northmere",
            "miscalibration_log_odds": 0.8,
            "miscalibration_start_fraction": 0.0,
            "effect_sustained": 0.0,
            "effect_sustained_per_prior": 0.0,
        },
        ("sustained_operation",),
    ),
    "weak-market-strong-arrests": (
        {
            "effect_log_contacts": 0.35,
            "effect_log_bulk_texts": 0.0,
            "effect_runner_arrests_max": -2.0,
            "effect_premises_order": 0.0,
        },
        ("bulk_texts_per_day", "closure_orders"),
    ),
}


# A no-effect column the simulator makes a perfect stand-in for a driver: it is empty exactly when
# prior_disruptions is 0, so no test of one column at a time can tell them apart (tests/test_explain.py
# WORLD_PROXIES). Figures are printed with and without it.
WORLD_PROXIES = ("weeks_since_last_disruption",)


def _threads() -> int | None:
    """Refits side by side: ``$RESILIENCE_N_JOBS`` (read here, at the edge), else every core."""
    return int(os.environ.get("RESILIENCE_N_JOBS") or 0) or None


def no_effect_columns(overrides: dict, switched_off: tuple[str, ...]) -> set[str]:
    from resilience.data.synthetic import NO_EFFECT_FEATURES

    columns = set(NO_EFFECT_FEATURES) | set(switched_off)
    if not overrides.get("miscalibrated_area"):
        columns.add("policing_area")
    return columns


def shown_reasons(explanation) -> list[list[tuple[int, list[int]]]]:
    """Per row, each reason shown: (concept position, positions of the columns its phrase names)."""
    from resilience.explain.reasons import named_columns

    points = explanation.concept_matrix("points", shown_only=True)
    materiality = explanation.rules.materiality_points
    named = named_columns(explanation)
    up = np.argsort(-points, axis=1, kind="stable")[:, :3]
    down = np.argsort(points, axis=1, kind="stable")[:, :3]
    rows = []
    for i in range(len(explanation)):
        chosen = [k for k in up[i] if points[i, k] >= materiality] + [
            k for k in down[i] if points[i, k] <= -materiality
        ]
        rows.append([(k, [j for j in named[i, k] if j >= 0]) for k in chosen])
    return rows


def reason_figures(explanation, no_effect: set[str]) -> dict:
    """Lines with a no-effect column named in a shown reason; attribution share of no-effect columns."""
    features = explanation.features
    shown = explanation.shown
    members = explanation.concept_map.members
    feature_points = np.abs(explanation.points.to_numpy())
    reasons = shown_reasons(explanation)
    is_noise = np.asarray([f in no_effect for f in features])
    flagged, noise_total, total = 0, 0.0, 0.0
    for i, row in enumerate(reasons):
        flagged += any(is_noise[j] for _, named in row for j in named)
        for k, _ in row:
            idx = members[k][shown[members[k]]]
            total += feature_points[i, idx].sum()
            noise_total += feature_points[i, idx[is_noise[idx]]].sum()
    return {
        "lines_with_noise_reason": flagged / max(len(reasons), 1),
        "noise_attribution_share": noise_total / total if total else 0.0,
    }


def _fit_world(overrides: dict, seed: int, n_lines: int):
    """Generate a world and fit the default recipe as training does: (contract, history, evaluation,
    registered model, CPU seconds)."""
    from resilience.data.contract import load_data_contract
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame
    from resilience.learn.evaluation import EvaluationConfig, deployable, fit_and_evaluate
    from resilience.learn.models import PersistenceModel
    from resilience.learn.split import SplitConfig, split_history

    contract = load_data_contract("default")
    config = WorldConfig(seed=seed, n_lines=n_lines, **overrides)
    world = generate_world(config)
    history = validate_frame(
        world.history, contract, require_label=True, today=pd.Timestamp(config.end_date)
    ).frame
    start = time.process_time()
    split = split_history(history, contract, SplitConfig(test_weeks=26, horizon_weeks=12))
    evaluation = fit_and_evaluate(
        split,
        contract,
        PersistenceModel(contract, random_state=seed),
        EvaluationConfig(n_bootstrap=20),
    )
    deployed = deployable(evaluation, history, refit_on_all=True)
    return contract, history, split, evaluation, deployed, time.process_time() - start


def _judge(model, screen, evaluation, split, contract, no_effect: set) -> dict:
    """Reason figures under ``screen`` (and today's, unscreened), and the AUC cost of dropping."""
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    from resilience.explain import explain

    model.reason_screen_ = screen
    test = evaluation.test_frame
    explained = explain(model, test)
    after = reason_figures(explained, no_effect)
    before = reason_figures(
        dataclasses.replace(explained, screen=None, _cache={}), no_effect
    )  # today's reasons
    strict = reason_figures(explained, no_effect - set(WORLD_PROXIES))
    features = screen.table[screen.table["kind"] == "feature"]
    unearned = tuple(features.loc[~features["name"].isin(screen.earned_features), "name"])
    noise = tuple(features.loc[~features["beats_null"], "name"])  # what drop mode removes
    dropped = clone(evaluation.model).set_params(exclude=sorted(noise)).fit(split.train)
    y = test[contract.label].astype(int).to_numpy()
    return {
        "auc_cost_drop": evaluation.metrics["roc_auc"]
        - roc_auc_score(y, dropped.persistence_probability(test)),
        "lines_noise_before": before["lines_with_noise_reason"],
        "lines_noise_after": after["lines_with_noise_reason"],
        "share_noise_before": before["noise_attribution_share"],
        "share_noise_after": after["noise_attribution_share"],
        "lines_noise_no_proxy": strict["lines_with_noise_reason"],
        "share_noise_no_proxy": strict["noise_attribution_share"],
        "true_hidden": ", ".join(sorted(set(unearned) - no_effect)) or "-",
        "noise_earned": ", ".join(sorted(set(screen.earned_features) & no_effect)) or "-",
    }


def run_world(
    name: str, overrides: dict, switched_off: tuple, seed: int, n_lines: int, args
) -> list[dict]:
    """One world: fit, screen once, then judge the reasons at each ``--min-ratio`` (same null fits)."""
    from resilience.explain.screen import ScreenConfig, screen_features, screen_from_table
    from resilience.learn.evaluation import EvaluationConfig

    contract, history, split, evaluation, deployed, fit_seconds = _fit_world(
        overrides, seed, n_lines
    )
    screen_config = ScreenConfig(
        permutations=args.permutations,
        quantile=args.quantile,
        min_ratio=args.min_ratio[0],
        max_rows=args.max_rows,
        shap_rows=args.shap_rows,
        materiality_points=args.materiality,
        seed=seed,
        n_jobs=_threads(),
    )
    auc = evaluation.metrics["roc_auc"]
    start = time.process_time()
    result = screen_features(
        deployed, evaluation, split, history, screen_config, EvaluationConfig(n_bootstrap=20)
    )
    screen_seconds = time.process_time() - start
    # hide keeps the model
    assert result.metrics["screen_auc_cost"] == 0.0 and result.model is deployed
    screened = result.model
    screened.reason_screen_ = result.screen
    no_effect = no_effect_columns(overrides, switched_off)
    results = []
    for ratio in args.min_ratio:
        table = screened.reason_screen_.table.copy()
        table["earned"] = (table["importance"] > table["null_quantile"]) & (table["ratio"] >= ratio)
        screen = dataclasses.replace(
            screen_from_table(table, dataclasses.replace(screen_config, min_ratio=ratio)),
            similar_lines=screened.reason_screen_.similar_lines,
        )
        results.append(
            {
                "world": name,
                "seed": seed,
                "n_lines": n_lines,
                "rows": len(history),
                "min_ratio": ratio,
                "auc": auc,
                "auc_cost_hide": 0.0,
                "fit_seconds": fit_seconds,
                "screen_seconds": screen_seconds,
                **_judge(screened, screen, evaluation, split, contract, no_effect),
            }
        )
    return results


def default_world_timing(args) -> None:
    """CPU seconds of the default world's training fits with and without the screen."""
    from resilience.data.contract import load_data_contract
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame
    from resilience.explain.screen import ScreenConfig, screen_features
    from resilience.learn.evaluation import EvaluationConfig, deployable, fit_and_evaluate
    from resilience.learn.models import PersistenceModel
    from resilience.learn.split import SplitConfig, split_history

    contract = load_data_contract("default")
    world = generate_world(WorldConfig())
    history = validate_frame(
        world.history, contract, require_label=True, today=pd.Timestamp(WorldConfig().end_date)
    ).frame
    eval_config = EvaluationConfig(n_bootstrap=20)
    start, wall = time.process_time(), time.perf_counter()
    split = split_history(history, contract, SplitConfig())
    evaluation = fit_and_evaluate(split, contract, PersistenceModel(contract), eval_config)
    deployed = deployable(evaluation, history, refit_on_all=True)
    fit_cpu, fit_wall = time.process_time() - start, time.perf_counter() - wall
    config = ScreenConfig(
        permutations=args.permutations,
        quantile=args.quantile,
        min_ratio=args.min_ratio[0],
        max_rows=args.max_rows,
        shap_rows=args.shap_rows,
        materiality_points=args.materiality,
        n_jobs=_threads(),
    )
    start, wall = time.process_time(), time.perf_counter()
    screen_features(deployed, evaluation, split, history, config, eval_config)
    screen_cpu, screen_wall = time.process_time() - start, time.perf_counter() - wall
    print(
        f"default world ({len(history):,} rows, {deployed.estimator_.n_estimators} trees): fits {fit_cpu:.0f} s CPU "
        f"({fit_wall:.0f} s wall), screen {screen_cpu:.0f} s CPU ({screen_wall:.0f} s wall, {config.workers()} "
        f"thread(s)): training x{(fit_cpu + screen_cpu) / fit_cpu:.2f} in CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds (one world variant per seed, cycling)"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[4000, 9000], help="lines per world"
    )
    parser.add_argument("--permutations", type=int, default=10)
    parser.add_argument("--quantile", type=float, default=0.95)
    parser.add_argument(
        "--min-ratio",
        type=float,
        nargs="+",
        default=[3.5, 3.0],
        help="one or more: each is judged on the same null fits (the first is the run's)",
    )
    parser.add_argument("--max-rows", type=int, default=10_000)
    parser.add_argument("--shap-rows", type=int, default=1_000)
    parser.add_argument("--materiality", type=float, default=1.0)
    parser.add_argument(
        "--default-world-timing",
        action="store_true",
        help="only time the screen on the default (60,000-line) world",
    )
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.default_world_timing:
        default_world_timing(args)
        return
    names = list(VARIANTS)
    results = []
    for s in range(args.seeds):
        name = names[s % len(names)]
        overrides, switched_off = VARIANTS[name]
        for size in args.sizes:
            for result in run_world(name, overrides, switched_off, 101 + s, size, args):
                results.append(result)
                print(
                    f"{name:28s} seed {result['seed']} {size:>6,} lines ({result['rows']:,} rows) "
                    f"min_ratio {result['min_ratio']:g}: noise reasons {result['lines_noise_before']:.1%} -> "
                    f"{result['lines_noise_after']:.1%} of lines, noise attribution {result['share_noise_before']:.1%}"
                    f" -> {result['share_noise_after']:.1%}, AUC {result['auc']:.3f} (drop cost "
                    f"{result['auc_cost_drop']:+.4f}), time x{1 + result['screen_seconds'] / result['fit_seconds']:.2f}; "
                    f"true drivers hidden: {result['true_hidden']}; no-effect earned: {result['noise_earned']}",
                    flush=True,
                )
    summarise(pd.DataFrame(results))


def summarise(frame: pd.DataFrame) -> None:
    print("\nOverall, per min_ratio (targets in brackets):")
    for ratio, part in frame.groupby("min_ratio"):
        print(f"min_ratio {ratio:g}:")
        print(
            f"  lines with a no-effect feature among shown reasons: {part['lines_noise_before'].mean():.1%} "
            f"unscreened -> {part['lines_noise_after'].mean():.1%} screened, worst world "
            f"{part['lines_noise_after'].max():.1%} (<= 1%); not counting the world's proxy "
            f"{', '.join(WORLD_PROXIES)}: mean {part['lines_noise_no_proxy'].mean():.1%}, worst "
            f"{part['lines_noise_no_proxy'].max():.1%}"
        )
        print(
            f"  share of attribution on no-effect features in shown reasons: {part['share_noise_before'].mean():.1%}"
            f" -> {part['share_noise_after'].mean():.1%}, worst {part['share_noise_after'].max():.1%} (<= 5%); "
            f"without the proxy: worst {part['share_noise_no_proxy'].max():.1%}"
        )
        print(
            f"  AUC cost vs unscreened, same run: hide {part['auc_cost_hide'].max():.4f} (same model); "
            f"drop mean {part['auc_cost_drop'].mean():+.4f}, worst {part['auc_cost_drop'].max():+.4f} (<= 0.002)"
        )
    once = frame.drop_duplicates(["world", "seed", "n_lines"])
    print(
        f"training time with the screen / without (evaluated fit + refit on all): "
        f"x{1 + once['screen_seconds'].sum() / once['fit_seconds'].sum():.2f} (screen {once['screen_seconds'].sum():.0f} s, "
        f"fits {once['fit_seconds'].sum():.0f} s, CPU seconds, "
        f"{os.environ.get('RESILIENCE_N_JOBS') or os.cpu_count()} thread(s))"
    )


if __name__ == "__main__":
    main()
