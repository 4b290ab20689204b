"""The explore command's pipeline: a scored week's line explorer (:mod:`resilience.report.explorer`)
written as ``explorer.html`` into the week's folder, for data scientists (the commander's annex
is unchanged). The model is the very version that scored the week (its manifest names it, vetted
as scoring vets it); the lines are the week's highest-ranked, up to ``lines``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from resilience.core.errors import ResilienceError
from resilience.core.week_files import (
    CONTRACT,
    EXPLANATIONS,
    MANIFEST,
    SCORES_PARQUET,
    kept_extract_name,
)
from resilience.core.weeks import WEEK_PATTERN, week_folder
from resilience.data.contract import DataContract
from resilience.data.io import file_sha256, read_json, write_text_atomic
from resilience.data.record_age import with_record_age
from resilience.data.validate import load_extract
from resilience.governance import decisions
from resilience.report.explorer import line_records, render_explorer, what_if_table
from resilience.tracking import vetting

EXPLORER = "explorer.html"


def _history(output_root: Path, line_ids: set[str]) -> dict[str, list[dict]]:
    """Each line's estimate in every scored week under ``output_root``, oldest first."""
    out: dict[str, list[dict]] = {}
    for folder in sorted(p for p in output_root.iterdir() if WEEK_PATTERN.match(p.name)):
        path = folder / SCORES_PARQUET
        if not path.is_file():
            continue
        scores = pd.read_parquet(
            path, columns=["line_id", "persistence_probability", "yardstick_band"]
        )
        for row in scores[scores["line_id"].astype(str).isin(line_ids)].to_dict("records"):
            out.setdefault(str(row["line_id"]), []).append(
                {
                    "week": folder.name,
                    "probability": float(row["persistence_probability"]),
                    "band": row["yardstick_band"],
                }
            )
    return out


def _decisions(log_path: Path | None, line_ids: set[str]) -> dict[str, list[dict]]:
    if log_path is None or not Path(log_path).is_file():
        return {}
    records = decisions.read(log_path)
    out: dict[str, list[dict]] = {}
    for row in records[records["line_id"].astype(str).isin(line_ids)].to_dict("records"):
        out.setdefault(str(row["line_id"]), []).append(
            {k: row[k] for k in ("week", "decision", "reason")} | {"by": row["by_role"]}
        )
    return out


def scored_extract(folder: Path, manifest: dict) -> Path:
    """The very extract the week scored: the copy kept in its folder, else the file it was read
    from, either only while its bytes have the SHA-256 the manifest recorded (the file at the
    input's path may since hold another week's export under the same name)."""
    given, sha = Path(manifest["input"]["path"]), manifest["input"].get("sha256")
    places = [folder / kept_extract_name(given.suffix), given]
    for path in places:
        if path.is_file() and file_sha256(path) == sha:
            return path
    raise ResilienceError(
        f"week {folder.name}: the extract it scored is neither kept in its folder nor at {given} "
        f"with the bytes it scored (SHA-256 {sha}); rescore the week from that extract to explore it"
    )


def check_page_size(lines: int) -> None:
    """Refuse a page of fewer than one line (head(0) is an empty page, head(-5) every line but
    the last five)."""
    if lines < 1:
        raise ResilienceError(f"lines={lines}: give how many lines the page shows, at least 1")


def explore_week(
    output_root: str | Path,
    week: str,
    lines: int = 50,
    decision_log: str | Path | None = None,
    trusted_keys=None,
) -> Path:
    """Write ``<output_root>/<week>/explorer.html``; returns its path."""
    check_page_size(lines)
    folder = week_folder(output_root, week)
    if not (folder / SCORES_PARQUET).is_file():
        raise ResilienceError(f"week {week} has not been scored: no {folder / SCORES_PARQUET}")
    manifest = read_json(folder / MANIFEST)
    contract = DataContract.from_dict(read_json(folder / CONTRACT))
    model_info = manifest["model"]
    uri = (
        f"models:/{model_info['name']}/{model_info['version']}"
        if model_info.get("name") and model_info.get("version")
        else model_info["uri"]
    )
    model, _ = vetting.load_persistence_model(uri, trusted_keys=trusted_keys)
    scores = pd.read_parquet(folder / SCORES_PARQUET).sort_values("rank").head(lines)
    chosen = set(scores["disruption_id"].astype(str))
    # each record's age as scoring derived it: to the whole extract's as-of date, before choosing
    extract = with_record_age(
        load_extract(scored_extract(folder, manifest), contract).frame, contract
    )
    extract = extract[extract[contract.id_column].astype(str).isin(chosen)]
    explanations = pd.read_parquet(folder / EXPLANATIONS)
    explanations = explanations[explanations["disruption_id"].astype(str).isin(chosen)]
    features = [  # what a what-if may move: the record's own columns, not the age the toolkit derives
        f
        for f in model.feature_names_
        if f in extract.columns and f not in contract.derived_columns
    ]
    line_ids = set(scores["line_id"].astype(str))
    records = line_records(
        scores,
        explanations,
        extract,
        contract,
        _history(folder.parent, line_ids),
        _decisions(Path(decision_log) if decision_log else None, line_ids),
        what_if_table(model, extract, contract, features),
    )
    labels = {name: contract.describe(name) for name in features}
    return write_text_atomic(folder / EXPLORER, render_explorer(week, records, labels))
