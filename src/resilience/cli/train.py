"""resilience-train: one command per experiment; --multirun sweeps with Optuna (child runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from resilience import tracking
from resilience.cli._app import hydra_app
from resilience.core.progress import bar
from resilience.data.asof import resolve_as_of
from resilience.data.contract import DataContract
from resilience.data.io import file_sha256
from resilience.data.validate import load_extract
from resilience.explain.screen import ScreenConfig
from resilience.learn.params import check_params
from resilience.learn.ranges import IntervalConfig
from resilience.learn.segments import maybe_segmented
from resilience.learn.split import SplitConfig
from resilience.pipelines.train import EvaluationConfig, train_and_track
from resilience.pipelines.train_inputs import filter_rows, load_truth, sweep_parent_run


@hydra_app("train")
def main(cfg: DictConfig) -> float | None:
    contract = DataContract.from_dict(cfg.data)
    check_params(
        cfg.model.family, OmegaConf.to_container(cfg.model.params, resolve=True)
    )  # a typo fails before any work
    tracking_config = tracking.TrackingConfig(**OmegaConf.to_container(cfg.mlflow, resolve=True))
    tracking.connect(
        tracking_config
    )  # a tracking server that does not answer fails before any work
    tracking.check_store(must_exist=False)  # ... and so does a damaged local store
    extract = load_extract(cfg.input, contract, require_label=True)
    history = filter_rows(extract.frame, cfg.row_filter)
    # _partial_: the contract is passed as-is (instantiate would turn a dataclass into a dict)
    build_model = hydra.utils.instantiate(cfg.model, _partial_=True)
    model = build_model(
        contract=contract,
        features=OmegaConf.to_container(cfg.features, resolve=True)["include"],
        exclude=list(cfg.features.exclude),
    )
    model = maybe_segmented(
        model, cfg.segment_by
    )  # segment_by: a model per segment behind one pyfunc
    hydra_cfg = HydraConfig.get()
    experiment = hydra_cfg.runtime.choices.get("experiment")
    parent = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        parent = sweep_parent_run(tracking_config, hydra_cfg.sweep.dir, cfg.run_name or "sweep")
        trials = OmegaConf.select(
            cfg, "hydra.sweeper.n_trials", default=None
        ) or hydra_cfg.sweeper.get("n_trials")
        print(
            f"[sweep] trial {int(hydra_cfg.job.num) + 1} of {trials or '?'} {bar(int(hydra_cfg.job.num), trials or 1)}",
            file=sys.stderr,
            flush=True,
        )
    result = train_and_track(
        history,
        contract,
        model,
        split_config=SplitConfig(**OmegaConf.to_container(cfg.split, resolve=True)),
        eval_config=EvaluationConfig(**OmegaConf.to_container(cfg.evaluation, resolve=True)),
        tracking_config=tracking_config,
        params=tracking.flatten(OmegaConf.to_container(cfg, resolve=True)),
        input_path=cfg.input,
        input_sha256=file_sha256(cfg.input),
        truth=load_truth(cfg.truth, Path(cfg.input), contract),
        run_name=cfg.run_name or experiment,
        parent_run_id=parent,
        refit_on_all=cfg.refit_on_all,
        experiment=experiment,
        governance=OmegaConf.to_container(cfg.governance, resolve=True),
        screen=ScreenConfig.from_mapping(OmegaConf.to_container(cfg.explain.screen, resolve=True))
        if "explain" in cfg
        else None,
        intervals=IntervalConfig(**OmegaConf.to_container(cfg.intervals, resolve=True)),
        as_of=resolve_as_of(cfg.as_of, cfg.input, contract),
        artifacts={
            "config/resolved.yaml": OmegaConf.to_yaml(cfg, resolve=True),
            "config/overrides.txt": "\n".join(hydra_cfg.overrides.task),
        },
    )
    metrics = result.evaluation.metrics
    print(
        f"run {result.run_id}: test ROC AUC {metrics['roc_auc']:.3f}, Brier {metrics['brier']:.3f}, "
        f"ECE {metrics['ece']:.3f}"
        + (f" (oracle AUC {metrics['oracle_roc_auc']:.3f})" if "oracle_roc_auc" in metrics else "")
    )
    if result.model_version:
        print(
            f"registered {tracking_config.registered_model_name} version {result.model_version}: {result.promotion.reason}"
        )
        if result.churn:
            churn = result.churn
            print(
                f"against the champion: {churn['band_changed_share']:.0%} of lines change band, median move "
                f"{churn['median_move_points']:.1f} points (90th percentile {churn['p90_move_points']:.1f}), "
                f"{churn.get('top_reason_changed_share', 0):.0%} change top reason"
            )
    print(
        f"see it in MLflow: make mlflow-ui  (tracking URI {tracking.resolve_tracking_uri(tracking_config.tracking_uri)})"
    )
    value = metrics.get(cfg.optimized_metric)
    return float(value) if value is not None else None


if __name__ == "__main__":
    main()
