"""Named points in the week's commit where a test can make the process die, deterministically.

``RESILIENCE_FAULT=<point>`` makes :func:`checkpoint` end the process with ``os._exit(137)`` (as
``kill -9`` would: no cleanup, no ``finally``) when the run reaches ``<point>``;
``RESILIENCE_FAULT=<point>:raise`` raises :class:`InjectedFault` instead (an unexpected error,
so the normal cleanup runs) and ``<point>:sigterm`` sends the process SIGTERM. Unset, a
checkpoint costs one dictionary lookup. The points of :func:`resilience.weekly.score.score_week`:

* ``build`` — the week's files are being written in the temporary folder;
* ``before_swap`` — the new week is complete in its temporary folder, nothing moved yet;
* ``during_swap`` — the old week has been moved aside, the new one is not yet in place;
* ``after_swap`` — the new week is in place, the old one still lies beside it;
* ``during_cleanup`` — the old week is half deleted.
"""

from __future__ import annotations

import os
import signal

ENV = "RESILIENCE_FAULT"
POINTS = ("build", "before_swap", "during_swap", "after_swap", "during_cleanup")


class InjectedFault(RuntimeError):
    """Raised at a checkpoint named in ``RESILIENCE_FAULT=<point>:raise``."""


def checkpoint(point: str) -> None:
    """Die, raise or signal here if ``$RESILIENCE_FAULT`` names this point."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    name, _, mode = wanted.partition(":")
    if name != point:
        return
    if mode == "raise":
        raise InjectedFault(f"fault injected at '{point}'")
    if mode == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        return
    os._exit(137)
