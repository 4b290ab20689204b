"""Benchmark explanations: overhead over LightGBM's own TreeSHAP, model capacity, flat memory.

One command; every ratio is measured in the same run, on the default synthetic world:

* **Overhead** — explaining ``--rows`` rows with :func:`resilience.explain.explain_frame` (model
  input preparation, TreeSHAP, additivity check, percentage points, concepts, 3 + 3 reasons and a
  summary per row, written to Parquet) against LightGBM's own ``Booster.predict(X,
  pred_contrib=True)`` on the same model and the same, already prepared rows. The two are timed
  chunk by chunk in alternation (A B, B A, ...), so load from other processes on the machine hits
  both alike. Target: ratio <= 1.3. Also times ``shap.TreeExplainer`` on a sample, to check it
  gives the same values and which of the two is faster.
* **Capacity** — the default model (``PersistenceModel``, trees chosen by early stopping) against
  an untuned LightGBM (300 trees, 31 leaves, LightGBM's default settings) fitted on the same
  training rows: test AUC of each and explanation seconds per row (timed A B B A). Target: the
  default model at least 3x cheaper to explain at equal or better AUC.
* **Memory** — peak resident memory added by the chunked run above (``--rows`` rows) against the
  same run on 20,000 rows (same chunk size), each in a fresh process. Target: within 20%. Linux resets the peak
  with ``/proc/self/clear_refs`` so the figure is the explanation's own; elsewhere the process's
  lifetime peak (``ru_maxrss``) is used and says so.

    python benchmarks/explain.py                    # 200,000 rows: ~4-5 min on 2 cores
    python benchmarks/explain.py --rows 50000       # ~1.5 min
    python benchmarks/explain.py --rows 200000 --chunk-rows 20000 --capacity-rows 5000

The rows to explain are the world's history and weekly rows, repeated until there are ``--rows``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import pickle
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

UNTUNED = {  # LightGBM's own defaults, with the tree count and size the comparison asks for
    "n_estimators": 300,
    "num_leaves": 31,
    "learning_rate": 0.1,
    "min_child_samples": 20,
    "subsample": 1.0,
    "subsample_freq": 0,
    "colsample_bytree": 1.0,
    "reg_lambda": 0.0,
    "cat_smooth": 10.0,
    "min_data_per_group": 100,
    "max_cat_to_onehot": 4,
}
MEMORY_SMALL_ROWS = 20_000


# ----------------------------------------------------------------------------------------------
# Memory measurement
# ----------------------------------------------------------------------------------------------
def _status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark for this process (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# ----------------------------------------------------------------------------------------------
# Worker: one fresh process per measurement
# ----------------------------------------------------------------------------------------------
def explain_in_this_process(
    model_path: str, frame_path: str, rows: int, chunk_rows: int, baseline: bool
) -> dict:
    """Explain ``rows`` rows chunk by chunk with ``explain_frame``, timing each chunk and the added
    peak memory. With ``baseline``, LightGBM's own pred_contrib is timed on each same chunk right
    after (or, on odd chunks, right before) it, so both see the same load from other processes."""
    import pandas as pd

    from resilience.explain import explain_frame

    warnings.filterwarnings("ignore")
    with open(model_path, "rb") as handle:
        model = pickle.load(handle)
    frame = pd.read_pickle(frame_path).iloc[:rows]
    booster = model.estimator_.booster_
    result = {
        "rows": len(frame),
        "chunk_rows": chunk_rows,
        "explain_seconds": 0.0,
        "pred_contrib_seconds": 0.0,
    }
    with tempfile.TemporaryDirectory() as folder:
        # Warm up on a few rows so that loading libraries (pyarrow, LightGBM's predictor) is not
        # counted as memory the explanation needs.
        explain_frame(
            model, frame.iloc[:100], chunk_rows=chunk_rows, path=Path(folder) / "warm.parquet"
        )
        exact_peak = _reset_peak()
        before = _status_kib("VmRSS") if exact_peak else None

        def ours(number: int, chunk) -> None:
            start = time.perf_counter()
            explain_frame(
                model,
                chunk,
                chunk_rows=chunk_rows,
                path=Path(folder) / f"reasons-{number:04d}.parquet",
            )
            result["explain_seconds"] += time.perf_counter() - start

        def theirs(chunk) -> None:
            X = model.prepare(chunk)  # LightGBM gets the model's input matrix, ready made
            start = time.perf_counter()
            booster.predict(X, pred_contrib=True)
            result["pred_contrib_seconds"] += time.perf_counter() - start

        for number, first in enumerate(range(0, len(frame), chunk_rows)):
            chunk = frame.iloc[first : first + chunk_rows]
            if baseline and number % 2:
                theirs(chunk)
            ours(number, chunk)
            if baseline and not number % 2:
                theirs(chunk)
        if exact_peak:
            result["added_peak_mib"] = (_status_kib("VmHWM") - before) / 1024
            result["peak_kind"] = "peak RSS added while explaining, VmHWM reset before"
        else:
            result["added_peak_mib"] = _peak_rss_mib()
            result["peak_kind"] = "process lifetime peak RSS (ru_maxrss; no peak reset on this OS)"
        result["peak_rss_mib"] = _peak_rss_mib()
    return result


def _in_fresh_process(*args) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(explain_in_this_process, *args).result()


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------
def fit_models(contract, train):
    from resilience.learn.models import PersistenceModel

    start = time.perf_counter()
    default = PersistenceModel(contract, family="lightgbm").fit(train)
    default_seconds = time.perf_counter() - start
    start = time.perf_counter()
    untuned = PersistenceModel(
        contract, family="lightgbm", params=UNTUNED, early_stopping_rounds=0
    ).fit(train)
    untuned_seconds = time.perf_counter() - start
    assert untuned.capacity()["trees"] == UNTUNED["n_estimators"], untuned.capacity()
    return default, untuned, default_seconds, untuned_seconds


def _explain_seconds(model, rows) -> float:
    from resilience.explain import explain

    start = time.perf_counter()
    explain(model, rows).reasons_frame()
    return time.perf_counter() - start


def _compare_shap(model, rows) -> dict:
    """pred_contrib vs shap.TreeExplainer on the same prepared rows: time and largest difference."""
    import numpy as np

    X = model.prepare(rows)
    booster = model.estimator_.booster_
    start = time.perf_counter()
    contrib = booster.predict(X, pred_contrib=True)[:, :-1]
    lgbm_seconds = time.perf_counter() - start
    try:
        import shap
    except ImportError:
        return {"pred_contrib_seconds": lgbm_seconds}
    start = time.perf_counter()
    values = shap.TreeExplainer(booster).shap_values(X)
    shap_seconds = time.perf_counter() - start
    values = values[1] if isinstance(values, list) else values
    return {
        "pred_contrib_seconds": lgbm_seconds,
        "shap_seconds": shap_seconds,
        "max_difference": float(np.abs(np.asarray(values) - contrib).max()),
    }


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the three benchmarks, print the measurements and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=200_000, help="rows to explain for overhead and memory"
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=MEMORY_SMALL_ROWS, help="explain_frame chunk size"
    )
    parser.add_argument(
        "--capacity-rows", type=int, default=4_000, help="test rows timed per model for capacity"
    )
    parser.add_argument(
        "--shap-rows", type=int, default=5_000, help="rows for the pred_contrib vs shap check"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="world seed (default: WorldConfig's)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from resilience.data.contract import load_data_contract
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame
    from resilience.learn.split import SplitConfig, split_by_line_and_time

    started = time.perf_counter()
    contract = load_data_contract("default")
    config = WorldConfig() if args.seed is None else WorldConfig(seed=args.seed)
    world = generate_world(config)
    today = pd.Timestamp(config.end_date)
    history = validate_frame(world.history, contract, require_label=True, today=today).frame
    weekly = pd.concat(
        [validate_frame(f, contract, today=today).frame for f in world.weekly.values()],
        ignore_index=True,
    )
    train_idx, test_idx, _ = split_by_line_and_time(
        history, contract.date_column, contract.line_column, SplitConfig()
    )
    train, test = (
        history.loc[train_idx].reset_index(drop=True),
        history.loc[test_idx].reset_index(drop=True),
    )
    print(
        f"world: {len(history):,} labelled rows ({len(train):,} train, {len(test):,} test), "
        f"{len(weekly):,} weekly rows",
        flush=True,
    )

    # -- capacity -------------------------------------------------------------------------------
    default, untuned, default_fit, untuned_fit = fit_models(contract, train)
    y_test = test[contract.label].astype(int).to_numpy()
    sample = test.sample(min(args.capacity_rows, len(test)), random_state=0)
    models = (
        ("default (early-stopped)", default, default_fit),
        ("untuned (300 x 31 leaves)", untuned, untuned_fit),
    )
    seconds = [0.0, 0.0]
    for which in (0, 1, 1, 0):  # A B B A: both models see the same drift in machine load
        seconds[which] += _explain_seconds(models[which][1], sample)
    rows_out = []
    for (name, model, fit_seconds), spent in zip(models, seconds):
        auc = roc_auc_score(y_test, model.persistence_probability(test))
        per_row = spent / (2 * len(sample))
        capacity = model.capacity()
        rows_out.append((name, capacity, auc, per_row))
        print(
            f"{name:<27} {capacity['trees']:>4} trees {capacity['leaves']:>6} leaves  fit {fit_seconds:6.1f} s  "
            f"test AUC {auc:.4f}  explain {per_row * 1e6:8.1f} us/row",
            flush=True,
        )
    cost_ratio = rows_out[1][3] / rows_out[0][3]
    auc_gap = rows_out[0][2] - rows_out[1][2]
    print(
        f"capacity: untuned / default explanation cost = {cost_ratio:.2f}x (target >= 3), "
        f"AUC default - untuned = {auc_gap:+.4f} (target >= 0)",
        flush=True,
    )

    comparison = _compare_shap(
        default,
        sample.iloc[: args.shap_rows]
        if len(sample) >= args.shap_rows
        else test.iloc[: args.shap_rows],
    )
    if "shap_seconds" in comparison:
        print(
            f"TreeSHAP on {min(args.shap_rows, len(test)):,} rows: LightGBM pred_contrib "
            f"{comparison['pred_contrib_seconds']:.2f} s, shap.TreeExplainer {comparison['shap_seconds']:.2f} s, "
            f"largest difference {comparison['max_difference']:.1e}",
            flush=True,
        )

    # -- overhead and memory (fresh processes) ---------------------------------------------------
    pool = pd.concat([history.drop(columns=[contract.label]), weekly], ignore_index=True)
    repeats = int(np.ceil(args.rows / len(pool)))
    big = pd.concat([pool] * repeats, ignore_index=True).iloc[: args.rows]
    with tempfile.TemporaryDirectory() as folder:
        model_path, frame_path = Path(folder) / "model.pkl", Path(folder) / "frame.pkl"
        with open(model_path, "wb") as handle:
            pickle.dump(default, handle)
        big.to_pickle(frame_path)
        del big
        large = _in_fresh_process(
            str(model_path), str(frame_path), args.rows, args.chunk_rows, True
        )
        small = _in_fresh_process(
            str(model_path),
            str(frame_path),
            min(MEMORY_SMALL_ROWS, args.rows),
            args.chunk_rows,
            True,
        )
    overhead = large["explain_seconds"] / large["pred_contrib_seconds"]
    print(
        f"overhead on {large['rows']:,} rows (chunks of {args.chunk_rows:,}, timed alternately): explain_frame "
        f"{large['explain_seconds']:.1f} s (prepare, TreeSHAP, additivity, points, concepts, reasons, Parquet) "
        f"vs LightGBM pred_contrib {large['pred_contrib_seconds']:.1f} s: ratio {overhead:.3f} (target <= 1.3)",
        flush=True,
    )
    print(
        f"memory ({large['peak_kind']}, chunks of {args.chunk_rows:,} rows): "
        f"{large['rows']:,} rows {large['added_peak_mib']:.0f} MiB, {small['rows']:,} rows "
        f"{small['added_peak_mib']:.0f} MiB: ratio {large['added_peak_mib'] / small['added_peak_mib']:.2f} "
        f"(target <= 1.2); whole-process peaks {large['peak_rss_mib']:.0f} / {small['peak_rss_mib']:.0f} MiB "
        f"(these include the input frame)",
        flush=True,
    )
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
