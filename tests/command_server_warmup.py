"""Imported by the test command server only (``command_server``), after its preloads: work every
forked command would otherwise repeat, done once. Nothing here may start a thread."""

import gc

from mlflow.utils import requirements_utils
from sqlalchemy.orm import configure_mappers

configure_mappers()  # MLflow's store classes, mapped once (about 0.25 s a command)
# MLflow's map of installed modules to packages, which every model load (its check of the
# model's pinned requirements) and every model log builds once per process by scanning the
# installed packages' records (about 0.3 s a command); private to MLflow, so only if it is there
getattr(requirements_utils, "_init_packages_to_modules_map", lambda: None)()
gc.collect()
gc.freeze()  # what the server loaded is never garbage: no collection in a command walks it again
