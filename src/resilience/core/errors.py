"""The toolkit's exception types: every error a user can cause is one of these."""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Iterable
from dataclasses import dataclass


class ResilienceError(Exception):
    """Base class: a problem the user can fix (bad input, bad config, missing model)."""


class ConfigError(ResilienceError):
    """A config that cannot be used (unknown key, forbidden feature, inconsistent roles)."""


@dataclass(frozen=True)
class Problem:
    """One rule broken by an extract.

    ``rows`` are 1-based data-row numbers (the header is not counted), the first few offenders.
    """

    source: str
    column: str | None
    rule: str
    expected: str
    rows: tuple[int, ...] = ()
    values: tuple[str, ...] = ()
    count: int = 0
    severity: str = "error"

    def __str__(self) -> str:
        where = f"column '{self.column}'" if self.column else "extract"
        text = f"{self.source}: {where}: {self.rule}; expected {self.expected}"
        if self.count:
            shown = ", ".join(
                f"row {r} ({v!r})" if v != "" else f"row {r}"
                for r, v in zip(self.rows, self.values)
            )
            more = f" and {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
            text += f"; {self.count} offending row{'s' if self.count != 1 else ''}: {shown}{more}"
        return text


class ContractError(ResilienceError):
    """An extract that breaks the data contract. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        if len(self.problems) == 1:  # one problem is one line
            super().__init__(str(self.problems[0]))
            return
        lines = [f"{len(self.problems)} problems with the extract:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ExplanationError(ResilienceError):
    """An explanation that cannot be trusted (e.g. contributions that do not add up to the margin)."""


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM) in the middle of a run; cleanup has run."""


def os_error_message(exc: OSError, doing: str) -> str:
    """One sentence for a file-system failure: the file, what went wrong and what to do."""
    where = exc.filename or "a file"
    reason = exc.strerror or str(exc)
    advice = {
        errno.ENOSPC: "the disk is full: free some space (or choose another output_root) and rerun",
        errno.EDQUOT: "the disk quota is used up: free some space (or choose another output_root) and rerun",
        errno.EFBIG: "the file grew beyond the size this system allows: choose another output_root and rerun",
        errno.EACCES: "permission denied: choose a folder you can write to, or ask for access",
        errno.EPERM: "permission denied: choose a folder you can write to, or ask for access",
        errno.EROFS: "the file system is read-only: choose a writable folder",
        errno.ENOTDIR: "a path component is a file, not a folder: fix the path",
        errno.EEXIST: "a file is in the way: move it or choose another path",
        errno.EISDIR: "a folder is where a file was expected: fix the path",
    }.get(exc.errno, "check the path and rerun")
    return f"{doing}: {where}: {reason}; {advice}"


def nearest(
    name: object, known: Iterable[str], cutoff: float = 0.6, read_as=str.lower
) -> str | None:
    """The known name closest to a mistyped one, each read through ``read_as`` (case ignored by
    default), or None when none is at least ``cutoff`` close."""
    read = {read_as(str(k)): str(k) for k in sorted(known)}
    match = difflib.get_close_matches(read_as(str(name)), list(read), n=1, cutoff=cutoff)
    return read[match[0]] if match else None


# C0 and C1 control characters (NUL, tab, CR, LF, ESC, DEL...), the Unicode line and paragraph
# separators, and the bidirectional embeddings, overrides and isolates that make text display in a
# different order from how it is stored.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_CONTROL = re.compile(CONTROL_CHARACTERS)
_CONTROL_BUT_LF = re.compile(CONTROL_CHARACTERS.replace(r"\x00-\x1f", r"\x00-\x09\x0b-\x1f"))


def escaped(text: object, keep_line_breaks: bool = False) -> str:
    """``text`` for a terminal: every character of :data:`CONTROL_CHARACTERS` written as its
    escape (``\\n``, ``\\x1b``, ``\\u202e``), so text echoed back can neither break the line, send
    the terminal an escape sequence nor reverse what follows it; ``keep_line_breaks``: a line
    break stays one (a message of several problems, one per line)."""
    pattern = _CONTROL_BUT_LF if keep_line_breaks else _CONTROL
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def first_few(items: Iterable[object], shown: int = 5, separator: str = ", ") -> str:
    """The first ``shown`` items as text, then "and N more" (for messages: ids, columns, characters)."""
    items = [str(i) for i in items]
    more = f" and {len(items) - shown:,} more" if len(items) > shown else ""
    return separator.join(items[:shown]) + more


# What an SQLite error means for the person reading it (the decision log and a local MLflow store):
# only a damaged file is worth restoring from backup; a locked store or a full disk is not damage.
SQLITE_CAUSES = {
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
    "SQLITE_FULL": "full",
    "SQLITE_CORRUPT": "damaged",
    "SQLITE_NOTADB": "damaged",
    "SQLITE_READONLY": "read-only",
    "SQLITE_PERM": "read-only",
    "SQLITE_CANTOPEN": "cannot open",
    "SQLITE_IOERR": "input/output",
}
_SQLITE_WORDS = (
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
    ("disk is full", "full"),
    ("malformed", "damaged"),
    ("not a database", "damaged"),
    ("readonly database", "read-only"),
    ("unable to open database", "cannot open"),
    ("disk i/o error", "input/output"),
)


def sqlite_cause(exc: BaseException | None) -> str:
    """``locked``, ``full``, ``damaged``, ``read-only``, ``cannot open``, ``input/output`` or
    ``other`` for an SQLite error (or an error wrapping one, e.g. SQLAlchemy's ``.orig``)."""
    for error in (exc, getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        name = getattr(error, "sqlite_errorname", None) or ""
        for prefix, cause in SQLITE_CAUSES.items():
            if name == prefix or name.startswith(prefix + "_"):
                return cause
    text = " ".join(str(e) for e in (exc, getattr(exc, "orig", None)) if e is not None).lower()
    return next((cause for words, cause in _SQLITE_WORDS if words in text), "other")
