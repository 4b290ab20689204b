"""The score command's pipeline: the vetted model and its evidence, the decision log's anchor, the
week scored (with last week's decisions and the briefing built inside its transaction), and the
run logged to MLflow."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from resilience.core.errors import ResilienceError
from resilience.core.week_files import DECISION_HEAD, DECISIONS
from resilience.data.io import write_text_atomic
from resilience.governance import decisions
from resilience.learn.evidence import ModelEvidence
from resilience.report import build_report
from resilience.report.drift_page import write_drift_page
from resilience.tracking import store, vetting, weekly_runs
from resilience.tracking.vetting import VettedModel
from resilience.weekly.drift import DriftConfig
from resilience.weekly.kept import prune_kept_extracts
from resilience.weekly.score import ModelRef, WeekResult, score_week
from resilience.weekly.shortlist import DrawSettings


@dataclass(frozen=True)
class ScoreSettings:
    """How a week is scored (the score command's config, typed); ``recorded`` is what the manifest
    records of them (and hashes)."""

    model_uri: str
    output_root: str | Path = "outputs/weekly"
    allow_unregistered: bool = False
    week: str | None = None
    overwrite: bool = False
    chunk_rows: int = 50_000
    drift: DriftConfig = field(default_factory=DriftConfig)
    draws: DrawSettings = field(default_factory=DrawSettings)
    report: bool = True
    marking: str = ""
    priority: str | None = None
    playbook: str | None = None
    decision_log: str | Path = "outputs/decisions.sqlite"
    keep_extract: bool = True  # the week keeps the extract it scored (weekly/kept.py)
    keep_extracts_weeks: int | None = None  # retention: kept extracts of this many recent weeks
    log_to_mlflow: bool = True
    weekly_experiment: str = "weekly-scoring"
    tracking: store.TrackingConfig = field(default_factory=store.TrackingConfig)
    recorded: dict = field(default_factory=dict)


@dataclass
class VettedChampion:
    """The model to score with, who it is, and its evidence."""

    model: object
    vetted: VettedModel
    evidence: ModelEvidence


def load_model(settings: ScoreSettings) -> VettedChampion:
    """The model at ``settings.model_uri``: its signature, model card and digests checked before
    anything is unpickled, and loaded from the bytes that were checked; its evidence (drift
    reference, test metrics, fairness) is the JSON logged beside it, checked with it."""
    store.connect(settings.tracking)
    store.check_store()  # a typo'd sqlite:/// path is refused, never created
    loaded = vetting.load_vetted_model(
        settings.model_uri,
        allow_unregistered=settings.allow_unregistered,
        trusted_keys=settings.tracking.trusted_keys,
    )
    return VettedChampion(loaded.model, loaded.vetted, loaded.evidence)


def decision_log_anchor(path) -> tuple[dict, list[str]]:
    """The decision log's identity, count and head hash for the manifest (signed when the log's
    key is at hand; a damaged log is a warning here, ``resilience-decide verify=true`` is where
    it fails)."""
    try:
        anchor = decisions.head(path, decisions.key_if_set())
    except ResilienceError as exc:
        return {}, [f"decision log not anchored and last week's decisions not shown: {exc}"]
    return ({DECISION_HEAD: anchor} if anchor else {}), []


def log_week(settings: ScoreSettings, result: WeekResult) -> None:
    """Log the scored week's run to MLflow; a store that fails now (locked, full disk) is said as
    such, after saying that the week itself is scored and complete."""
    try:
        weekly_runs.log_scoring_run(
            settings.tracking, settings.weekly_experiment, result.folder, result.manifest
        )
    except Exception as exc:
        problem = store.mlflow_failure_message(exc)
        if problem is None:
            raise
        raise ResilienceError(
            f"week {result.week} was scored into {result.folder} (complete), but its run was not "
            f"logged to MLflow: {problem}"
        ) from exc


def score(input_path: str | Path, champion: VettedChampion, settings: ScoreSettings) -> WeekResult:
    """Score the week's extract into its folder, briefing included, and log the run."""
    anchor, log_warnings = decision_log_anchor(settings.decision_log)

    def after_build(folder: Path, previous: Path | None) -> None:
        # last week's recorded decisions travel with this week, so the report shows them
        if previous is not None and not log_warnings:
            recorded = decisions.decisions_for_week(settings.decision_log, previous.name)
            write_text_atomic(folder / DECISIONS, json.dumps(recorded, indent=2))
        write_drift_page(folder)  # each feature against the reference, for analysts
        if settings.report:
            build_report(folder, previous, marking=settings.marking)

    vetted = champion.vetted
    warning = "; ".join(filter(None, [vetted.warning, *log_warnings])) or None
    ref = ModelRef(
        settings.model_uri,
        vetted.name,
        vetted.version,
        vetted.run_id,
        vetted.registry,
        vetted.sha256,
        warning,
    )
    result = score_week(
        input_path,
        champion.model,
        ref,
        settings.output_root,
        week=settings.week,
        overwrite=settings.overwrite,
        chunk_rows=settings.chunk_rows,
        drift_config=settings.drift,
        settings=settings.recorded,
        after_build=after_build,
        evidence=champion.evidence,
        priority=settings.priority,
        manifest_extra=anchor,
        draws=settings.draws,
        playbook=settings.playbook,
        keep=settings.keep_extract and settings.keep_extracts_weeks != 0,
    )
    prune_kept_extracts(Path(settings.output_root), settings.keep_extracts_weeks)
    if settings.log_to_mlflow:
        log_week(settings, result)
    return result
