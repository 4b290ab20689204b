"""resilience-train: one command per experiment; --multirun sweeps with Optuna (child runs)."""
from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from resilience import tracking
from resilience.cli._app import hydra_app
from resilience.data.contract import DataContract
from resilience.data.io import file_sha256
from resilience.data.validate import load_extract
from resilience.experiment import filter_rows, load_truth, sweep_parent_run
from resilience.split import SplitConfig
from resilience.train import EvaluationConfig, train_and_track


@hydra_app("train")
def main(cfg: DictConfig) -> float | None:
    contract = DataContract.from_dict(cfg.data)
    tracking_config = tracking.TrackingConfig(**OmegaConf.to_container(cfg.mlflow, resolve=True))
    tracking.connect(tracking_config)  # a tracking server that does not answer fails before any work
    tracking.check_store(must_exist=False)  # ... and so does a damaged local store
    extract = load_extract(cfg.input, contract, require_label=True)
    history = filter_rows(extract.frame, cfg.row_filter)
    # _partial_: the contract is passed as-is (instantiate would turn a dataclass into a dict)
    build_model = hydra.utils.instantiate(cfg.model, _partial_=True)
    model = build_model(contract=contract, features=OmegaConf.to_container(cfg.features, resolve=True)["include"],
                        exclude=list(cfg.features.exclude))
    hydra_cfg = HydraConfig.get()
    parent = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        parent = sweep_parent_run(tracking_config, hydra_cfg.sweep.dir, cfg.run_name or "sweep")
    result = train_and_track(
        history, contract, model,
        split_config=SplitConfig(**OmegaConf.to_container(cfg.split, resolve=True)),
        eval_config=EvaluationConfig(**OmegaConf.to_container(cfg.evaluation, resolve=True)),
        tracking_config=tracking_config,
        params=tracking.flatten(OmegaConf.to_container(cfg, resolve=True)),
        input_path=cfg.input, input_sha256=file_sha256(cfg.input),
        truth=load_truth(cfg.truth, Path(cfg.input), contract),
        run_name=cfg.run_name or "train", parent_run_id=parent, refit_on_all=cfg.refit_on_all,
        governance=OmegaConf.to_container(cfg.governance, resolve=True),
        artifacts={"config/resolved.yaml": OmegaConf.to_yaml(cfg, resolve=True),
                   "config/overrides.txt": "\n".join(hydra_cfg.overrides.task)},
    )
    metrics = result.evaluation.metrics
    print(f"run {result.run_id}: test ROC AUC {metrics['roc_auc']:.3f}, Brier {metrics['brier']:.3f}, "
          f"ECE {metrics['ece']:.3f}" + (f" (oracle AUC {metrics['oracle_roc_auc']:.3f})" if "oracle_roc_auc" in metrics else ""))
    if result.model_version:
        print(f"registered {tracking_config.registered_model_name} version {result.model_version}: {result.promotion.reason}")
    print(f"see it in MLflow: make mlflow-ui  (tracking URI {tracking.resolve_tracking_uri(tracking_config.tracking_uri)})")
    value = metrics.get(cfg.optimized_metric)
    return float(value) if value is not None else None


if __name__ == "__main__":
    main()
