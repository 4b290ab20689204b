"""The NCA probability yardstick: words for probabilities that every report uses.

The yardstick's bands have deliberate gaps (5-10%, 20-25%, 35-40%, 50-55%, 75-80%, 90-95%). We
place a value that falls in a gap in the *nearer* band (gaps are split at their midpoint) and mark
it ``in_gap`` so the wording can say so: "a realistic possibility (52%, between 'realistic
possibility' and 'likely')". Percentages are rounded to whole numbers before banding, so the words
always agree with the number printed beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

# (name, lowest %, highest %) as published
BANDS: tuple[tuple[str, float, float], ...] = (
    ("remote chance", 0, 5),
    ("highly unlikely", 10, 20),
    ("unlikely", 25, 35),
    ("realistic possibility", 40, 50),
    ("likely", 55, 75),
    ("highly likely", 80, 90),
    ("almost certain", 95, 100),
)
BAND_NAMES = tuple(name for name, _, _ in BANDS)


@dataclass(frozen=True)
class Placement:
    """Where a probability sits on the yardstick."""

    band: str
    percent: int
    in_gap: bool = False
    lower_band: str | None = None
    upper_band: str | None = None

    @property
    def words(self) -> str:
        """e.g. "likely (62%)" or "likely (53%, between 'realistic possibility' and 'likely')"."""
        if self.in_gap:
            return f"{self.band} ({self.percent}%, between '{self.lower_band}' and '{self.upper_band}')"
        return f"{self.band} ({self.percent}%)"


def place(probability: float) -> Placement:
    """Place a probability (0-1) on the yardstick."""
    percent = int(round(min(max(float(probability), 0.0), 1.0) * 100))
    for i, (name, low, high) in enumerate(BANDS):
        if low <= percent <= high:
            return Placement(name, percent)
        nxt = BANDS[i + 1] if i + 1 < len(BANDS) else None
        if nxt and high < percent < nxt[1]:
            midpoint = (high + nxt[1]) / 2
            chosen = name if percent < midpoint else nxt[0]
            return Placement(chosen, percent, True, name, nxt[0])
    raise AssertionError(percent)  # every integer 0..100 is covered above


def band(probability: float) -> str:
    """The yardstick band's name for a probability."""
    return place(probability).band
