"""Import shim: models registered before the toolkit moved into packages pickled their range
ensemble as ``resilience.intervals.IntervalEnsemble``; it lives in :mod:`resilience.learn.ranges`
now. Nothing in the toolkit imports this module (the import contract forbids it).
"""

from resilience.learn.ranges import IntervalEnsemble, Member  # noqa: F401
