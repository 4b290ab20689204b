"""Import shim: models registered before the toolkit moved into packages pickled these names here.

Loading such a version unpickles ``resilience.models.PersistenceModel`` and the functions its input
preparation holds; they live in :mod:`resilience.learn.models` now. Nothing in the toolkit imports
this module (the import contract forbids it); new code imports the new path.
"""

from resilience.learn.models import (  # noqa: F401
    Calibrator,
    PersistenceModel,
    _ordered_names,
    as_category,
    as_float,
    in_order,
    log1p_nonnegative,
)
