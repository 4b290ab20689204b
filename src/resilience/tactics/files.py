"""The names a review's folder holds and its row keys, defined once (the review writes them, the
briefing reads them). Light on purpose: the briefing imports it without the tactics extra."""

from __future__ import annotations

TACTICS_CSV = "tactics.csv"
REVIEW_JSON = "review.json"
REVIEW_HTML = "review.html"
ALL = "all"  # the cohort of every line
# tactics.csv: one row per tactic and cohort, exactly these columns
CSV_COLUMNS = (
    "tactic",
    "cohort",
    "estimate_points",
    "ci_low_points",
    "ci_high_points",
    "naive_points",
    "n_treated",
    "n_compared",
    "trimmed",
    "e_value",
)
