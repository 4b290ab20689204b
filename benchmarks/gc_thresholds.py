"""Garbage-collector benchmark: ``resilience-train`` as a new process with the toolkit's collector
thresholds (``resilience.cli._app.GC_THRESHOLDS``) against the same command at Python's defaults,
in one run, taking turns.

A tiny synthetic world (1,500 lines) and a local SQLite store are made in a temporary folder, with
a throwaway signing key; one training makes the store (untimed). Then ``--runs`` pairs of
trainings, each a new interpreter (what a user or a scheduler starts), the baseline and the
toolkit's thresholds in turn. Prints the median CPU seconds of each process (user + system), the
seconds its collector spent (``gc.callbacks``), the passes by generation and the peak memory, and
the ratio toolkit / baseline of the CPU.

    python benchmarks/gc_thresholds.py             # 3 pairs
    python benchmarks/gc_thresholds.py --runs 5

Measured 2026-12-05 on the shared 2-core machine, three runs of 3 pairs (medians): the collector
0.52-0.65 s against 1.49-1.74 s (ratio 0.35-0.39), in 94 young, 9 middle and 1 full pass against
1,446, 132 and 9; CPU 7.6-8.5 s against 9.5-10.2 s (ratio 0.80-0.88); peak memory 450-452 MB
against 448-453.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MARK = "gc-benchmark "
# the command's own main(), after the thresholds it sets are replaced by Python's (the baseline)
RUNNER = """
import gc, json, resource, sys, time
from resilience.cli import _app
if sys.argv[1] == "python":
    _app.GC_THRESHOLDS = (700, 10, 10)
spent, started, passes = [0.0], [0.0], [0, 0, 0]
def timer(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        spent[0] += time.perf_counter() - started[0]
        passes[info["generation"]] += 1
gc.callbacks.append(timer)
from resilience.cli.train import main
sys.argv = ["resilience-train", *sys.argv[2:]]
try:
    main()
except SystemExit:
    pass
usage = resource.getrusage(resource.RUSAGE_SELF)
print("MARK" + json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "gc": spent[0],
      "passes": passes, "rss_mb": usage.ru_maxrss / 1024}), file=sys.stderr)
""".replace("MARK", MARK)


def make_world(folder: Path) -> dict:
    """The world, a signing key, and the environment a training there runs in."""
    from resilience.data.synthetic import WorldConfig, generate_world, write_world
    from resilience.tracking import signing

    write_world(generate_world(WorldConfig(n_lines=1500, seed=5)), folder / "world")
    signing.new_key_pair(folder / "key.pem", folder / "trusted", "benchmark")
    return {
        **os.environ,
        signing.KEY_ENV: str(folder / "key.pem"),
        signing.TRUSTED_ENV: str(folder / "trusted"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "RESILIENCE_N_JOBS": "1",
        # one thread each for OpenBLAS and OpenMP: their idle threads would add CPU of their own
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


def train(folder: Path, env: dict, thresholds: str, run: int) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            thresholds,
            f"input={folder / 'world' / 'disruptions.parquet'}",
            f"hydra.run.dir={folder / 'runs' / str(run)}",
            "explain.screen.permutations=2",
            "explain.screen.resamples=2",
            "intervals.n_models=2",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"the training failed:\n{result.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix(MARK))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = make_world(folder)
        train(folder, env, "toolkit", 0)  # makes the store
        measured: dict[str, list[dict]] = {"python": [], "toolkit": []}
        for run in range(args.runs):
            for turn, thresholds in enumerate(measured):
                measured[thresholds].append(train(folder, env, thresholds, 2 * run + turn + 1))
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in ("cpu", "gc", "rss_mb")}
        for name, runs in measured.items()
    }
    for name, label in (("python", "Python's defaults"), ("toolkit", "the toolkit's")):
        m = medians[name]
        passes = " ".join(str(r["passes"]) for r in measured[name])
        print(
            f"{label:18s} collector {m['gc']:4.2f} s  CPU {m['cpu']:5.1f} s  "
            f"peak memory {m['rss_mb']:.0f} MB  (passes by generation, each run: {passes})"
        )
    gc_ratio = medians["toolkit"]["gc"] / medians["python"]["gc"]
    cpu_ratio = medians["toolkit"]["cpu"] / medians["python"]["cpu"]
    print(f"ratio toolkit / baseline: collector {gc_ratio:.2f}, CPU {cpu_ratio:.2f}")


if __name__ == "__main__":
    main()
