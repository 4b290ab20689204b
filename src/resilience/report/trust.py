"""How far to trust this report: the model that scored, its test results in words, calibration
gaps per group with the tolerance used, and this week's drift warnings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.core.week_files import DECISION_HEAD
from resilience.data.contract import DataContract
from resilience.learn.calibration import MATERIAL_DRIFT_PER_YEAR
from resilience.learn.metrics import calibration_bin_range
from resilience.report.changes import chance_words
from resilience.report.charts import calibration_chart
from resilience.report.record_age import record_age_words
from resilience.report.trends import realised_total
from resilience.report.words import (
    clean_text,
    number,
    percent,
    plural,
    points_text,
    signed_points,
    slice_value_text,
)

DRIFT_KIND_WORDS = {
    "feature": "An input has shifted",
    "missing": "More values are missing",
    "explanation": "What the model weighs has shifted",
}
FAMILY_WORDS = {
    "lightgbm": "many small decision trees added together (gradient-boosted trees, LightGBM)",
    "logistic": "logistic regression",
    "logistic_regression": "logistic regression",
    "random_forest": "random forest",
}


def _metric_words(metrics: Mapping[str, Any]) -> dict[str, str]:
    auc = number(metrics.get("roc_auc"))
    brier = number(metrics.get("brier"))
    ece = number(metrics.get("ece"))
    observed = number(metrics.get("observed_rate"))
    predicted = number(metrics.get("mean_predicted"))
    rows = number(metrics.get("rows"))
    words = {
        "ranking": (f"{auc * 100:.0f} times in 100" if auc is not None else "not recorded"),
        "observed": f"{observed * 100:.0f}%" if observed is not None else "not recorded",
        "predicted": f"{predicted * 100:.0f}%" if predicted is not None else "not recorded",
        "calibration_error": f"{ece * 100:.1f} points" if ece is not None else "not recorded",
        "brier": f"{brier:.3f}" if brier is not None else "not recorded",
        "rows": f"{int(rows):,}" if rows is not None else "",
    }
    if brier is not None and observed is not None:
        words["brier_reference"] = f"{observed * (1 - observed):.3f}"
    return words


def _performance_sentences(metrics: Mapping[str, Any], overall: Mapping[str, str]) -> list[str]:
    sentences = []
    if number(metrics.get("roc_auc")) is not None:
        sentences.append(
            f"Telling lines apart: shown one line that persisted and one that closed, the model ranks "
            f"the persisting line higher {overall['ranking']} (a coin toss would manage 50 in 100; "
            f"ROC AUC {number(metrics['roc_auc']):.2f})."
        )
    if overall["observed"] != "not recorded" and overall["predicted"] != "not recorded":
        sentences.append(
            f"Overall level: {overall['observed']} of the test lines persisted; the model's average "
            f"prediction was {overall['predicted']}."
        )
    if overall["calibration_error"] != "not recorded":
        sentences.append(
            f"Whether its percentages hold: on average its stated probabilities were "
            f"{overall['calibration_error']} away from the share of lines that actually persisted "
            f"(expected calibration error). When it says 70%, expect roughly 70 in 100 such lines "
            f"to persist, give or take that much."
        )
    if overall["brier"] != "not recorded":
        reference = overall.get("brier_reference")
        extra = f"; always guessing the overall rate would score {reference}" if reference else ""
        sentences.append(
            f"Overall miss score: {overall['brier']}, where 0 is perfect and lower is better{extra} "
            "(Brier score: the average of each line's squared miss between its stated probability "
            "and what happened)."
        )
    return sentences


def _calibration(model: Mapping[str, Any]) -> tuple[list[dict], dict | None]:
    table = []
    raw_table = [r for r in (model.get("calibration_table") or []) if isinstance(r, Mapping)]
    n_bins = max([int(number(r.get("bin")) or 0) for r in raw_table] + [9]) + 1
    for row in raw_table:
        low, high = calibration_bin_range(int(number(row.get("bin")) or 0), n_bins)
        predicted, observed = number(row.get("mean_predicted")), number(row.get("observed_rate"))
        table.append(
            {
                "range": f"{low * 100:.0f}\u2013{high * 100:.0f}%",
                "rows": f"{int(number(row.get('rows')) or 0):,}",
                "mean_predicted": predicted,
                "observed_rate": observed,
                "predicted_text": percent(predicted),
                "observed_text": percent(observed),
                "gap_text": (
                    points_text((predicted - observed) * 100)
                    if predicted is not None and observed is not None
                    else "not recorded"
                ),
            }
        )
    chart = calibration_chart(table, "chart-calibration") if table else None
    if chart:
        chart["aria_label"] = (
            f"Estimates against what happened on the test period, {len(table)} groups of lines by "
            "the probability the model gave them. Predicted against observed: "
            + "; ".join(
                f"{r['predicted_text']} predicted, {r['observed_text']} persisted" for r in table
            )
            + ". Points on the diagonal would be estimates that matched what happened."
        )
    return table, chart


def _alerts(drift: Mapping[str, Any]) -> list[dict]:
    alerts = []
    for alert in drift.get("alerts") or []:
        if not isinstance(alert, Mapping):
            continue
        value, threshold = number(alert.get("value")), number(alert.get("threshold"))
        message = clean_text(alert.get("message"))
        measure = (  # said once: scoring's own message may state the number already
            _measure_words(str(alert.get("kind")), value, threshold)
            if value is not None and threshold is not None and f"{value:.2f}" not in message
            else ""
        )
        alerts.append(
            {
                "kind": DRIFT_KIND_WORDS.get(str(alert.get("kind")), "Change in the data"),
                "label": clean_text(alert.get("label_text") or alert.get("name")),
                "message": message,
                "measure": measure,
            }
        )
    return alerts


def _measure_words(kind: str, value: float, threshold: float) -> str:
    """A drift alert's number in words: how far the spread of an input (or of the model's main
    reasons) moved, as the score its warning level is set on; or how far the share of rows an
    input leaves empty moved, in points (the message says which way)."""
    if kind == "missing":
        return (
            f"the share of rows left empty moved {abs(value) * 100:.0f} points; "
            f"warning level {threshold * 100:.0f} points"
        )
    return (
        f"how far its spread moved, as a population stability index: {value:.2f}, against a "
        f"warning level of {threshold:.2f}"
    )


def _gap_sentence(slice_label: str, value: str, gap: float) -> str:
    """ "For line type Home grown, lines persisted about 4 points more often than estimated"."""
    points = abs(round(gap * 100))
    unit = "point" if points == 1 else "points"
    direction = "less often" if gap > 0 else "more often"
    return (
        f"For {slice_label[:1].lower()}{slice_label[1:]} {value}, lines persisted about "
        f"{points} {unit} {direction} than estimated"
    )


def _group_words(group: Any, contract: DataContract) -> str:
    """A group as the fairness check names it (``line_type = home_grown``), as the briefing's
    table names it ("Line type: Home grown")."""
    column, _, value = str(group or "").partition(" = ")
    if column not in contract.column_names:
        return clean_text(group)
    return f"{contract.describe(column)}: {slice_value_text(contract, column, value)}"


def _fairness_row(row: Mapping[str, Any], contract: DataContract) -> dict:
    slice_column = str(row.get("slice", ""))
    known = slice_column in contract.column_names
    slice_label = contract.describe(slice_column) if known else clean_text(slice_column)
    value = (
        slice_value_text(contract, slice_column, row.get("value"))
        if known
        else clean_text(row.get("value"))
    )
    flag = str(row.get("flag", "ok"))
    suppressed = bool(row.get("suppressed")) or flag == "suppressed"
    # the interval the flag uses (widened for the groups compared) where the check recorded it
    flag_interval = row.get("flag_interval_low") is not None
    gap, low, high, detectable = (
        number(row.get(k))
        for k in (
            "calibration_gap",
            "flag_interval_low" if flag_interval else "calibration_gap_low",
            "flag_interval_high" if flag_interval else "calibration_gap_high",
            "detectable_gap",
        )
    )
    if suppressed:
        words, symbol = "too few test lines to judge", "\u2013"
    elif flag == "over-predicts":
        words, symbol = "over-predicts: says lines will persist more often than they did", "\u26a0"
    elif flag == "under-predicts":
        words, symbol = "under-predicts: says lines will persist less often than they did", "\u26a0"
    elif flag == "same lines":  # issue 21: one set of lines is tested once
        words, symbol = f"the same lines as {_group_words(row.get('same_lines_as'), contract)}", "="
    else:
        words, symbol = "no clear gap", "\u2713"
    interval = (
        f"{_end_text(low * 100)} to {_end_text(high * 100)}"
        if low is not None and high is not None
        else ""
    )
    return {
        "slice": slice_label,
        "value": value,
        "rows": f"{int(number(row.get('rows')) or 0):,}",
        "observed": "" if suppressed else percent(row.get("observed_rate")),
        "predicted": "" if suppressed else percent(row.get("mean_predicted")),
        "gap": "" if suppressed or gap is None else points_text(gap * 100),
        "interval": "" if suppressed else interval,
        "detectable": ""
        if suppressed or detectable is None
        else f"{round(detectable * 100)} points",
        "flag": flag,
        "flagged": flag in ("over-predicts", "under-predicts"),
        "words": words,
        "symbol": symbol,
        "sentence": _gap_sentence(slice_label, value, gap)
        if gap is not None and not suppressed
        else "",
    }


def _end_text(points: float) -> str:
    """An end of a gap's likely range in whole points; an end that rounds to 0 but is not 0 says
    which side of zero it lies ("just under 0"), as the flag reads it."""
    text = signed_points(points, 0)
    if text == "0" and points != 0:
        return "just under 0" if points < 0 else "just over 0"
    return text


def _model_words(model: Mapping[str, Any], training: Mapping[str, Any]) -> dict[str, str]:
    refit = model.get("refit_on_all")
    if refit:
        scored_by = (
            "The model that scored this week was refitted on every disruption whose outcome was "
            f"known, up to {clean_text(training.get('test_end') or 'the latest known outcome')}, "
            "test period included; the test results below are those of the same method fitted "
            "before the test period, so they describe how it does on lines it has not seen."
        )
    elif refit is False:
        scored_by = (
            "The model that scored this week is the one tested below: it never saw the test period."
        )
    else:
        scored_by = "Whether the scoring model was refitted after testing was not recorded."
    return {"scored_by": scored_by}


def trust(manifest: Mapping[str, Any], drift: Mapping[str, Any], contract: DataContract) -> dict:
    """The trust section's words and numbers, from the manifest's model summary and drift.json."""
    model = manifest.get("model") or {}
    training = model.get("training") or {}
    metrics = model.get("test_metrics") or {}
    overall = _metric_words(metrics)
    cohorts = []
    for name, cohort_metrics in (model.get("test_metrics_by_cohort") or {}).items():
        value = (
            slice_value_text(contract, contract.cohort_column, name)
            if contract.cohort_column
            else clean_text(name)
        )
        cohorts.append({"name": value, **_metric_words(cohort_metrics or {})})
    table, chart = _calibration(model)
    fairness = (
        [_fairness_row(r, contract) for r in model["fairness"] if isinstance(r, Mapping)]
        if model.get("fairness")
        else None
    )
    tolerance = number(model.get("fairness_tolerance"))
    input_info = manifest.get("input") or {}

    def count(value: Any) -> str:
        return f"{int(value):,}" if number(value) is not None else "not recorded"

    return {
        "model_name": clean_text(model.get("name") or "not recorded"),
        "model_version": clean_text(model.get("version") or "not recorded"),
        "run_id": clean_text(model.get("run_id") or ""),
        "family": FAMILY_WORDS.get(
            str(model.get("family", "")).lower(), clean_text(model.get("family") or "not recorded")
        ),
        **{
            k: clean_text(training.get(k) or "not recorded")
            for k in ("train_start", "train_end", "test_start", "test_end")
        },
        "train_rows": count(training.get("train_rows")),
        "test_rows": count(training.get("test_rows")),
        **_model_words(model, training),
        "overall": overall,
        "sentences": _performance_sentences(metrics, overall),
        "cohorts": cohorts,
        "calibration_table": table,
        "calibration_chart": chart,
        "alerts": _alerts(drift),
        "fairness": fairness,
        "fairness_flagged": [f for f in (fairness or []) if f["flagged"]],
        "tolerance_text": _tolerance_text(tolerance),
        "warnings": [clean_text(w) for w in (manifest.get("warnings") or [])],
        "input_rows": count(input_info.get("rows")),
        "input_sha256": clean_text(input_info.get("sha256") or ""),
        "input_path": clean_text(input_info.get("path") or ""),
        "toolkit_version": clean_text(manifest.get("toolkit_version") or "not recorded"),
        "record_age": record_age_words(model),
        "drift_carried": drift_carried_words(model, contract),
        "decision_log": decision_log_head(manifest),
    }


def drift_carried_words(model: Mapping[str, Any], contract: DataContract) -> str | None:
    """What the model assumes when its calibrator carries a drift between kinds of line to the
    weeks it scores (the manifest's ``cohort_drift``), in words; None when it carries none."""
    drift = model.get("cohort_drift")
    per_year = drift.get("per_year") if isinstance(drift, Mapping) else None
    if not isinstance(per_year, Mapping):
        return None
    column = clean_text(drift.get("column") or contract.cohort_column or "")
    slopes = {str(value): number(slope) for value, slope in per_year.items()}
    moves = [
        (slice_value_text(contract, column, value), slope)
        for value, slope in sorted(slopes.items())
        if slope is not None and abs(slope) >= MATERIAL_DRIFT_PER_YEAR
    ]
    if not moves:
        return None
    kept = ", ".join(
        f"{name.lower()} lines' chances kept {'rising' if s > 0 else 'falling'}"
        for name, s in moves
    )
    run = " and ".join(
        f"{name.lower()} lines' estimates run {'high' if s > 0 else 'low'}" for name, s in moves
    )
    weeks = number(drift.get("carried_weeks"))
    forward = (
        f"to each disruption's date, for up to {weeks:.0f} weeks after it was trained"
        if weeks
        else "to the weeks it scores"
    )
    return (
        f"Whether a change over time carries on. In the records it learned from, {kept}, by more "
        f"than the records explain; the model carries that change forward {forward}. "
        f"If the change has stopped, {run}."
    )


def decision_log_head(manifest: Mapping[str, Any]) -> dict | None:
    """The decision log's record count and head hash when the week was scored: printed, each
    briefing is a witness kept outside the machine (``resilience-decide verify=true head=...``)."""
    head = manifest.get(DECISION_HEAD)
    if not isinstance(head, Mapping) or number(head.get("records")) is None:
        return None
    return {
        "records": f"{int(head['records']):,}",
        "head_hash": clean_text(head.get("head_hash") or ""),
        "log_id": clean_text(head.get("log_id") or ""),
    }


def decision_log_line(manifest: Mapping[str, Any]) -> str | None:
    """The terminal's line for the decision log, the same for a scored week (``resilience-score``)
    and a rebuilt briefing (``resilience-report``): the record count and head hash the week's
    briefing prints, and the command that checks them later; None when the week holds no head."""
    head = decision_log_head(manifest)
    if head is None:
        return None
    week = clean_text(manifest.get("week") or "")
    return (
        f"decision log when week {week} was scored: {head['records']} decision(s), "
        f"head {head['head_hash']}; check it later with: "
        f"resilience-decide verify=true head={head['head_hash'][:16]}"
    )


def _tolerance_text(tolerance: float | None) -> str:
    widened = "(widened because many groups are compared)"
    if tolerance is None:
        return (
            f"a group is flagged when the likely range of its gap {widened} lies wholly on one "
            "side of zero and reaches beyond the tolerance set at training (the tolerance itself "
            "was not recorded with this model)"
        )
    return (
        f"a group is flagged when the likely range of its gap between prediction and what "
        f"happened {widened} lies wholly on one side of zero and reaches more than "
        f"{tolerance * 100:.0f} points from it: the gap is real and may be that large"
    )


def how_sure(facts: Mapping[str, Any], trend: Mapping[str, Any] | None = None) -> str:
    """Page 1's "how sure" in plain sentences, from :func:`trust`'s words: how well the model ranked
    and how close its probabilities were to the share that persisted on the test period; how the
    estimates did on outcomes known since (from ``trend``); and this week's warnings."""
    overall = facts.get("overall") or {}
    parts = []
    if overall.get("ranking", "not recorded") != "not recorded":
        parts.append(f"ranked a line that persisted above one that closed {overall['ranking']}")
    if overall.get("calibration_error", "not recorded") != "not recorded":
        parts.append(
            f"its probabilities were on average {overall['calibration_error']} from the share "
            "of lines that persisted"
        )
    text = (
        f"Tested on past disruptions it had not seen, the model {'; '.join(parts)}."
        if parts
        else "No test results were recorded with this model."
    )
    realised = realised_total(trend)
    if realised:
        text += (
            f" Since then, {plural(realised['known'], 'outcome')} of lines it scored became known: "
            f"{realised['persisted']:,} persisted; the estimates given before each was known "
            f"expected {chance_words(realised['expected'], realised['variance'])}, "
            f"{realised['verdict']}."
        )
    cautions = []
    if facts.get("alerts"):
        n = len(facts["alerts"])
        cautions.append(
            f"this week's data differs from what it learned from in {n} way{'' if n == 1 else 's'}"
        )
    if facts.get("fairness_flagged"):
        n = len(facts["fairness_flagged"])
        cautions.append(
            f"it was clearly off for {n} group{'' if n == 1 else 's'} of lines when tested"
        )
    if facts.get("warnings"):
        n = len(facts["warnings"])
        cautions.append(f"scoring raised {n} warning{'' if n == 1 else 's'}")
    if cautions:
        text += " Take care: " + "; ".join(cautions) + " (see how far to trust this briefing)."
    return text
