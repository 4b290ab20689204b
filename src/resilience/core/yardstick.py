"""The NCA probability yardstick: words for probabilities that every report uses.

The yardstick's bands have deliberate gaps (5-10%, 20-25%, 35-40%, 50-55%, 75-80%, 90-95%). We
place a value that falls in a gap in the *nearer* band (gaps are split at their midpoint) and mark
it ``in_gap`` so the wording can say so: "a realistic possibility (52%, between 'realistic
possibility' and 'likely')". Percentages are rounded to whole numbers before banding, so the words
always agree with the number printed beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def percent(probability) -> np.ndarray:
    """Whole percents of probabilities (clipped to 0-1, rounded half to even, as ``round`` does):
    the one rounding every number printed beside the words goes through."""
    return np.rint(np.clip(np.asarray(probability, float), 0.0, 1.0) * 100).astype(np.int64)


def place(probability: float) -> Placement:
    """Place a probability (0-1) on the yardstick."""
    return _PLACEMENTS[int(percent(probability))]


def _place_percent(whole: int) -> Placement:
    for i, (name, low, high) in enumerate(BANDS):
        if low <= whole <= high:
            return Placement(name, whole)
        nxt = BANDS[i + 1] if i + 1 < len(BANDS) else None
        if nxt and high < whole < nxt[1]:
            midpoint = (high + nxt[1]) / 2
            chosen = name if whole < midpoint else nxt[0]
            return Placement(chosen, whole, True, name, nxt[0])
    raise AssertionError(whole)  # every integer 0..100 is covered above


_PLACEMENTS = tuple(_place_percent(whole) for whole in range(101))
_BAND_OF_PERCENT = np.array([BAND_NAMES.index(p.band) for p in _PLACEMENTS])


def band(probability: float) -> str:
    """The yardstick band's name for a probability."""
    return place(probability).band


def placements(probability) -> list[Placement]:
    """:func:`place` for many probabilities at once."""
    return [_PLACEMENTS[k] for k in percent(probability)]


def band_index(probability) -> np.ndarray:
    """Position in :data:`BAND_NAMES` of each probability's band (:func:`band`, vectorised)."""
    return _BAND_OF_PERCENT[percent(probability)]
