"""Progress lines for long work: each stage's elapsed time, and a text bar for sweeps.

Written to stderr (stdout stays for results), one line per finished stage, so a run under load
says what it is doing instead of going quiet for minutes.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import TextIO


class Stages:
    """Times named stages into ``timings`` and prints ``[label] what: 3.2 s (total 10.1 s)``."""

    def __init__(
        self,
        label: str,
        timings: dict | None = None,
        stream: TextIO | None = None,
        enabled: bool = True,
    ):
        self.label = label
        self.timings = {} if timings is None else timings
        self.stream = stream
        self.enabled = enabled
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        if self.enabled:
            print(f"[{self.label}] {text}", file=self.stream or sys.stderr, flush=True)

    @contextmanager
    def stage(self, name: str, what: str | None = None):
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        self.say(
            f"{what or name}: {seconds:.1f} s (total {time.perf_counter() - self.started:.1f} s)"
        )


def bar(done: int, total: int, width: int = 20) -> str:
    """``[#####...............] 3/12``"""
    total = max(int(total), 1)
    filled = round(width * min(max(done, 0), total) / total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
