"""Where scoring (and older code) finds the CSV safety of ``scores.csv``: it lives in
:mod:`resilience.data.csv_safety`, below every stage that writes a CSV."""

from resilience.data.csv_safety import append_csv, csv_safe, first_visible

__all__ = ["append_csv", "csv_safe", "first_visible"]
