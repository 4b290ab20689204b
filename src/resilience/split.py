"""Import shim: the oldest registered models carried their split as a pickled
``resilience.split.SplitSummary`` (``split_summary_``); it lives in :mod:`resilience.learn.split`
now. Nothing in the toolkit imports this module (the import contract forbids it).
"""

from resilience.learn.split import SplitSummary  # noqa: F401
