"""Benchmark the synthetic world generator: rows, seconds, rows/second, peak memory, scaling.

Runs the generator at a small size and at 10x that size, each in a fresh process (so peak memory
is that run's own), and prints the ratio of rows/second at 10x to the small size. A ratio of 1
means generation time grows linearly with size (measured: ~0.9 from 60k to 600k lines, i.e.
slightly slower per row at scale as arrays outgrow the CPU caches). CPU seconds are printed beside
wall seconds: on a shared machine the wall time also counts waiting for a core.

    python benchmarks/generate.py                     # default world (60,000 lines) and 10x: ~4 s of CPU
    python benchmarks/generate.py --lines 600         # a test-sized world and 10x
    python benchmarks/generate.py --rows 100000       # ~100k rows and ~1M rows (10x)
    python benchmarks/generate.py --rows 1000000 --no-scale   # one ~1M-row world (~6 s, ~1.7 GB)
    python benchmarks/generate.py --write             # also time write_world into a temp folder

``--rows`` picks the number of lines from the rows per line of a quick pilot world.
Peak memory is the process's peak resident set size (``ru_maxrss``); "baseline" is the same
measure after imports, before generating.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS


def run_once(n_lines: int, seed: int, write: bool) -> dict:
    """Generate one world (and optionally write it) in this process; return its measurements."""
    from resilience.data.synthetic import WorldConfig, generate_world, write_world

    baseline = _peak_rss_mib()
    started, cpu_started = time.perf_counter(), time.process_time()
    world = generate_world(WorldConfig(n_lines=n_lines, seed=seed))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    # Every disruption once: the labelled history plus the latest extract's open disruptions (the
    # earlier weekly extracts repeat disruptions of these two).
    rows = len(world.truth)
    weekly_rows = sum(len(frame) for frame in world.weekly.values())
    result = {
        "lines": n_lines,
        "rows": rows,
        "history_rows": len(world.history),
        "weekly_rows": weekly_rows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }
    if write:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            write_world(world, Path(folder))
            result["write_seconds"] = time.perf_counter() - started
    result["peak_rss_mib"] = _peak_rss_mib()
    result["baseline_rss_mib"] = baseline
    return result


def _in_fresh_process(n_lines: int, seed: int, write: bool) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_once, n_lines, seed, write).result()


def _print(result: dict) -> None:
    line = (
        f"{result['lines']:>10,} lines  {result['rows']:>11,} rows ({result['weekly_rows']:,} weekly)  "
        f"{result['seconds']:7.2f} s (cpu {result['cpu_seconds']:.2f} s)  "
        f"{result['rows'] / result['seconds']:>11,.0f} rows/s  "
        f"peak {result['peak_rss_mib']:7.0f} MiB (baseline {result['baseline_rss_mib']:.0f})"
    )
    if "write_seconds" in result:
        line += f"  write {result['write_seconds']:.2f} s"
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the small and 10x worlds, print the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--lines", type=int, help="lines in the small world (default: WorldConfig().n_lines)"
    )
    size.add_argument("--rows", type=int, help="target rows (history + weekly) in the small world")
    parser.add_argument("--seed", type=int, default=20261128, help="world seed")
    parser.add_argument(
        "--scale", type=int, default=10, help="size of the large world relative to the small"
    )
    parser.add_argument("--no-scale", action="store_true", help="run only the small world")
    parser.add_argument("--write", action="store_true", help="also time write_world (Parquet)")
    args = parser.parse_args(argv)

    from resilience.data.synthetic import WorldConfig

    n_lines = args.lines or WorldConfig().n_lines
    if args.rows:
        pilot = run_once(20_000, args.seed, write=False)
        n_lines = max(1, round(args.rows * pilot["lines"] / pilot["rows"]))
        print(
            f"pilot: {pilot['rows'] / pilot['lines']:.3f} rows per line -> "
            f"{n_lines:,} lines for ~{args.rows:,} rows"
        )

    small = _in_fresh_process(n_lines, args.seed, args.write)
    _print(small)
    if args.no_scale:
        return 0
    large = _in_fresh_process(n_lines * args.scale, args.seed, args.write)
    _print(large)
    ratio = (large["rows"] / large["seconds"]) / (small["rows"] / small["seconds"])
    print(
        f"rows/s at {args.scale}x / rows/s at 1x: {ratio:.2f}  "
        f"(1.0 = linear; below 1 = slower per row at scale, above 1 = fixed costs amortised)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
