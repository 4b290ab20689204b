"""Scoring benchmark: weekly scoring against LightGBM's own predict + pred_contrib, and memory.

    python benchmarks/score.py                 # 200,000 rows: time ratio; memory at 100,000 vs 1,000,000 rows
    python benchmarks/score.py --rows 100000 --memory-rows 100000 200000   # quicker
    python benchmarks/score.py --report --memory-rows 100000 1000000       # the whole weekly run, report included

Time: validating, scoring, explaining (probability scale, reasons), ranking and writing every
output of a 200,000-row extract, against LightGBM's own ``predict`` + ``predict(pred_contrib=True)``
on the same rows, in one run (target ratio <= 1.5). Memory: peak RSS of a scoring process at two
sizes (target: under 2 GB, growing by less than 20%). With ``--report`` each memory run also builds
the week's report (HTML and PDF) inside the atomic folder, as ``resilience-score`` does, and prints
the report's share of the run's time (target: a small fraction). A run whose memory passes
``--rss-limit-mb`` (default 6,000) is stopped and reported as such, so a runaway run cannot starve
the machine.

Measured 2026-11-29 on the shared 2-core machine under heavy load (load average 13-17, so seconds
are inflated; memory is not): scoring alone 771 MB at 100,000 rows and 877 MB at 1,000,000 (+14%);
scoring with the briefing branch's bounded report 797 MB (report 21 s = 11% of 195 s) and 1,226 MB
at 1,000,000 rows (report 10 s = 1% of 849 s; +54%, the growth is the report's).
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


def child(model_path: str, extract: str, out: str, report: str = "no") -> None:
    """Score in a fresh process and print its peak memory (ru_maxrss), seconds and the report's share."""
    import pickle

    from resilience.weekly.score import ModelRef, score_week

    model = pickle.loads(Path(model_path).read_bytes())

    def build(folder, previous):
        from resilience.report import build_report

        build_report(folder, previous)

    start = time.perf_counter()
    result = score_week(
        extract,
        model,
        ModelRef("bench", "bench", "1", None),
        out,
        today=pd.Timestamp("2026-11-22"),
        after_build=build if report == "yes" else None,
    )
    timings = result.manifest.get("timings", {})
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - start,
                "report_seconds": timings.get("report", 0.0),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def run_child(args: list[str], rss_limit_mb: float) -> dict:
    """Run a child; stop it (and say so) when its resident memory passes ``rss_limit_mb``."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0.0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            rss = (
                next(
                    int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
                )
                / 1024
            )
            peak = max(peak, rss)
        except (OSError, StopIteration, ValueError):
            rss = 0.0
        if rss > rss_limit_mb:
            process.kill()
            process.wait()
            return {"stopped": True, "peak_mb": peak}
        time.sleep(0.5)
    stdout, stderr = process.communicate()
    if process.returncode:
        raise SystemExit(f"benchmark child failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--memory-rows", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument(
        "--report", action="store_true", help="also build the report in each memory run"
    )
    parser.add_argument("--rss-limit-mb", type=float, default=6000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    import pickle

    from resilience.data.contract import load_data_contract
    from resilience.data.synthetic import WorldConfig, generate_world
    from resilience.data.validate import validate_frame
    from resilience.learn.models import PersistenceModel

    contract = load_data_contract("default")
    history = validate_frame(
        generate_world(WorldConfig()).history,
        contract,
        require_label=True,
        today=pd.Timestamp("2026-11-22"),
    ).frame
    model = PersistenceModel(contract).fit(history)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "model.pkl").write_bytes(pickle.dumps(model))
        extract = tmp / "extract.parquet"
        make_extract(history, args.rows, contract.label, extract)

        frame = validate_frame(
            pd.read_parquet(extract), contract, today=pd.Timestamp("2026-11-22")
        ).frame
        X = model.prepare(frame)
        start = time.perf_counter()
        model.estimator_.predict(X, raw_score=True)
        model.estimator_.predict(X, pred_contrib=True)
        baseline = time.perf_counter() - start

        result = run_child(
            [str(tmp / "model.pkl"), str(extract), str(tmp / "out"), "no"], args.rss_limit_mb
        )
        print(f"== time, {args.rows:,} rows ==")
        print(f"LightGBM predict + pred_contrib: {baseline:.2f} s")
        print(
            f"resilience scoring (validate, score, explain, reasons, drift, rank, write): {result['seconds']:.2f} s"
        )
        print(f"ratio {result['seconds'] / baseline:.2f} (target <= 1.5)")

        peaks = []
        label = "scoring + report" if args.report else "scoring"
        for rows in args.memory_rows:
            path = tmp / f"extract_{rows}.parquet"
            make_extract(history, rows, contract.label, path)
            out = run_child(
                [
                    str(tmp / "model.pkl"),
                    str(path),
                    str(tmp / f"out_{rows}"),
                    "yes" if args.report else "no",
                ],
                args.rss_limit_mb,
            )
            peaks.append(out["peak_mb"])
            if out.get("stopped"):
                print(
                    f"{label} at {rows:,} rows: STOPPED at {out['peak_mb']:.0f} MB resident "
                    f"(limit --rss-limit-mb {args.rss_limit_mb:.0f})"
                )
                continue
            share = (
                f"; report {out['report_seconds']:.1f} s = {out['report_seconds'] / out['seconds']:.0%} of the run"
                if args.report
                else ""
            )
            print(
                f"peak memory of {label} at {rows:,} rows: {out['peak_mb']:.0f} MB ({out['seconds']:.1f} s{share})"
            )
        growth = peaks[1] / peaks[0] - 1
        print(
            f"memory growth {growth:.0%} from {args.memory_rows[0]:,} to {args.memory_rows[1]:,} rows "
            f"(target < 20%, ratio {growth / 0.2:.2f}); peak {max(peaks):.0f} MB (target < 2048 MB)"
        )


if __name__ == "__main__":
    main()
