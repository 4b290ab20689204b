"""The toolkit's exception types: every error a user can cause is one of these."""
from __future__ import annotations

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
                f"row {r} ({v!r})" if v != "" else f"row {r}" for r, v in zip(self.rows, self.values)
            )
            more = f" and {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
            text += f"; {self.count} offending row{'s' if self.count != 1 else ''}: {shown}{more}"
        return text


class ContractError(ResilienceError):
    """An extract that breaks the data contract. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) with the extract:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
