"""resilience-train: one command per experiment; ``sweep.n_trials`` > 0 runs an Optuna study of
training runs (child runs of one parent); ``--multirun`` runs a grid."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from resilience.cli._app import hydra_app
from resilience.cli._config import tracking_configs, typed

if TYPE_CHECKING:
    from resilience.data.contract import DataContract
    from resilience.governance.champion import ChampionConfig
    from resilience.pipelines.train import TrainingData, TrainSettings
    from resilience.tracking.runs import ParentRun
    from resilience.tracking.store import TrackingConfig


def _grid_parent(cfg: DictConfig, tracking: TrackingConfig) -> ParentRun | None:
    """A --multirun job's parent run (one per grid, opened with its first child's run; Hydra
    prints each job's overrides); None for a single run."""
    from resilience.tracking import runs

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return runs.grid_parent_run(tracking, hydra_cfg.sweep.dir, cfg.run_name or "grid")


def _job(parent: ParentRun | None):
    """Around a grid's job: its parent spans it and, when it fails, names it (a single run: nothing)."""
    if parent is None:
        return nullcontext()
    return parent.child(f"job {HydraConfig.get().job.num} ({_job_label()})")


def _job_label() -> str:
    """A grid's job by its swept values (``model.params.num_leaves=5``)."""
    from resilience.tracking import runs

    hydra_cfg = HydraConfig.get()
    return runs.grid_job_label(hydra_cfg.sweep.dir, list(hydra_cfg.overrides.task))


@hydra_app("train")
def main(cfg: DictConfig) -> float | None:
    # the library loads once the config is known to be good: a bad one is refused within seconds
    from resilience.cli._rerun import check_same_data, rerun_config
    from resilience.cli._sweep import checked_space, run_study
    from resilience.data.contract import DataContract
    from resilience.data.io import file_sha256
    from resilience.pipelines.sweep import SweepConfig
    from resilience.pipelines.train import train_and_track
    from resilience.tracking import runs, store

    overrides, expected_sha256, rerun_of = None, None, cfg.rerun
    if rerun_of:  # the logged run's config, recomposed (its data's digest is checked below)
        store.connect(tracking_configs(cfg)[1])
        cfg, overrides, expected_sha256 = rerun_config(str(rerun_of))
    contract = DataContract.from_dict(cfg.data)
    sweep = typed(SweepConfig, cfg.sweep)
    space = checked_space(cfg, sweep)  # a typo fails before any work (in the search space too)
    champion, tracking = tracking_configs(cfg)
    store.connect(tracking)  # a tracking server that does not answer fails before any work
    store.check_store(must_exist=False)  # ... and so does a damaged local store
    if rerun_of:
        check_same_data(str(rerun_of), cfg.input, expected_sha256, file_sha256(cfg.input))
    data = training_data(cfg, contract)
    for warning in data.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if sweep.n_trials:  # an Optuna study: one training run per trial

        def train_trial(trial_cfg, trial_tracking, parent, replay):
            recipe_and_settings = _recipe_and_settings(
                trial_cfg, contract, champion, trial_tracking, parent, replay
            )
            return train_and_track(data, *recipe_and_settings)

        return run_study(cfg, sweep, space, data.input_sha256, tracking, train_trial)
    parent = None if rerun_of else _grid_parent(cfg, tracking)
    with _job(parent):
        result = train_and_track(
            data,
            *_recipe_and_settings(
                cfg, contract, champion, tracking, parent, overrides, rerun_of and str(rerun_of)
            ),
        )
        if parent is not None:  # the grid's children read apart by what they swept
            runs.rename_run(result.run_id, _job_label())
    _print_result(result, tracking)
    value = result.evaluation.metrics.get(cfg.optimized_metric)
    return float(value) if value is not None else None


def training_data(cfg: DictConfig, contract: DataContract) -> TrainingData:
    """The labelled history (validated, filtered), where it came from, and the snapshots."""
    from resilience.data.asof import as_of_from_setting
    from resilience.data.io import file_sha256
    from resilience.data.snapshots import find_snapshots
    from resilience.data.validate import load_extract
    from resilience.pipelines.train import TrainingData
    from resilience.pipelines.train_inputs import filter_rows, load_truth, require_both_outcomes

    extract = load_extract(cfg.input, contract, require_label=True)
    frame = filter_rows(extract.frame, cfg.row_filter)
    require_both_outcomes(frame, contract.label, str(cfg.input), cfg.row_filter)
    return TrainingData(
        frame,
        contract,
        cfg.input,
        file_sha256(cfg.input),
        truth=load_truth(cfg.truth, Path(cfg.input), contract),
        as_of=as_of_from_setting(cfg.as_of, cfg.input, contract),
        snapshots=find_snapshots(cfg.snapshots) if cfg.snapshots else None,
    )


def build_recipe(cfg: DictConfig, contract: DataContract):
    """The unfitted model a composed train config describes."""
    # _partial_: the contract is passed as-is (instantiate would turn a dataclass into a dict)
    return hydra.utils.instantiate(cfg.model, _partial_=True)(
        contract=contract,
        features=OmegaConf.to_container(cfg.features, resolve=True)["include"],
        exclude=list(cfg.features.exclude),
    )


def _recipe_and_settings(
    cfg: DictConfig,
    contract: DataContract,
    champion: ChampionConfig,
    tracking: TrackingConfig,
    parent: ParentRun | None,
    overrides: list[str] | None = None,
    rerun_of: str | None = None,
) -> tuple[object, TrainSettings]:
    """The unfitted model and the run's settings, from the composed config (``parent``: a grid's
    or a study's parent run; ``overrides``: what it was composed from, when not the command
    line's: a rerun of the run ``rerun_of``)."""
    from resilience.explain.screen import ScreenConfig
    from resilience.learn.evaluation import EvaluationConfig
    from resilience.learn.ranges import IntervalConfig
    from resilience.learn.records import RecordsConfig
    from resilience.learn.split import SplitConfig
    from resilience.pipelines.train import TrainSettings
    from resilience.tracking import runs

    recipe = build_recipe(cfg, contract)
    hydra_cfg = HydraConfig.get()
    experiment = hydra_cfg.runtime.choices.get("experiment")
    if overrides is not None:
        chosen = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == "experiment"]
        experiment = chosen[-1] if chosen else None
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
        parent=parent,
        rerun_of=rerun_of,
        params=runs.flatten(OmegaConf.to_container(cfg, resolve=True)),
        artifacts={
            "config/resolved.yaml": OmegaConf.to_yaml(cfg, resolve=True),
            "config/overrides.txt": "\n".join(
                hydra_cfg.overrides.task if overrides is None else overrides
            ),
        },
    )
    return recipe, settings


def _print_result(result, tracking: TrackingConfig) -> None:
    from resilience.tracking import store

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
        if result.signed_by_key:
            print(f"signed version {result.model_version} with key {result.signed_by_key}")
        else:
            print(
                f"warning: version {result.model_version} is NOT signed ({result.unsigned_because}), "
                "so scoring refuses it. Once reviewed, sign it: resilience-sign "
                f'version={result.model_version} by=<role> reason="..."',
                file=sys.stderr,
            )
        if result.churn:
            churn = result.churn
            print(
                f"against the champion: {churn['band_changed_share']:.0%} of lines change band, median move "
                f"{churn['median_move_points']:.1f} points (90th percentile {churn['p90_move_points']:.1f}), "
                f"{churn.get('top_reason_changed_share', 0):.0%} change top reason"
            )
    if not result.as_they_stood:
        from resilience.learn.records import FINAL_RECORDS_ONLY

        print(f"note: {FINAL_RECORDS_ONLY}")
    uri = store.resolve_tracking_uri(tracking.tracking_uri)
    link = store.ui_link(result.experiment_id, result.run_id, tracking.tracking_uri)
    where = "" if uri.startswith("http") else "make mlflow-ui, then "
    print(f"see it in MLflow: {where}open {link}  (tracking URI {uri})")


if __name__ == "__main__":
    main()
