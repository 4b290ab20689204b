"""Explanations as frames, chunk by chunk: what weekly scoring and the pyfunc write.

:func:`iter_explanations` and :func:`explain_frame` work through a frame ``chunk_rows`` rows at a
time, so the working memory depends on the chunk size, not the frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from resilience.data.io import atomic_path
from resilience.explain.explanation import Explanation, explain
from resilience.explain.shap_values import ExplanationError

DEFAULT_CHUNK_ROWS = 50_000


def iter_explanations(
    model, frame: pd.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[Explanation]:
    """Explain ``frame`` ``chunk_rows`` rows at a time (memory set by the chunk, not the frame)."""
    if chunk_rows < 1:
        raise ExplanationError(f"chunk_rows must be >= 1, not {chunk_rows}")
    for start in range(0, len(frame), chunk_rows):
        yield explain(model, frame.iloc[start : start + chunk_rows])


def explain_frame(
    model,
    frame: pd.DataFrame,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    path: str | Path | None = None,
    points: bool = False,
) -> pd.DataFrame | Path:
    """Reasons for every row, chunk by chunk.

    Parameters
    ----------
    model, frame : as for :func:`explain`
    chunk_rows : rows explained at a time
    path : if given, each chunk's rows are appended to a Parquet file as they are made (staged
        beside ``path`` and renamed into place when complete, so a failure leaves any earlier file
        untouched) and the path is returned: memory stays flat however many rows there are.
        Otherwise the rows are returned as one frame (which itself grows with the rows).
    points : also include the per-feature contributions in points (prefixed ``points_``)

    Returns
    -------
    DataFrame (or the Parquet path) with :meth:`Explanation.reasons_frame` columns.
    """
    if path is None:
        parts = [
            _frame_part(explanation, points)
            for explanation in iter_explanations(model, frame, chunk_rows)
        ]
        return (
            pd.concat(parts, ignore_index=True)
            if parts
            else _frame_part(explain(model, frame.iloc[:0]), points)
        )
    _write_parquet(model, frame, chunk_rows, Path(path), points)
    return path


def _write_parquet(model, frame: pd.DataFrame, chunk_rows: int, path: Path, points: bool) -> None:
    """Append each chunk's rows to a Parquet file staged beside ``path`` and renamed into place
    when complete (a failure leaves any earlier file untouched and no temp file behind)."""
    with atomic_path(path) as staging:
        writer = None
        try:
            chunks = (
                iter_explanations(model, frame, chunk_rows)
                if len(frame)
                else iter([explain(model, frame)])
            )
            for explanation in chunks:
                table = pa.Table.from_pandas(_frame_part(explanation, points), preserve_index=False)
                del explanation
                if writer is None:
                    writer = pq.ParquetWriter(staging, table.schema)
                writer.write_table(table)
                del table
                pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages otherwise
        finally:
            if writer is not None:
                writer.close()


def _frame_part(explanation: Explanation, points: bool) -> pd.DataFrame:
    part = explanation.reasons_frame()
    if points:
        part = pd.concat([part, explanation.points.add_prefix("points_")], axis=1)
    return part
