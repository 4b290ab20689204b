"""Import shim: versions registered before the toolkit moved into packages pickled their MLflow
wrapper as ``resilience.pyfunc.ResiliencePyfunc``; it lives in :mod:`resilience.tracking.pyfunc`
now (as does :func:`load_vetted`, kept here for notebooks). Nothing in the toolkit imports this
module (the import contract forbids it).
"""

from resilience.tracking.pyfunc import ResiliencePyfunc, load_vetted  # noqa: F401
