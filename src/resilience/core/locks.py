"""A lock file held for a whole step, so two processes never work on the same thing at once.

:func:`hold` takes an exclusive ``fcntl.flock`` on a lock file (created if needed, never deleted:
removing a lock file while another process waits on it would let a third one in) and writes who
holds it, so a process that finds it taken can say by whom. The lock belongs to the open file, so
it is released when the holder closes it, exits or is killed (``kill -9`` included): a lock is
never left behind by a dead process. Locks are advisory: they order this toolkit's processes, not
someone editing the files by hand.

>>> with hold(output_root / ".2026-W47.lock", "week 2026-W47", wait_seconds=0):
...     ...  # the week's folder is ours until the block ends
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from resilience.core.errors import ResilienceError, os_error_message

POLL_SECONDS = 0.2


def _holder(descriptor: int) -> str:
    """Who holds the lock, as its holder wrote it (``pid 123 since ...``), or ``unknown``."""
    try:
        text = os.pread(descriptor, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a process that did not say who it is"


@contextmanager
def hold(lock_file: Path, what: str, wait_seconds: float = 0.0, advice: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` for the block, waiting up to ``wait_seconds`` for
    another holder to finish; then one error naming ``what``, who holds it and ``advice``."""
    try:
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ResilienceError(os_error_message(exc, f"cannot lock {what}")) from exc
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" (waited {wait_seconds:.0f} s)" if wait_seconds else ""
                    raise ResilienceError(
                        f"{what} is in use by another process ({_holder(descriptor)}, lock file "
                        f"{lock_file}){waited}; nothing was changed. {advice}".rstrip()
                    ) from None
                time.sleep(POLL_SECONDS)
        stamp = f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n"
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, stamp.encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock
