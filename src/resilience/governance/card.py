"""Model card, transparency record (ATRS) and ALGO-CARE checklist for every registered version.

Everything is generated from the MLflow run and the registered version — no hand-written numbers —
so the documents can never be out of date: :func:`collect_facts` reads the run (through
:mod:`resilience.tracking`, the one module that talks to MLflow), :func:`render` turns facts into
files (pure; every HTML template is autoescaped), :func:`publish` logs them on the run under
``model_card/`` and tags the version ``model_card=logged`` (scoring refuses a version without one).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from resilience.core.errors import ResilienceError
from resilience.data.contract import PROTECTED_WORDS, DataContract
from resilience.explain.global_view import SCREEN_TABLE
from resilience.governance.fairness import plain_findings
from resilience.learn.calibration import MATERIAL_DRIFT_PER_YEAR
from resilience.learn.metrics import calibration_bin_range
from resilience.tracking import registry, runs
from resilience.tracking.runs import CARD_DIR, CARD_DOCUMENT
from resilience.tracking.vetting import DIGEST_TAG, MODEL_CARD_TAG

# What the safeguards around the model cannot stop, stated in every card (and in the README).
SAFEGUARD_LIMITS = (
    "Its safeguards (a signature from a registration key kept off the store, vetted loading, week "
    "locks, a signed and anchored decision log) protect against someone who can write the "
    "tracking store, the week folders or the decision log. They cannot stop someone running as "
    "the same user as scoring, or as root, while a run is in progress: such a person can change "
    "the running process, the trusted keys or the keys themselves."
)


@dataclass(frozen=True)
class GovernanceConfig:
    """Who owns the model and how it may be used (``configs/governance/``): filled into every model
    card and transparency record. :func:`publish` takes it as a mapping (``dataclasses.asdict``)."""

    organisation: str = ""  # the body responsible for the tool
    owner_role: str = ""  # accountable owner (a role, not a name)
    contact: str = ""  # where the public and staff can ask
    review_months: int = 6  # the model is reviewed this often
    purpose: str = ""
    intended_users: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    drift_policy: str = ""
    human_oversight: str = ""


# Escaping follows the template's own name (``*.html.j2`` included), never the caller's choice.
AUTOESCAPE = select_autoescape(
    enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"),
    default_for_string=True,
    default=False,
)


def _markdown_safe(value: Any) -> Any:
    """Markdown viewers render raw HTML: in a ``.md`` document every value's ``& < >`` is written as
    an entity (displayed as the character; quotes stay readable)."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _environment(markdown: bool = False) -> Environment:
    env = Environment(
        loader=PackageLoader("resilience.governance", "templates"),
        autoescape=AUTOESCAPE,
        finalize=_markdown_safe if markdown else None,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = lambda v: (
        "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.0%}"
    )
    env.filters["num"] = lambda v, d=3: (
        "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.{d}f}"
    )
    return env


def _records(text: str | None) -> list[dict]:
    if not text:
        return []
    frame = pd.read_csv(StringIO(text))
    return json.loads(frame.to_json(orient="records"))


def _model_facts(
    name: str, version: str, model_version, run, governance: dict, artifact_sha256: str | None
) -> dict:
    """Which model: its registry record, run, decision and review date. ``artifact_sha256``: the
    digest of its files as vetted; else the tag recorded at registration (information only)."""
    params, tags = run.data.params, run.data.tags
    reviewed = datetime.fromtimestamp(model_version.creation_timestamp / 1000, UTC).date()
    return {
        "name": name,
        "version": version,
        "run_id": run.info.run_id,
        "family": tags.get("model_family", params.get("model.family")),
        "aliases": list(getattr(model_version, "aliases", []) or []),
        "decision": model_version.tags.get("promotion.decision"),
        "decision_reason": model_version.tags.get("promotion.reason"),
        "registered": str(reviewed),
        "review_by": str(_months_after(reviewed, int(governance.get("review_months", 6)))),
        "git_commit": tags.get("git_commit"),
        "refit_on_all": params.get("refit_on_all"),
        "artifact_sha256": artifact_sha256 or model_version.tags.get(DIGEST_TAG),
    }


def collect_facts(
    name: str, version: str, governance: dict, artifact_sha256: str | None = None
) -> dict[str, Any]:
    """Everything the documents state, read from the registry and the version's run
    (``artifact_sha256``: the digest of its files as vetted, see :func:`_model_facts`)."""
    model_version, run = registry.version_and_run(name, str(version))
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags

    contract = _contract_of(run.info.run_id)
    split = json.loads(runs.artifact_text(run.info.run_id, runs.SPLIT_ARTIFACT) or "{}")
    world = json.loads(runs.artifact_text(run.info.run_id, runs.WORLD_ARTIFACT) or "null")
    fidelity = json.loads(runs.artifact_text(run.info.run_id, runs.FIDELITY_ARTIFACT) or "null")
    used = _used_features(contract, params)
    test = {k[len("test_") :]: v for k, v in metrics.items() if k.startswith("test_")}
    fairness = _records(runs.artifact_text(run.info.run_id, runs.FAIRNESS_TABLE))
    churn = {
        k[len("churn.") :]: v
        for k, v in (model_version.tags or {}).items()
        if k.startswith("churn.")
    }
    return {
        "generated_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "governance": governance,
        "model": _model_facts(name, str(version), model_version, run, governance, artifact_sha256),
        "data": {
            "input": tags.get("input"),
            "sha256": tags.get("data_sha256"),
            "config": contract.name,
            "split": split,
            "synthetic": world is not None or str(tags.get("input", "")).find("synthetic") >= 0,
            "world": world,
            "horizon_weeks": contract.horizon_weeks,
            # records as they stood, or final records only (the training run's records tag)
            "records": tags.get("records"),
        },
        **_feature_sections(contract, used),
        "refused_words": sorted(PROTECTED_WORDS),
        "metrics": test,
        "slices": _records(runs.artifact_text(run.info.run_id, runs.SLICE_TABLE)),
        "fairness": fairness,
        "fairness_findings": plain_findings(fairness),
        "churn": churn,
        "compared_with_version": model_version.tags.get("promotion.compared_with_version"),
        "calibration": calibration_rows(
            _records(runs.artifact_text(run.info.run_id, runs.CALIBRATION_TABLE)),
            params.get("evaluation.n_bins"),
        ),
        "fidelity": fidelity,
        "capacity_k": params.get("evaluation.capacity_k", "10"),
        "tolerance": params.get("evaluation.fairness_tolerance", "0.03"),
        "warnings": [v for k, v in sorted(tags.items()) if k.startswith("warning.")],
        "family_level": params.get("evaluation.fairness_family_level", "0.025"),
        "cohort_level": params.get("evaluation.fairness_cohort_level", "0.02"),
        "screen": _screen(run.info.run_id, contract, params),
        "carried_drift": carried_drift_words(
            _evidence_field(run.info.run_id, "cohort_drift"),
            params.get("model.calibration.cohort_trend_p_value"),
        ),
    }


def calibration_rows(rows: list[dict], n_bins: Any = None) -> list[dict]:
    """The calibration table's rows, each with the range of estimates its bin holds ("20–30%"):
    a reader meets the range, never a bin's number. ``n_bins`` as the run logged it; a run that
    did not log it used the default 10 bins (more when a higher bin is recorded)."""
    bins = [int(r.get("bin") or 0) for r in rows]
    total = int(float(n_bins)) if n_bins not in (None, "") else max([9, *bins]) + 1
    out = []
    for row, b in zip(rows, bins, strict=True):
        low, high = calibration_bin_range(b, total)
        out.append({**row, "range": f"{low * 100:.0f}\u2013{high * 100:.0f}%"})
    return out


def _evidence_field(run_id: str, name: str) -> Any:
    """One field of the evidence logged beside the model (None for a run without it)."""
    text = runs.artifact_text(run_id, f"{runs.EVIDENCE_DIR}/{runs.EVIDENCE_JSON}")
    return json.loads(text).get(name) if text else None


def carried_drift_words(drift: Any, p_value: Any = None) -> str | None:
    """The limitation a carried drift between cohorts sets (the evidence's ``cohort_drift``), in
    words with its numbers; None when the calibrator carries none at least
    ``MATERIAL_DRIFT_PER_YEAR`` steep. The weekly briefing says the same to commanders without the
    numbers, in the same cases (``resilience.report.trust``)."""
    per_year = drift.get("per_year") if isinstance(drift, dict) else None
    if not per_year or all(abs(float(s)) < MATERIAL_DRIFT_PER_YEAR for s in per_year.values()):
        return None  # as the briefing: a drift this gentle moves no estimate a point a year
    moves = "; ".join(f"{value} {float(slope):+.2f}" for value, slope in sorted(per_year.items()))
    test = ""
    if p_value not in (None, ""):  # as the run logged it (6 decimals): a tiny one reads as 0
        p = float(p_value)
        test = ", drift test p < 0.0001" if p < 1e-4 else f", drift test p = {p:.2g}"
    weeks = float(drift.get("carried_weeks") or 0)
    forward = (
        f"to each disruption's own date, for at most {weeks:.0f} weeks after "
        f"{drift.get('served_from')}"
        if weeks
        else f"at its level on {drift.get('served_from')} to every week it scores"
    )
    return (
        f"A drift between kinds of line is assumed to go on: in the training span, the "
        f"{drift.get('column')} levels moved by more than the records explain (log-odds a year: "
        f"{moves}{test}); the calibrator carries that drift {forward}. If the drift has stopped, "
        "the kinds whose chances were rising are estimated too high, and those falling too low."
    )


def _screen(run_id: str, contract: DataContract, params: dict) -> dict | None:
    """The reason screen's verdict per feature: its ratio to its null, its pass rate over the
    resamples and whether it is shown (None for a run without the screen's table)."""
    table = _records(runs.artifact_text(run_id, SCREEN_TABLE))
    rows = [
        {
            "label": contract.describe(r["name"])
            if r["name"] in contract.column_names
            else r["name"],
            "ratio": r.get("ratio"),
            "pass_rate": r.get("pass_rate"),
            "shown": (f"yes ({r.get('verdict')})" if r.get("kept") else "yes")
            if r.get("earned")
            else f"no ({r.get('verdict') or 'not earned'})",
        }
        for r in table
        if r.get("kind") == "feature"
    ]
    if not rows:
        return None
    return {
        "rows": sorted(rows, key=lambda r: -(r["ratio"] or 0.0)),
        "min_ratio": params.get("explain.screen.min_ratio", "3.5"),
        "keep_ratio": _keep_ratio(params.get("explain.screen.keep_ratio")),
        "resamples": params.get("explain.screen.resamples", "1"),
        "share": float(params.get("explain.screen.resample_share", "1.0")),
    }


def _keep_ratio(logged: str | None) -> str | None:
    """The bar to stay as logged, or None when verdicts were not kept (switched off, or a run
    from before the setting)."""
    return logged if logged and float(logged) else None


def _contract_of(run_id: str) -> DataContract:
    """The data contract a training run logged (one artifact)."""
    text = runs.artifact_text(run_id, runs.CONTRACT_ARTIFACT)
    if text is None:
        raise ResilienceError(
            f"run {run_id} has no data contract artifact; was it made by resilience-train?"
        )
    return DataContract.from_dict(json.loads(text))


def _used_features(contract: DataContract, params: dict) -> list[str]:
    """The features the run's model used (``features.used``, logged by runs since records as they
    stood; before: the contract's, less the experiment's exclusions)."""
    if params.get("features.used"):
        return [f for f in contract.features if f in json.loads(params["features.used"])]
    used = [
        f
        for f in contract.features
        if f not in json.loads(params.get("features.exclude", "[]") or "[]")
    ]
    include = params.get("features.include")
    if include and include not in ("None", "", "null"):  # null: every feature
        used = [f for f in used if f in json.loads(include)]
    return used


def _months_after(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month."""
    return date(day.year + (day.month - 1 + months) // 12, (day.month - 1 + months) % 12 + 1, 1)


def _feature_sections(contract: DataContract, used: list[str]) -> dict[str, list[dict]]:
    """The card's features used (label, concept, four-Ps strand) and the columns not used, why."""
    return {
        "features": [
            {
                "column": f,
                "label_text": contract.describe(f),
                "concept": contract.concept_of(f).label_text,
                "four_ps": contract.concept_of(f).four_ps,
            }
            for f in used
        ],
        "not_used": [
            {
                "column": c.name,
                "label_text": c.label_text or c.name,
                "why": "excluded by the experiment"
                if c.role == "feature"
                else f"role '{c.role}': never a model input",
            }
            for c in contract.columns
            if c.name not in used and c.role != "label"
        ],
    }


def _render(template: str, context: dict) -> str:
    """HTML templates are autoescaped; markdown ones write ``& < >`` in values as entities."""
    return (
        _environment(markdown=template.endswith(".md.j2")).get_template(template).render(**context)
    )


def algo_care(facts: dict) -> list[dict]:
    """The ALGO-CARE questions, each answered with evidence from this run. (Over 60 lines: the
    checklist's eight items, in its order, read best as the one list they are.)"""
    m, model = facts["metrics"], facts["model"]
    flagged = [f for f in facts["fairness"] if f.get("flag") in ("over-predicts", "under-predicts")]
    return [
        {
            "item": "Advisory",
            "answer": "Yes: scores are advice; a person decides and records the decision and reason "
            "in the append-only decision log (resilience-decide).",
            "evidence": "weekly report 'decision support' notice; decision log with hash chain",
        },
        {
            "item": "Lawful",
            "answer": "To be confirmed by the force's legal adviser for its purpose: "
            + facts["governance"].get("purpose", ""),
            "evidence": "governance config",
        },
        {
            "item": "Granularity",
            "answer": f"Predicts for lines at a disruption, not for people; {len(facts['features'])} "
            "line-level features; protected characteristics refused by policy.",
            "evidence": "features used and refused (this card)",
        },
        {
            "item": "Ownership",
            "answer": f"Owned by {facts['governance'].get('owner_role')} at "
            f"{facts['governance'].get('organisation')}; code and configs under version control "
            f"(commit {model.get('git_commit')}).",
            "evidence": "MLflow run tags",
        },
        {
            "item": "Challengeable",
            "answer": "Every score ships with its reasons for and against in plain English and the "
            "full contribution of every input.",
            "evidence": "scores.csv reasons, explanations.parquet per scored week",
        },
        {
            "item": "Accuracy",
            "answer": f"On {facts['data']['split'].get('test_rows', '?')} held-out recent disruptions: ranks a "
            f"persisting line above a closing one {m.get('roc_auc', float('nan')):.0%} of the time; "
            f"calibration error {m.get('ece', float('nan')):.3f}.",
            "evidence": "test metrics logged on the run; per-slice metrics with 95% intervals",
        },
        {
            "item": "Responsible",
            "answer": (
                f"{len(flagged)} group(s) flagged for miscalibration: "
                + ", ".join(f"{f['slice']}={f['value']} ({f['flag']})" for f in flagged)
            )
            if flagged
            else "No area, line type or hub group is flagged for miscalibration "
            "beyond tolerance; small groups are suppressed.",
            "evidence": "fairness table (this card); weekly drift checks",
        },
        {
            "item": "Explainable",
            "answer": "Exact SHAP explanations on the probability scale, grouped into plain-English "
            "concepts; they describe what the model weighs, not causes.",
            "evidence": "explanations artifact; explanation fidelity results"
            if facts["fidelity"]
            else "explanations artifact",
        },
    ]


def atrs(facts: dict) -> dict:
    """Algorithmic Transparency Recording Standard: tier 1 (summary) and tier 2 (detail)."""
    g, m = facts["governance"], facts["metrics"]
    return {
        "tier_1": {
            "name": f"Line resilience model ({facts['model']['name']} v{facts['model']['version']})",
            "description": g.get("purpose"),
            "how_it_is_used": "Each week the model ranks recently disrupted drug supply lines by how likely they are "
            "to still be active 12 weeks later; analysts and commanders use the ranking and its "
            "reasons to prioritise follow-up. A person decides.",
            "why_it_is_used": "To focus limited capacity on lines likely to re-establish, and to make the reasons visible.",
            "contact": g.get("contact"),
        },
        "tier_2": {
            "owner": {
                "organisation": g.get("organisation"),
                "role": g.get("owner_role"),
                "contact": g.get("contact"),
            },
            "purpose": g.get("purpose"),
            "data": {
                "source": facts["data"]["input"],
                "sha256": facts["data"]["sha256"],
                "period": f"{facts['data']['split'].get('train_start')} to {facts['data']['split'].get('test_end')}",
                "synthetic": facts["data"]["synthetic"],
                "features": [f["column"] for f in facts["features"]],
                "excluded": [f["column"] for f in facts["not_used"]],
            },
            "model": {
                "type": facts["model"]["family"],
                "version": facts["model"]["version"],
                "test_roc_auc": m.get("roc_auc"),
                "test_brier": m.get("brier"),
                "test_ece": m.get("ece"),
            },
            "risks": [
                "Officers deferring to the score instead of judgement.",
                "Bias against areas or line types (monitored per group, flagged beyond tolerance).",
                "Drift: new tactics or data recording changes make the model stale.",
                "Feedback loops: lines prioritised because of a score are disrupted more, changing future data.",
            ],
            "mitigations": [
                "Advisory only, with reasons; decisions recorded with reasons by a person.",
                "Fairness checks per area, line type and hub in every model card and weekly report.",
                "Weekly drift checks with alerts; realised-outcome tracking; the production model is "
                "only replaced automatically by a retrain of the same recipe that is not significantly "
                "worse on the same held-out lines and within a cumulative loss budget; any other "
                "model needs a person's explicit promotion.",
                "Protected characteristics and free text can never be model inputs.",
            ],
            "human_oversight": g.get("human_oversight"),
        },
    }


def render(facts: dict) -> dict[str, str]:
    """All documents as {file name: text}."""
    checklist = algo_care(facts)
    record = atrs(facts)
    context = {
        **facts,
        "algo_care": checklist,
        "atrs": record,
        "safeguard_limits": SAFEGUARD_LIMITS,
    }
    return {
        CARD_DOCUMENT: _render("model_card.md.j2", context),
        "model_card.html": _render("model_card.html.j2", context),
        "atrs.json": json.dumps(record, indent=2, default=str),
        "atrs.md": _render("atrs.md.j2", context),
        "algo_care.json": json.dumps(checklist, indent=2),
    }


def publish(
    name: str, version: str, governance: dict, artifact_sha256: str | None = None
) -> dict[str, str]:
    """Generate the documents from the run and log them on it; tag the version.
    ``artifact_sha256``: the digest of the version's files as vetted (a signed version's), stated
    in the card instead of the registration tag, which anyone who can write the registry can edit."""
    facts = collect_facts(name, version, governance, artifact_sha256)
    documents = render(facts)
    with tempfile.TemporaryDirectory() as tmp:
        for file_name, text in documents.items():
            (Path(tmp) / file_name).write_text(text, encoding="utf-8")
        runs.log_artifacts_to_run(facts["model"]["run_id"], tmp, CARD_DIR)
    registry.tag_version(
        name,
        str(version),
        {MODEL_CARD_TAG: "logged", f"{MODEL_CARD_TAG}.generated_utc": facts["generated_utc"]},
    )
    return documents
