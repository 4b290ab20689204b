"""What the train command reads besides the extract: an experiment's row filter, and a synthetic
world's true probabilities (evaluation only, never trained on)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from resilience.core.errors import ResilienceError, first_few, nearest
from resilience.data.contract import DataContract


def filter_rows(frame: pd.DataFrame, row_filter: Mapping | None) -> pd.DataFrame:
    """Keep rows whose columns take the listed values, e.g. ``{"line_type": ["home_grown"]}``."""
    if not row_filter:
        return frame
    mask = pd.Series(True, index=frame.index)
    absent = []  # what a value no row holds might have meant
    for column, values in row_filter.items():
        if column not in frame.columns:
            close = nearest(column, frame.columns)
            hint = f" (did you mean '{close}'?)" if close else ""
            raise ResilienceError(
                f"row_filter names column '{column}', which the extract does not have{hint}"
            )
        held = frame[column].dropna().astype(str)
        wanted = [str(v) for v in values]
        mask &= frame[column].astype(str).isin(wanted)
        levels = sorted(set(held))
        for value in (v for v in wanted if v not in set(levels)):
            close = nearest(value, levels)
            absent.append(
                f"no row has {column} '{value}'"
                + (f" (did you mean '{close}'?)" if close else "")
                + (f"; it holds {first_few(repr(v) for v in levels)}" if len(levels) <= 20 else "")
            )
    if not mask.any():
        detail = f": {'; '.join(absent)}" if absent else ""
        raise ResilienceError(f"row_filter {dict(row_filter)} keeps no rows{detail}")
    return frame[mask].reset_index(drop=True)


def require_both_outcomes(frame: pd.DataFrame, label: str, source: str, row_filter=None) -> None:
    """A labelled history whose rows all have one outcome cannot train a model: refused naming
    the file, the label column and the outcome every row holds (and the row filter, if one
    left only those rows), before any work."""
    outcomes = frame[label].dropna().astype(bool).unique()
    if len(frame) and len(outcomes) < 2:
        held = f"every labelled row is {outcomes[0]}" if len(outcomes) else "no row is labelled"
        kept = (
            f" of the {len(frame):,} rows row_filter {dict(row_filter)} keeps" if row_filter else ""
        )
        raise ResilienceError(
            f"{source}: column '{label}' holds one outcome only ({held}{kept}); a model needs "
            "lines that persisted and lines that did not"
        )


def load_truth(
    setting: str | None, input_path: Path, contract: DataContract
) -> pd.DataFrame | None:
    """The synthetic world's true probabilities (evaluation only: never trained on)."""
    if setting in (None, "none", "null"):
        return None
    path = input_path.parent / "truth.parquet" if setting == "auto" else Path(setting)
    if not path.is_file():
        if setting == "auto":
            return None
        raise ResilienceError(f"truth file {path} does not exist")
    truth = pd.read_parquet(path)
    if contract.id_column not in truth.columns or "true_probability" not in truth.columns:
        raise ResilienceError(
            f"truth file {path} needs columns {contract.id_column} and true_probability"
        )
    return truth[[contract.id_column, "true_probability"]]
