"""Reading extracts (CSV or Parquet) and writing outputs atomically.

Reading keeps every value as the file has it (CSV: as text) so that validation can say exactly
which row held what; typing happens in :mod:`resilience.data.validate`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import itertools
import json
import os
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from resilience.core.errors import ContractError, Problem, ResilienceError, nearest
from resilience.data.csv_safety import append_csv
from resilience.data.problems import shown_value

CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise ResilienceError(f"{path}: unknown extract format '{suffix}'; expected .csv or .parquet")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ResilienceError(f"{path}: no such file")
    if not path.is_file():
        raise ResilienceError(f"{path}: is not a file")


def printable_name(name: object) -> str:
    """A column name safe to print, at most 60 chars: escaped when it holds a character that does
    not print visibly (control characters, bidi overrides, zero-width or non-ASCII spaces), so
    ``'contacts\\u200b'`` never looks like ``'contacts'``."""
    text = str(name)
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 60 else text[:57] + "..."


def _read_as(name: str) -> str:
    """A column name as a person reads it: case, width, spacing and invisible characters aside
    (``Contacts``, ``CONTACTS`` and ``contacts`` followed by a zero-width space read the same)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join("_" if ch in " -" else ch for ch in text if ch.isprintable())


def closest_name(name: str, names: list[str]) -> str | None:
    """The one of ``names`` that reads as ``name`` or nearly (a missing column's near miss in the
    file), printable; None when none is close. For messages only: columns are matched exactly."""
    close = nearest(name, names, cutoff=0.85, read_as=_read_as)
    return printable_name(close) if close is not None else None


def _header(path: Path) -> list[str]:
    """The CSV's header row as written (the csv module, so quoted names with commas stay whole)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]


def _check_header(path: Path) -> None:
    """Refuse a column named twice: pandas would silently rename the second ``contacts.1``."""
    header = _header(path)
    twice = [name for name, count in Counter(header).items() if count > 1]
    if twice:
        raise ContractError(
            [
                Problem(
                    str(path),
                    printable_name(name),
                    "column appears more than once in the header row",
                    "each column once",
                )
                for name in twice
            ]
        )
    _check_fields(path, len(header))


def _check_fields(path: Path, expected: int) -> None:
    """Refuse rows with more or fewer fields than the header row, naming them (data rows numbered
    from 1 after the header, blank lines not counted, as validation numbers them), and a double
    quote that opens a value and is never closed, naming its line in the file.

    pandas would stop at the first long row with its own message, silently pad a short row with
    empty values, or, when every row has one field more, take each row's first field as the index
    and read every other value under the wrong column. An unclosed quote swallows the lines after
    it into one value: pandas says "EOF inside string", and a count of fields would blame the
    row, not the quote. A value too large for the csv module, not quoted, ends the scan (pandas
    reads it and validation names it). One pass of the csv module: about a tenth of the time
    pandas takes to read the same file.
    """
    ragged, unclosed = _scan_fields(path, expected)
    if unclosed is not None:
        row, line = unclosed
        raise ContractError(
            [
                Problem(
                    str(path),
                    None,
                    f"a double quote opened on line {line:,} of the file is not closed on its line "
                    "(the lines after it were read as one value)",
                    "a closing double quote for each opening one (a double quote inside a quoted "
                    'value is written twice: "")',
                    (row,),
                    (shown_value(_line(path, line).rstrip("\r\n")),),
                    1,
                )
            ]
        )
    if ragged:
        shown = ragged[:5]
        raise ContractError(
            [
                Problem(
                    str(path),
                    None,
                    "row with a different number of fields from the header row",
                    f"{expected} fields in every row, as in the header row (a value holding a "
                    "comma must be in double quotes)",
                    tuple(row for row, _ in shown),
                    tuple(f"{n} field{'s' if n != 1 else ''}" for _, n in shown),
                    len(ragged),
                )
            ]
        )


def _scan_fields(path: Path, expected: int) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
    """The data rows without ``expected`` fields (row, fields), and where a double quote opens a
    value that runs over several lines into a row of the wrong length, or past the csv module's
    limit: (data row, line of the file), None when there is none."""
    ragged: list[tuple[int, int]] = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        records = csv.reader(handle)
        next(records, None)
        row, start = 0, records.line_num + 1
        try:
            for record in records:
                if len(record) > 1 or (record and record[0].strip()):  # no row to pandas either
                    row += 1
                    if len(record) != expected:
                        if records.line_num > start:  # one record over several lines
                            return ragged, (row, start)
                        ragged.append((row, len(record)))
                start = records.line_num + 1
        except csv.Error:
            return ragged, (row + 1, start) if _line(path, start).count('"') % 2 else None
    return ragged, None


def _line(path: Path, number: int) -> str:
    """Line ``number`` (from 1) of the file as text."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return next(itertools.islice(handle, number - 1, None), "")


def _check_parquet_columns(path: Path) -> None:
    """Refuse a Parquet file naming a column twice, in one line (pyarrow would dump its schema)."""
    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        if _looks_like_csv(path):
            raise ResilienceError(
                f"{path}: comma-separated text, not a Parquet file; name it .csv"
            ) from exc
        raise ResilienceError(f"{path}: cannot be read as Parquet: {_first_line(exc)}") from exc
    twice = [name for name, count in Counter(names).items() if count > 1]
    if twice:
        shown = ", ".join(f"'{printable_name(name)}'" for name in twice)
        raise ResilienceError(
            f"{path}: column {shown} appears more than once in the file; expected each column "
            "once (drop or rename the copy and write the file again)"
        )


def _looks_like_csv(path: Path) -> bool:
    """Does the file start with a line of text holding a comma (a CSV given a Parquet name)?"""
    with open(path, "rb") as handle:
        start = handle.read(4096)
    first = start.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return b"," in first and first.decode("utf-8-sig").isprintable()
    except UnicodeDecodeError:
        return False


def _first_line(exc: BaseException) -> str:
    """A library's message cut to its first line (pyarrow appends whole schemas)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _has_nul(path: Path) -> bool:
    """Does the file hold a NUL byte anywhere? (pandas' C parser silently cuts a value at one.)"""
    with open(path, "rb") as handle:
        return any(b"\x00" in block for block in iter(lambda: handle.read(1 << 20), b""))


def _read_csv(path: Path, **kwargs) -> pd.DataFrame | Iterator[pd.DataFrame]:
    # utf-8-sig drops a byte-order mark; pandas handles \r\n and quoted fields itself. Everything
    # is read as text and only "" counts as empty, so "NA" in an id column stays an id. A file with
    # a NUL byte is read by the Python engine, which keeps the value whole for validation to refuse.
    try:
        _check_header(path)
        if _has_nul(path):
            kwargs["engine"] = "python"
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            encoding="utf-8-sig",
            skipinitialspace=False,
            **kwargs,
        )
    except UnicodeDecodeError as exc:
        raise ResilienceError(_not_utf8(path)) from exc
    except pd.errors.EmptyDataError as exc:
        raise ContractError(
            [
                Problem(
                    str(path), None, "the file is empty", "a header row and at least one data row"
                )
            ]
        ) from exc
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise ResilienceError(f"{path}: cannot be read as CSV: {exc}") from exc


# what a file that is not CSV text is, by its first bytes, and what to do
SIGNATURES = (
    (b"PK\x03\x04", "a zip file (an Excel .xlsx workbook?), not CSV text", "save it as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook, not CSV text", "save it as CSV UTF-8"),
    (b"PAR1", "a Parquet file, not CSV text", "name it .parquet"),
    (b"\x1f\x8b", "a gzip-compressed file, not CSV text", "decompress it first"),
)


def _signature(path: Path) -> str | None:
    """What the file is by its first bytes, when that is one of :data:`SIGNATURES`, with advice."""
    with open(path, "rb") as handle:
        start = handle.read(8)
    for magic, what, advice in SIGNATURES:
        if start.startswith(magic):
            return f"{path}: {what}; {advice}"
    return None


def _not_utf8(path: Path) -> str:
    """Where a file that is not UTF-8 stops being so: its byte and line, found by reading the file
    itself (the decoder's position inside pandas' buffer is not the file's), that it is UTF-16,
    or what else it is (a workbook, a Parquet or gzip file: :data:`SIGNATURES`)."""
    advice = "save the extract as UTF-8 CSV"
    if (known := _signature(path)) is not None:
        return known
    with open(path, "rb") as handle:
        if handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return f"{path}: UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8; {advice}"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = lines = 0
        for block in iter(lambda: handle.read(1 << 20), b""):
            pending = len(decoder.getstate()[0])  # bytes of a character begun in the last block
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                at = max(exc.start - pending, 0)
                line = lines + block[:at].count(b"\n") + 1
                return (
                    f"{path}: not valid UTF-8 text (byte {offset + at:,}, 0x{block[at]:02x}, on "
                    f"line {line:,} of the file: Latin-1 or Windows-1252 text?); {advice}"
                )
            offset += len(block)
            lines += block.count(b"\n")
    return f"{path}: not valid UTF-8 text; {advice}"


def read_extract(path: str | Path) -> pd.DataFrame:
    """Read a whole extract. CSV values arrive as text ("" for empty), Parquet values as stored."""
    path = Path(path)
    _check_file(path)
    if _kind(path) == "csv":
        frame = _read_csv(path)
    else:
        _check_parquet_columns(path)
        try:
            frame = pq.read_table(path).to_pandas()
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise ResilienceError(f"{path}: cannot be read as Parquet: {_first_line(exc)}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def read_columns(path: str | Path, names: list[str]) -> pd.DataFrame:
    """Only the named columns of an extract (those it has, by their stripped names), as stored
    (CSV: as text): a cheap look at an extract's ids and dates before it is read whole."""
    path = Path(path)
    _check_file(path)
    if _kind(path) == "parquet":
        _check_parquet_columns(path)
        present = [n for n in pq.read_schema(path).names if n.strip() in names]
        frame = pq.read_table(path, columns=present).to_pandas()
    else:
        frame = _read_csv(path, usecols=lambda name: name.strip() in names)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def iter_extract(path: str | Path, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """Stream an extract in chunks (Parquet row batches, CSV chunks); each chunk's index continues
    the row numbering of the file, so errors still name the right rows. A file without data rows
    yields no chunk (pandas gives a header-only CSV one empty chunk): the caller says it is empty."""
    path = Path(path)
    _check_file(path)
    start = 0
    if _kind(path) == "csv":
        chunks = _read_csv(path, chunksize=chunk_rows)
    else:
        _check_parquet_columns(path)
        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:
            raise ResilienceError(f"{path}: cannot be read as Parquet: {_first_line(exc)}") from exc
        chunks = (batch.to_pandas() for batch in parquet.iter_batches(batch_size=chunk_rows))
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        chunk.columns = [str(c).strip() for c in chunk.columns]
        chunk.index = pd.RangeIndex(start, start + len(chunk))
        start += len(chunk)
        yield chunk


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, for manifests and audit records."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success it is renamed onto ``target``, on error removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if (
            tmp_path.is_file()
        ):  # mkstemp makes the file private (0600): give it the usual permissions
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process's umask (read by setting and restoring it: there is no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write text to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_frame_atomic(frame: pd.DataFrame, target: str | Path) -> Path:
    """Write a frame as Parquet or CSV (by suffix) atomically, with deterministic bytes; a CSV as
    ``scores.csv`` is written (:func:`append_csv`: no cell can start a spreadsheet formula)."""
    target = Path(target)
    with atomic_path(target) as tmp:
        if _kind(target) == "csv":
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                append_csv(handle, frame, header=True)
        else:
            frame.to_parquet(tmp, index=False)
    return target


def read_json(
    path: str | Path, advice: str = "restore it from backup or rerun the command that wrote it"
):
    """A JSON file the toolkit wrote; a damaged or unreadable one is one clear error naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResilienceError(f"{path} is missing; {advice}") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResilienceError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); {advice}"
        ) from exc


def read_parquet(
    path: str | Path,
    advice: str = "restore it from backup or rerun the command that wrote it",
    **kwargs,
) -> pd.DataFrame:
    """A Parquet file the toolkit wrote; a damaged or unreadable one is one clear error naming it."""
    path = Path(path)
    try:
        return pd.read_parquet(path, **kwargs)
    except FileNotFoundError as exc:
        raise ResilienceError(f"{path} is missing; {advice}") from exc
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise ResilienceError(f"{path} cannot be read ({type(exc).__name__}); {advice}") from exc
