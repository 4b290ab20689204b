"""Scoring benchmark: weekly scoring against LightGBM's own predict + pred_contrib, and memory.

    python benchmarks/score.py                 # 200,000 rows: time ratio; memory at 100,000 vs 1,000,000 rows
    python benchmarks/score.py --rows 100000 --memory-rows 100000 200000   # quicker

Time: validating, scoring, explaining (probability scale, reasons), ranking and writing every
output of a 200,000-row extract, against LightGBM's own ``predict`` + ``predict(pred_contrib=True)``
on the same rows, in one run (target ratio <= 1.5). Memory: peak RSS of a scoring process at two
sizes (target: under 2 GB, growing by less than 20%).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_extract(history: pd.DataFrame, rows: int, label: str, path: Path) -> None:
    """A weekly-style extract of ``rows`` rows (history rows repeated with fresh ids, no label)."""
    repeats = int(np.ceil(rows / len(history)))
    frame = pd.concat([history] * repeats, ignore_index=True).head(rows).drop(columns=[label])
    frame["disruption_id"] = [f"SYN-B{i:09d}" for i in range(len(frame))]
    frame.to_parquet(path, index=False, row_group_size=50_000)


def child(model_path: str, extract: str, out: str) -> None:
    """Score in a fresh process and print its peak memory (ru_maxrss) and seconds."""
    import pickle

    from resilience.score import ModelRef, score_week

    model = pickle.loads(Path(model_path).read_bytes())
    start = time.perf_counter()
    score_week(extract, model, ModelRef("bench", "bench", "1", None), out, today=pd.Timestamp("2026-11-22"))
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--memory-rows", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    import pickle

    from resilience.data.contract import load_data_contract
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame
    from resilience.models import PersistenceModel

    contract = load_data_contract("default")
    history = validate_frame(generate_world(WorldConfig()).history, contract, require_label=True,
                             today=pd.Timestamp("2026-11-22")).frame
    model = PersistenceModel(contract).fit(history)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "model.pkl").write_bytes(pickle.dumps(model))
        extract = tmp / "extract.parquet"
        make_extract(history, args.rows, contract.label, extract)

        frame = validate_frame(pd.read_parquet(extract), contract, today=pd.Timestamp("2026-11-22")).frame
        X = model.prepare(frame)
        start = time.perf_counter()
        model.estimator_.predict(X, raw_score=True)
        model.estimator_.predict(X, pred_contrib=True)
        baseline = time.perf_counter() - start

        result = json.loads(subprocess.run([sys.executable, __file__, "--child", str(tmp / "model.pkl"), str(extract),
                                            str(tmp / "out")], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        print(f"== time, {args.rows:,} rows ==")
        print(f"LightGBM predict + pred_contrib: {baseline:.2f} s")
        print(f"resilience scoring (validate, score, explain, reasons, drift, rank, write): {result['seconds']:.2f} s")
        print(f"ratio {result['seconds'] / baseline:.2f} (target <= 1.5)")

        peaks = []
        for rows in args.memory_rows:
            path = tmp / f"extract_{rows}.parquet"
            make_extract(history, rows, contract.label, path)
            out = json.loads(subprocess.run([sys.executable, __file__, "--child", str(tmp / "model.pkl"), str(path),
                                             str(tmp / f"out_{rows}")], capture_output=True, text=True,
                                            check=True).stdout.strip().splitlines()[-1])
            peaks.append(out["peak_mb"])
            print(f"peak memory at {rows:,} rows: {out['peak_mb']:.0f} MB ({out['seconds']:.1f} s)")
        growth = peaks[1] / peaks[0] - 1
        print(f"memory growth {growth:.0%} from {args.memory_rows[0]:,} to {args.memory_rows[1]:,} rows "
              f"(target < 20%, ratio {growth / 0.2:.2f}); peak {max(peaks):.0f} MB (target < 2048 MB)")


if __name__ == "__main__":
    main()
