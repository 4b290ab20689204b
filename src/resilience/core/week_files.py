"""The score -> report contract: the files of a scored week and its manifest, defined once.

Scoring (:mod:`resilience.weekly.score`) writes a week folder; the report (:mod:`resilience.report`),
``resilience-outcomes``, ``resilience-decide`` and the scoring run in MLflow read it. Every side
uses the names and the :class:`WeekManifest` below, so a renamed key cannot silently break another
(the report once read ``created`` while scoring wrote ``created_utc``, so no report said when it
was produced). They live here, at the bottom of the house, because stages on several floors read
them.

>>> manifest = WeekManifest(week="2026-W47", created_utc="2026-11-23T06:00:00Z")
>>> WeekManifest.from_dict(manifest.to_dict()).week
'2026-W47'
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# The files of a scored week folder (<output_root>/<week>/).
SCORES_PARQUET = "scores.parquet"  # one row per disruption, ranked (the report reads this)
SCORES_CSV = "scores.csv"  # the same rows for people and spreadsheets
EXPLANATIONS = "explanations.parquet"  # points of probability per input column, per disruption
DRIFT = "drift.json"
DRIFT_HTML = "drift.html"  # each feature this week against the reference (for analysts)
SAFEGUARDING = "safeguarding.json"  # totals of the protect/prevent columns
CONTRACT = "contract.json"  # the data contract the model was trained with
MANIFEST = "manifest.json"
DECISIONS = "decisions.json"  # last week's recorded decisions (optional)
REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
ANNEX_HTML = "annex.html"  # every line, sortable and filterable, offline
# The extract the week scored, its bytes as they were (``extract.parquet`` or ``extract.csv``: the
# input's own suffix); the manifest's ``input`` names it under KEPT_KEY beside its ``sha256``.
# Training reads records as they stood from these (``resilience-train snapshots=outputs/weekly``).
KEPT_EXTRACT_STEM = "extract"
KEPT_KEY = "kept"

# The manifest's record of the decision log (resilience.governance.decisions): its head when the week
# was scored, the anchors appended since (one per decision recorded about the week) and their seal.
DECISION_HEAD = "decision_log"
DECISION_ANCHORS = "decision_log_anchors"
DECISION_SEAL = "decision_log_seal"


def lock_file(output_root: Path, week: str) -> Path:
    """The lock a process holds while it scores ``week`` or writes into its manifest (beside the
    week's folder, ``.<week>.lock``; kept between runs)."""
    return Path(output_root) / f".{week}.lock"


# The files resilience-outcomes writes beside the week folders (<output_root>/).
OUTCOMES_CSV = "outcomes.csv"  # realised metrics per scored week and cohort
OUTCOMES_FAIRNESS_CSV = "outcomes_fairness.csv"  # the fairness check of each model in use
# one row per disruption whose outcome is known (the report reads this)
OUTCOMES_PARQUET = "outcomes.parquet"
# Its columns: the outcome, and the estimate the disruption was last given before it became known.
OUTCOME_COLUMNS = (
    "disruption_id",
    "line_id",
    "outcome",
    "week",
    "persistence_probability",
    "yardstick_band",
    "probability_low",
    "probability_high",
)


def kept_extract_name(suffix: str) -> str:
    """The kept extract's file name for an input with ``suffix`` (``.parquet`` -> ``extract.parquet``)."""
    return f"{KEPT_EXTRACT_STEM}{suffix.lower()}"


# Columns of scores.* that the report and the outcomes rely on.
REQUIRED_SCORE_COLUMNS = ("rank", "disruption_id", "line_id", "persistence_probability")
INPUT_ORDER_COLUMN = "input_row"  # 1-based position of the row in the week's extract
HARM_COMPONENT_PREFIX = "harm_"  # harm_<component>: the value a harm component read
OPTION_PREFIX = "option_"  # option_<rule>: the playbook's rule holds for the line's record
# A fingerprint of the row's record (its model inputs), so the next week can tell "record updated"
# from "the model changed" or "others ranked above it".
RECORD_FINGERPRINT = "record_fingerprint"


@dataclass
class WeekManifest:
    """What a scored week records about how it was produced (``manifest.json``).

    ``priority`` holds the harm policy in force (its components, weights and reasoning), so the
    report prints the weights that ranked this week, not today's config; ``playbook`` likewise holds
    the options under the four Ps that were in force.
    """

    week: str = ""
    created_utc: str = ""
    toolkit_version: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    priority: dict[str, Any] = field(default_factory=dict)
    playbook: dict[str, Any] = field(default_factory=dict)  # the options in force (weekly.playbook)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(
        default_factory=dict
    )  # other top-level keys (e.g. the decision log's anchor)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {**data.pop("extra"), **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_dict(cls, data: Any) -> WeekManifest:
        """A manifest from its JSON form. Unknown keys are kept in ``extra`` (and written back); a week written before
        ``created_utc`` existed (key ``created``) still says when it was produced."""
        if not isinstance(data, dict):
            data = {}
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        values["extra"] = {k: v for k, v in data.items() if k not in known and k != "created"}
        if not values.get("created_utc") and data.get("created"):
            values["created_utc"] = str(data["created"])
        manifest = cls(**values)
        manifest.warnings = [str(w) for w in (manifest.warnings or [])]
        return manifest

    @classmethod
    def read(cls, path: Path) -> WeekManifest:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
