"""Import shim: segment models registered before the toolkit moved into packages pickled
``resilience.segments.SegmentModel``; it lives in :mod:`resilience.learn.segments` now. Nothing in
the toolkit imports this module (the import contract forbids it).
"""

from resilience.learn.segments import SegmentModel  # noqa: F401
