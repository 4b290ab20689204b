"""resilience-train: one command per experiment; --multirun sweeps with Optuna (child runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs, typed
from resilience.core.progress import bar
from resilience.data.asof import resolve_as_of
from resilience.data.contract import DataContract
from resilience.data.io import file_sha256
from resilience.data.snapshots import find_snapshots
from resilience.data.validate import load_extract
from resilience.explain.screen import ScreenConfig
from resilience.learn.evaluation import EvaluationConfig
from resilience.learn.params import check_params
from resilience.learn.ranges import IntervalConfig
from resilience.learn.records import RecordsConfig
from resilience.learn.split import SplitConfig
from resilience.pipelines.train import (
    FINAL_RECORDS_ONLY,
    TrainingData,
    TrainSettings,
    train_and_track,
)
from resilience.pipelines.train_inputs import filter_rows, load_truth
from resilience.tracking import runs, store


def _sweep_trial(cfg: DictConfig, tracking: store.TrackingConfig) -> str | None:
    """A --multirun trial's parent run (and its progress line); None for a single run."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    parent = runs.sweep_parent_run(tracking, hydra_cfg.sweep.dir, cfg.run_name or "sweep")
    trials = OmegaConf.select(cfg, "hydra.sweeper.n_trials", default=None) or hydra_cfg.sweeper.get(
        "n_trials"
    )
    number = int(hydra_cfg.job.num)
    print(
        f"[sweep] trial {number + 1} of {trials or '?'} {bar(number, trials or 1)}",
        file=sys.stderr,
        flush=True,
    )
    return parent


@hydra_app("train")
def main(cfg: DictConfig) -> float | None:
    contract = DataContract.from_dict(cfg.data)
    # a typo fails before any work
    check_params(cfg.model.family, OmegaConf.to_container(cfg.model.params, resolve=True))
    champion, tracking = tracking_configs(cfg)
    store.connect(tracking)  # a tracking server that does not answer fails before any work
    store.check_store(must_exist=False)  # ... and so does a damaged local store
    extract = load_extract(cfg.input, contract, require_label=True)
    # _partial_: the contract is passed as-is (instantiate would turn a dataclass into a dict)
    recipe = hydra.utils.instantiate(cfg.model, _partial_=True)(
        contract=contract,
        features=OmegaConf.to_container(cfg.features, resolve=True)["include"],
        exclude=list(cfg.features.exclude),
    )
    hydra_cfg = HydraConfig.get()
    experiment = hydra_cfg.runtime.choices.get("experiment")
    data = TrainingData(
        filter_rows(extract.frame, cfg.row_filter),
        contract,
        cfg.input,
        file_sha256(cfg.input),
        truth=load_truth(cfg.truth, Path(cfg.input), contract),
        as_of=resolve_as_of(cfg.as_of, cfg.input, contract),
        snapshots=find_snapshots(cfg.snapshots) if cfg.snapshots else None,
    )
    settings = TrainSettings(
        split=typed(SplitConfig, cfg.split),
        records=typed(RecordsConfig, cfg.records),
        evaluation=typed(EvaluationConfig, cfg.evaluation),
        tracking=tracking,
        champion=champion,
        screen=typed(ScreenConfig, cfg.explain.screen),
        intervals=typed(IntervalConfig, cfg.intervals),
        segment_by=cfg.segment_by,  # a model per segment behind one pyfunc
        refit_on_all=cfg.refit_on_all,
        governance=OmegaConf.to_container(cfg.governance, resolve=True),
        experiment=experiment,
        run_name=cfg.run_name or experiment,
        parent_run_id=_sweep_trial(cfg, tracking),
        params=runs.flatten(OmegaConf.to_container(cfg, resolve=True)),
        artifacts={
            "config/resolved.yaml": OmegaConf.to_yaml(cfg, resolve=True),
            "config/overrides.txt": "\n".join(hydra_cfg.overrides.task),
        },
    )
    result = train_and_track(data, recipe, settings)
    _print_result(result, tracking)
    value = result.evaluation.metrics.get(cfg.optimized_metric)
    return float(value) if value is not None else None


def _print_result(result, tracking: store.TrackingConfig) -> None:
    metrics = result.evaluation.metrics
    print(
        f"run {result.run_id}: test ROC AUC {metrics['roc_auc']:.3f}, Brier {metrics['brier']:.3f}, "
        f"ECE {metrics['ece']:.3f}"
        + (f" (oracle AUC {metrics['oracle_roc_auc']:.3f})" if "oracle_roc_auc" in metrics else "")
    )
    if result.model_version:
        print(
            f"registered {tracking.registered_model_name} version {result.model_version}: "
            f"{result.promotion.reason}"
        )
        if result.churn:
            churn = result.churn
            print(
                f"against the champion: {churn['band_changed_share']:.0%} of lines change band, median move "
                f"{churn['median_move_points']:.1f} points (90th percentile {churn['p90_move_points']:.1f}), "
                f"{churn.get('top_reason_changed_share', 0):.0%} change top reason"
            )
    if not result.as_they_stood:
        print(f"note: {FINAL_RECORDS_ONLY}")
    print(
        f"see it in MLflow: make mlflow-ui  (tracking URI {store.resolve_tracking_uri(tracking.tracking_uri)})"
    )


if __name__ == "__main__":
    main()
