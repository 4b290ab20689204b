"""Import shim: models registered before the toolkit moved into packages pickled these names here.

Loading such a version unpickles ``resilience.models.PersistenceModel`` and the functions and
calibrator its fitted pipeline holds; they live in :mod:`resilience.learn` now. Nothing in the
toolkit imports this module (the import contract forbids it); new code imports the new paths.
"""

from resilience.learn.calibration import Calibrator  # noqa: F401
from resilience.learn.models import PersistenceModel  # noqa: F401
from resilience.learn.preparation import (  # noqa: F401
    _ordered_names,
    as_category,
    as_float,
    in_order,
    log1p_nonnegative,
)
