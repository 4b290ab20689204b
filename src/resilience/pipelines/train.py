"""The train command's pipeline: split once, fit and evaluate, screen the reasons, fit the ranges,
gather the evidence, then track, register and (maybe) promote.

Each step returns its result and this module assembles them: :func:`train` is pure (frames in,
a :class:`Trained` model and its numbers out, nothing written); :func:`train_and_track` adds MLflow:
params, datasets, metrics (per slice too), artifacts, plots, the model with its evidence beside
it, its registered version and the champion decision (:mod:`resilience.governance.promotion`).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from resilience.core.progress import Stages
from resilience.core.weeks import iso_weeks
from resilience.data.asof import AsOf, check_training_extract
from resilience.data.contract import DataContract
from resilience.data.extract_sample import sample_of
from resilience.data.snapshots import SnapshotFolder
from resilience.explain import Explanation, global_view
from resilience.explain.screen import ReasonScreen, ScreenConfig, screen_features
from resilience.governance.champion import ChampionConfig, PromotionDecision, Recipe
from resilience.learn.by_age import age_metric_names, by_record_age
from resilience.learn.evaluation import (
    PROBABILITY,
    Evaluation,
    EvaluationConfig,
    compare_with,
    deployable,
    fit_and_evaluate,
)
from resilience.learn.evidence import ModelEvidence
from resilience.learn.families import family as family_of
from resilience.learn.metrics import (
    calibration_table,
    capacity_curve,
    cohort_groups,
)
from resilience.learn.plots import (
    plot_calibration,
    plot_lift_and_gain,
    plot_precision_at_k,
    plot_precision_recall_at_k,
    plot_roc,
)
from resilience.learn.ranges import INTERVAL_COLUMNS, IntervalConfig, attach_ranges, fit_ranges
from resilience.learn.records import (
    AS_THEY_STOOD,
    FINAL_RECORDS_ONLY,
    RecordsAsTheyStood,
    RecordsConfig,
    records_as_they_stood,
    records_note,
)
from resilience.learn.segments import maybe_segmented
from resilience.learn.split import SplitConfig, split_history
from resilience.pipelines.train_evidence import (
    build_evidence,
    explanation_fidelity,
)
from resilience.pipelines.train_registration import decide_and_sign
from resilience.tracking import pyfunc, registry, runs, vetting
from resilience.tracking.run_page import (
    display_run_name,
    grouped_slice_metric_names,
    headline_metric_names,
    labels_to,
    slice_metric_names,
)
from resilience.tracking.store import TrackingConfig

log = logging.getLogger(__name__)
CONTRACT_PARAMS = ("data.name", "data.contract_version", "data.horizon_weeks")
# Config sections kept out of params: prose for the model card (in config/resolved.yaml)
PROSE_SECTIONS = ("governance.",)
# The metrics a run page leads with, in its "headline" section; per-slice ones group under "slice/"
BY_AGE_TABLE = "tables/metrics_by_record_age.csv"
RUN_DESCRIPTION_TAG = "mlflow.note.content"  # the description MLflow's run page shows
RERUN_TAG = "rerun_of"  # the run a rerun reproduces
RECORDS_TAG = "records"  # how the run's rows were recorded: as they stood, or final only


@dataclass(frozen=True)
class TrainingData:
    """The labelled history and what a run records about where it came from. ``truth``: a
    synthetic world's true probabilities (evaluation only, never trained on); ``as_of``: when the
    extract was taken (labels younger than the horizon are refused, :mod:`resilience.data.asof`);
    ``snapshots``: weekly extracts holding the records as they stood (:mod:`resilience.data.
    snapshots`; None: the history's final records only)."""

    history: pd.DataFrame
    contract: DataContract
    input_path: str | Path
    input_sha256: str
    truth: pd.DataFrame | None = None
    as_of: AsOf | None = None
    snapshots: SnapshotFolder | None = None

    @property
    def warnings(self) -> list[str]:
        """What the run, its model card and every briefing of its model must say (the label-age
        guard switched off with ``as_of=unchecked``)."""
        return [self.as_of.warning] if self.as_of and self.as_of.warning else []


@dataclass(frozen=True)
class TrainSettings:
    """How a run trains and what it records (the train command's config, typed).

    ``segment_by``: a model per segment (:mod:`resilience.learn.segments`), compared with the
    single model on the same split; ``screen`` / ``intervals``: the reason screen and the ranges
    (None or not enabled: none); ``experiment``: the experiment config chosen (None: the default
    recipe; only the production recipe competes for champion automatically); ``run_name`` names
    the recipe; ``parent``: the grid's or study's parent run (:class:`~resilience.tracking.runs.
    ParentRun`); ``params`` and ``artifacts`` (file name -> text) are logged as they are.
    """

    split: SplitConfig = field(default_factory=SplitConfig)
    records: RecordsConfig = field(default_factory=RecordsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    champion: ChampionConfig = field(default_factory=ChampionConfig)
    screen: ScreenConfig | None = None
    intervals: IntervalConfig | None = None
    segment_by: str | None = None
    refit_on_all: bool = True
    governance: dict = field(default_factory=dict)
    experiment: str | None = None
    run_name: str | None = None
    parent: runs.ParentRun | None = None  # a grid's or a study's, opened with this run
    rerun_of: str | None = None  # the logged run this one trains again (resilience-train rerun=)
    params: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    progress: bool = True


@dataclass
class Trained:
    """A trained model and everything measured about it, before anything is logged."""

    model: object
    evaluation: Evaluation
    evidence: ModelEvidence
    explanation: Explanation
    recipe: Recipe
    coverage: pd.DataFrame
    by_age: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows: RecordsAsTheyStood | None = None  # the rows it was made of (learn/records.py)

    @property
    def as_they_stood(self) -> bool:
        """Learnt from records as they stood in the weekly extracts (else final records only)."""
        return self.rows.summary.get("records") == AS_THEY_STOOD


@dataclass
class TrainResult:
    evaluation: Evaluation
    run_id: str
    model_version: str | None
    promotion: PromotionDecision | None
    evidence: ModelEvidence | None = None
    churn: dict | None = None
    signed_by_key: str | None = None  # the key that signed the registered version; None: unsigned
    unsigned_because: str = ""
    as_they_stood: bool = False  # trained on records as they stood (weekly snapshots)
    experiment_id: str | None = None


def training_rows(data: TrainingData, settings: TrainSettings, stages: Stages):
    """The split (made once, on the labelled history) and the rows every step uses: records as
    they stood when snapshots are given (:mod:`resilience.learn.records`), else the history's
    final records (and the run says what that means)."""
    with stages.stage("split", "split by line and time"):
        split = split_history(data.history, data.contract, settings.split)
    if data.snapshots is None:
        log.warning("%s", FINAL_RECORDS_ONLY)
        return RecordsAsTheyStood(split, data.history, data.history, {"records": "final"})
    with stages.stage(
        "snapshots", f"records as they stood, from {len(data.snapshots.files)} weekly extracts"
    ):
        stood = records_as_they_stood(
            data.history, split, data.contract, data.snapshots, settings.records
        )
    return replace(stood, summary={"records": AS_THEY_STOOD, **stood.summary})


def _fit_ranges(model, evaluation: Evaluation, split, settings: TrainSettings, truth, stages):
    """Every line's range (when ``intervals`` are enabled): the ensemble attached to ``model``,
    the test period's ranges and their metrics added to ``evaluation``. Returns (coverage table,
    ensembles), empty and None without ranges."""
    if settings.intervals is None or not settings.intervals.enabled:
        return pd.DataFrame(), None
    with stages.stage("intervals", "fit the ensemble that gives every line a range"):
        ranges = fit_ranges(evaluation, split, settings.intervals, truth)
    attach_ranges(model, ranges.ensembles)
    evaluation.metrics.update(ranges.metrics)
    for column in INTERVAL_COLUMNS:
        evaluation.test_predictions[column] = ranges.test_ranges[column].to_numpy()
    return ranges.coverage, ranges.ensembles


def registered_champion(settings: TrainSettings) -> vetting.LoadedModel | None:
    """The champion this run will be compared with, vetted and unpickled once (with the model it
    was evaluated as): its screen's verdicts are kept (:func:`champion_screen`) and the champion
    rule compares with it. None when the run registers nothing, there is no champion yet, or the
    champion does not pass vetting (never unpickled; the champion rule then leaves the new version
    challenger and says why)."""
    tracking = settings.tracking
    if not tracking.register:
        return None
    current = registry.champion_version(tracking.registered_model_name)
    if current is None:
        return None
    try:
        return vetting.load_vetted_model(
            f"models:/{tracking.registered_model_name}/{current.version}",
            evaluation_model=True,
            trusted_keys=tracking.trusted_keys,
        )
    except vetting.UnvettedModel as exc:
        log.warning("the champion's reasons are not kept: %s", exc)
        return None


def champion_screen(
    settings: TrainSettings, champion: vetting.LoadedModel | None
) -> ReasonScreen | None:
    """The ``champion``'s reason screen (:func:`registered_champion`), whose verdicts this run's
    screen keeps while its own evidence stays clear (``explain.screen.keep_ratio``); None when
    nothing is kept: no screen or no keeping, or no champion."""
    screen = settings.screen
    if champion is None or not (screen and screen.enabled and screen.keep_ratio):
        return None
    return getattr(champion.model, "reason_screen_", None)


def train(
    data: TrainingData,
    recipe,
    settings: TrainSettings,
    stages: Stages,
    champion: ReasonScreen | None = None,
) -> Trained:
    """Every step of training, assembled: split once (records as they stood when snapshots are
    given), fit and evaluate (and compare segment models with the single model), refit on every
    labelled disruption, screen the reasons (keeping the ``champion`` screen's verdicts that this
    run's evidence still supports), fit the ranges, judge them by record age, gather the
    evidence. The ``recipe`` (an unfitted model) is fitted in place."""
    contract = data.contract
    check_training_extract(data.history, contract, data.as_of, source=str(data.input_path))
    rows = training_rows(data, settings, stages)
    split = rows.split
    model = maybe_segmented(recipe, settings.segment_by)
    evaluation = fit_and_evaluate(split, contract, model, settings.evaluation, data.truth, stages)
    if model is not recipe:  # segment models: the single model on the same split
        evaluation.metrics.update(
            compare_with(recipe, evaluation, split, settings.evaluation, data.truth)
        )
    if settings.refit_on_all:
        with stages.stage("refit", f"refit on all {len(rows.all_rows):,} labelled rows"):
            model = deployable(evaluation, rows.all_rows, refit_on_all=True)
    screening = settings.screen is not None and settings.screen.enabled
    # a reason must be earned; the screen is often the longest stage, so it says when it is done
    with stages.stage("screen", "screen the reasons") if screening else nullcontext():
        screened = screen_features(
            model, evaluation, split, rows.all_rows, settings.screen, settings.evaluation, champion
        )
    model, evaluation = screened.model, screened.evaluation
    evaluation.metrics.update(screened.metrics)
    evaluation.timings.update(screened.timings)
    model.reason_screen_ = evaluation.model.reason_screen_ = screened.screen
    coverage, ensembles = _fit_ranges(model, evaluation, split, settings, data.truth, stages)
    config = settings.evaluation
    by_age = by_record_age(
        evaluation.model, split.test_by_age, contract, data.truth, ensembles, config.n_bins
    )
    evaluation.metrics.update(age_metric_names(by_age))
    recipe_record = Recipe.of(model, settings.experiment)
    with stages.stage("explain", "explain the test period, fairness and drift reference"):
        evidence, explanation = build_evidence(
            model, evaluation, rows.scoring_rows, contract, config, recipe_record, by_age
        )
    sample = sample_of(data.history, contract)  # what tells a later champion rule the same data
    evidence = replace(evidence, warnings=data.warnings, labelled_sample=sample)
    return Trained(model, evaluation, evidence, explanation, recipe_record, coverage, by_age, rows)


def _run_tags(trained: Trained, data: TrainingData, settings: TrainSettings) -> dict[str, str]:
    """The training run's tags: code, data, recipe, records and warnings (and, on final records
    only, the description that says so until the full one is written)."""
    model = trained.model
    tags = {
        "git_commit": runs.git_commit(),
        "data_sha256": data.input_sha256,
        "data_config": data.contract.name,
        "input": str(data.input_path),
        "model_family": model.family,
        "recipe": settings.run_name or f"{model.family}-default",
        RECORDS_TAG: records_note(trained.rows.summary),
        **{f"warning.{i + 1}": w[:5000] for i, w in enumerate(data.warnings)},
    }
    if settings.rerun_of:  # the run page links the run it reproduces
        tags[RERUN_TAG] = settings.rerun_of
    if not trained.as_they_stood:
        tags[RUN_DESCRIPTION_TAG] = FINAL_RECORDS_ONLY
    return tags


def train_and_track(data: TrainingData, recipe, settings: TrainSettings) -> TrainResult:
    """:func:`train`, then log everything to MLflow, register, and apply the champion rule.

    With ``intervals`` enabled the registered model carries the ranges (:mod:`resilience.learn.
    ranges`); their widening and coverage are logged as ``test_interval_*``.
    """
    stages = Stages("train", enabled=settings.progress)
    started_ms = int(time.time() * 1000)  # the run page's Duration covers the fit, not only logging
    champion = registered_champion(settings)
    trained = train(data, recipe, settings, stages, champion_screen(settings, champion))
    model, evaluation, contract = trained.model, trained.evaluation, data.contract
    name = display_run_name(settings.run_name, model.family, contract, data.history)
    with runs.start_run(
        settings.tracking,
        run_name=name,
        parent=settings.parent,
        tags=_run_tags(trained, data, settings),
        started_ms=started_ms,
    ) as run:
        with stages.stage("plots_and_logging", "log params, datasets, metrics, tables and plots"):
            _log_run_contents(trained, data, settings)
        register = settings.tracking.registered_model_name if settings.tracking.register else None
        with stages.stage("log_model", "log the model" + (" and register it" if register else "")):
            info = pyfunc.log_persistence_model(model, trained.rows.scoring_rows.head(5), register)
        version = (
            str(info.registered_model_version)
            if register and info.registered_model_version
            else None
        )
        promotion, churn, signed = None, None, (None, "")
        if version:
            with stages.stage("register_and_card", "champion rule, model card and signature"):
                promotion, churn, signed = decide_and_sign(
                    trained,
                    contract,
                    register,
                    version,
                    run.info.run_id,
                    settings.champion,
                    settings.tracking,
                    settings.governance,
                    champion,
                )
        runs.log_metrics({f"seconds_{k}": v for k, v in evaluation.timings.items()})
        description = run_description(trained, data, settings, promotion)
        if not trained.as_they_stood:
            description += "\n\n" + FINAL_RECORDS_ONLY
        runs.set_tags({RUN_DESCRIPTION_TAG: description})
    return TrainResult(
        evaluation,
        run.info.run_id,
        version,
        promotion,
        trained.evidence,
        churn,
        *signed,
        experiment_id=run.info.experiment_id,
        as_they_stood=trained.as_they_stood,
    )


# -- what the run records ---------------------------------------------------------------------------
def run_description(
    trained: Trained, data: TrainingData, settings: TrainSettings, promotion
) -> str:
    """The run page's description: what was trained, on what, and how it did (Markdown)."""
    model, metrics, split = trained.model, trained.evaluation.metrics, trained.evaluation.split
    k = settings.evaluation.capacity_k
    period = split.as_dict()
    recipe = settings.experiment or "the default recipe"
    lines = [
        f"**{model.family}** model ({recipe}, data config `{data.contract.name}`, "
        f"{len(model.feature_names_)} features) trained on {len(data.history):,} labelled "
        f"disruptions with labels to {labels_to(data.contract, data.history)} "
        f"(`{Path(str(data.input_path)).name}`, SHA-256 `{data.input_sha256[:12]}…`).",
        "",
        f"Held-out test period {period.get('test_start', '?')} to {period.get('test_end', '?')} "
        f"({period.get('test_rows', '?')} disruptions of lines never seen in training): "
        f"ROC AUC {metrics.get('roc_auc', float('nan')):.3f}, PR AUC "
        f"{metrics.get('pr_auc', float('nan')):.3f}, Brier {metrics.get('brier', float('nan')):.3f}, "
        f"calibration error {metrics.get('ece', float('nan')):.3f}, precision at the weekly "
        f"capacity of {k} lines {metrics.get(f'precision_at_{k}', float('nan')):.2f}.",
    ]
    if promotion is not None:
        lines += [
            "",
            f"Registry: {'champion' if promotion.promote else 'challenger'}, {promotion.reason}.",
        ]
    if settings.rerun_of:
        lines += [
            "",
            f"A rerun of run `{settings.rerun_of}`: its overrides, on data of the same SHA-256.",
        ]
    lines += ["", "Headline metrics lead under `headline/`; per-slice ones group under `slice/`."]
    return "\n".join(lines)


def _log_plots(evaluation: Evaluation, contract: DataContract, config: EvaluationConfig) -> None:
    frame = evaluation.test_predictions
    y, p = frame[contract.label].astype(int).to_numpy(), frame[PROBABILITY].to_numpy()
    runs.log_figure(plot_roc(y, p, "ROC curve, test period"), "plots/roc.png")
    groups = {"all lines": (y, p)}
    for value, group in cohort_groups(frame, contract.cohort_column, config.min_slice_size):
        groups[value] = (
            group[contract.label].astype(int).to_numpy(),
            group[PROBABILITY].to_numpy(),
        )
    runs.log_figure(
        plot_calibration(groups, "Calibration, test period", config.n_bins), "plots/calibration.png"
    )
    weeks = iso_weeks(frame[contract.date_column])
    runs.log_figure(
        plot_precision_at_k(y, p, weeks, max_k=max(20, config.capacity_k * 3)),
        "plots/precision_at_k.png",
    )
    runs.log_frame(calibration_table(y, p, config.n_bins), runs.CALIBRATION_TABLE)
    curve = capacity_curve(y, p, weeks, max_k=max(20, config.capacity_k * 3))
    runs.log_figure(
        plot_precision_recall_at_k(curve, config.capacity_k), "plots/precision_recall_at_k.png"
    )
    runs.log_figure(plot_lift_and_gain(curve, config.capacity_k), "plots/lift_gain_at_capacity.png")
    runs.log_frame(curve, "tables/lift_gain_at_k.csv")


def _run_params(settings: TrainSettings, evaluation: Evaluation, model) -> dict:
    """Params for MLflow: the config without the data contract's hundreds of entries (the contract
    is one artifact, ``config/data_contract.json``) or the model card's prose, with the model's
    parameters as they were in force (a null in the config shows the toolkit's default), plus the
    split's result, the model's size and its calibration by cohort."""
    kept = {
        k: v
        for k, v in settings.params.items()
        if (not k.startswith("data.") or k in CONTRACT_PARAMS) and not k.startswith(PROSE_SECTIONS)
    }
    resolved = family_of(model.family).resolved_params(model.params)
    return {
        **kept,
        **{f"model.params.{k}": v for k, v in resolved.items()},
        "refit_on_all": settings.refit_on_all,
        "features.used": json.dumps(list(model.feature_names_)),
        **{f"split.result.{k}": v for k, v in evaluation.split.as_dict().items()},
        **{f"model.capacity.{k}": v for k, v in model.capacity().items()},
        **{f"model.calibration.{k}": v for k, v in model.calibration_summary().items()},
    }


def _log_run_contents(trained: Trained, data: TrainingData, settings: TrainSettings) -> None:
    """Everything a run records except the model: params, datasets, metrics, tables, plots."""
    evaluation, evidence, contract = trained.evaluation, trained.evidence, data.contract
    source, label = str(data.input_path), contract.label
    runs.log_params(_run_params(settings, evaluation, trained.model))
    if evaluation.train_frame is not None:
        runs.log_dataset(evaluation.train_frame, "training rows", "training", source, label)
    runs.log_dataset(evaluation.test_frame, "test period", "test", source, label)
    runs.log_metrics(dict(evaluation.metrics), prefix="test_")
    runs.log_metrics(slice_metric_names(evidence.fairness))  # the names older runs have
    runs.log_metrics(headline_metric_names(evaluation.metrics))
    runs.log_metrics(grouped_slice_metric_names(evidence.fairness))
    for name, text in settings.artifacts.items():
        runs.log_text(text, name)
    runs.log_text(json.dumps(contract.to_dict(), indent=2), runs.CONTRACT_ARTIFACT)
    runs.log_text(json.dumps(evaluation.split.as_dict(), indent=2), runs.SPLIT_ARTIFACT)
    runs.log_frame(evaluation.slices, runs.SLICE_TABLE)
    runs.log_frame(pd.DataFrame(evidence.fairness), runs.FAIRNESS_TABLE)
    fidelity = explanation_fidelity(trained.explanation)
    runs.log_text(json.dumps(fidelity, indent=2), runs.FIDELITY_ARTIFACT)
    world = Path(data.input_path).parent / "world.json"
    if world.is_file():  # the synthetic world's scenario parameters, for the model card
        runs.log_text(world.read_text(), runs.WORLD_ARTIFACT)
    runs.log_frame(evaluation.test_predictions, "tables/test_predictions.csv")
    _log_plots(evaluation, contract, settings.evaluation)
    # the global SHAP view of the registered model
    for name, item in global_view(trained.explanation).items():
        if name.endswith(".png"):
            runs.log_figure(item, name)
        else:
            runs.log_frame(item, name)
    runs.log_evidence(evidence)
    if len(trained.coverage):
        runs.log_frame(trained.coverage, "tables/interval_coverage.csv")
    if len(trained.by_age):
        runs.log_frame(trained.by_age, BY_AGE_TABLE)
    runs.log_params({f"records.result.{k}": v for k, v in trained.rows.summary.items()})
