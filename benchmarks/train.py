"""Training benchmark: quality against the oracle, and the toolkit's overhead against the model fit.

    python benchmarks/train.py                 # default world (quality) + a 50,000-row world (cost)
    python benchmarks/train.py --trust-cost    # also: training with the reason screen and ranges vs without


Quality (default synthetic world, default model): test ROC AUC within 0.01 of the oracle AUC
(from the true probabilities on the same test rows) and expected calibration error below 0.02.
Cost: everything but fitting models (loading, validation, splitting, metrics, plots, explanations,
MLflow logging, registration, model card) against the fits themselves, by stage.
Cost of trust (``--trust-cost``): the whole training on the default world with the reason screen
and the ranges' refits (the shipped configs) against the same training without them, in one run,
alternating, ``--repeats`` times each (target: ratio <= 3, issue 12).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from resilience.data.contract import load_data_contract
from resilience.data.io import file_sha256
from resilience.data.synthetic import WorldConfig, generate_world, write_world
from resilience.data.validate import load_extract
from resilience.explain.screen import ScreenConfig
from resilience.learn.models import PersistenceModel
from resilience.learn.ranges import IntervalConfig
from resilience.pipelines.train import TrainingData, TrainSettings, train_and_track
from resilience.tracking.store import TrackingConfig


def run(world: WorldConfig, folder: Path, trust: bool = False) -> tuple[dict, dict]:
    contract = load_data_contract("default")
    write_world(generate_world(world), folder)
    path = folder / "disruptions.parquet"
    start = time.perf_counter()
    history = load_extract(path, contract, require_label=True, today=world.end_date).frame
    truth = __import__("pandas").read_parquet(folder / "truth.parquet")[
        ["disruption_id", "true_probability"]
    ]
    load_seconds = time.perf_counter() - start
    settings = TrainSettings(
        tracking=TrackingConfig(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}"),
        screen=_shipped(ScreenConfig, "explain", "screen") if trust else None,
        intervals=_shipped(IntervalConfig, "intervals") if trust else None,
    )
    data = TrainingData(history, contract, path, file_sha256(path), truth=truth)
    result = train_and_track(data, PersistenceModel(contract), settings)
    timings = {
        "load+validate": load_seconds,
        **result.evaluation.timings,
        "total": time.perf_counter() - start,
    }
    return result.evaluation.metrics, timings


def _shipped(kind, group: str, key: str | None = None):
    """The shipped config (configs/<group>/default.yaml) of a stage, as its dataclass."""
    import yaml

    mapping = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "configs" / group / "default.yaml").read_text()
    )
    mapping = mapping[key] if key else mapping
    mapping = {k: v for k, v in mapping.items() if not (isinstance(v, str) and v.startswith("${"))}
    return kind(**mapping)


def trust_cost(folder: Path, repeats: int) -> None:
    """Training with the reason screen and the ranges against the same training without them."""
    seconds = {False: [], True: []}
    for i in range(repeats):
        for trust in (False, True):
            _, timings = run(WorldConfig(), folder / f"trust-{i}-{trust}", trust)
            seconds[trust].append(timings["total"])
    base, full = min(seconds[False]), min(seconds[True])
    print("== cost of trust (default world; best of each) ==")
    print(
        f"training without the screen and ranges {base:.1f} s, with them {full:.1f} s: ratio {full / base:.2f} "
        f"(target <= 3); all runs: without {[round(s, 1) for s in seconds[False]]}, with {[round(s, 1) for s in seconds[True]]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cost-lines", type=int, default=57_000, help="world size for the cost run (~50,000 rows)"
    )
    parser.add_argument(
        "--trust-cost", action="store_true", help="only the cost of the screen and ranges"
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.trust_cost:
        with tempfile.TemporaryDirectory() as tmp:
            trust_cost(Path(tmp), args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp:
        metrics, _ = run(WorldConfig(), Path(tmp) / "default")
        gap = metrics["oracle_roc_auc"] - metrics["roc_auc"]
        print("== quality (default world, default model) ==")
        print(
            f"test ROC AUC {metrics['roc_auc']:.4f}  oracle {metrics['oracle_roc_auc']:.4f}  gap {gap:.4f} "
            f"(target <= 0.01: ratio {gap / 0.01:.2f})"
        )
        print(
            f"expected calibration error {metrics['ece']:.4f} (target < 0.02: ratio {metrics['ece'] / 0.02:.2f}); "
            f"Brier {metrics['brier']:.4f} vs oracle {metrics['oracle_brier']:.4f}"
        )

        _, timings = run(
            replace(WorldConfig(), n_lines=args.cost_lines, seed=11), Path(tmp) / "cost"
        )
        fit = timings.get("fit", 0.0) + timings.get("refit", 0.0)
        overhead = sum(v for k, v in timings.items() if k not in ("fit", "refit"))
        print("== cost (about 50,000 rows) ==")
        for stage, seconds in timings.items():
            print(f"  {stage:<14} {seconds:7.2f} s")
        print(
            f"toolkit overhead {overhead:.2f} s vs model fits {fit:.2f} s: ratio {overhead / fit:.2f} (target <= 1.0)"
        )


if __name__ == "__main__":
    main()
