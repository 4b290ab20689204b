"""Imported by the test command server only (``command_server``), after its preloads: work every
forked command would otherwise repeat, done once. Nothing here may start a thread."""

import gc

from sqlalchemy.orm import configure_mappers

configure_mappers()  # MLflow's store classes, mapped once (about 0.25 s a command)
gc.collect()
gc.freeze()  # what the server loaded is never garbage: no collection in a command walks it again
