"""The week folder's transaction: built aside, swapped into place, tidied after killed runs.

Everything is built in a hidden temporary folder beside the week's and renamed into place; a run
killed at any point leaves earlier output as it was. Temporary and set-aside folders carry their
owner's pid (``.<week>.tmp-<pid>``, ``.<week>.old-<pid>``); the next run removes those of *dead*
owners and restores a week caught mid-swap, never touching a live process's folders. SIGTERM
removes the run's temporary folder before the process ends; the swap itself is not interrupted.
The commit's steps are named fault points (:mod:`resilience.weekly.faults`) so tests kill it at
each one. A week already scored by a *different* model is only replaced when asked to, and a run
that fails leaves nothing behind, not even an empty ``output_root`` it created.

>>> with WeekTransaction(output_root) as week:
...     write_files(week.folder)                           # the temporary folder
...     week.claim("2026-W47", fingerprint, "model line-resilience/3", overwrite=False)
...     week.commit()                                      # renamed into place
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
from pathlib import Path

from resilience.core.errors import ResilienceError, Terminated, os_error_message
from resilience.core.week_files import MANIFEST
from resilience.core.weeks import WEEK_PATTERN
from resilience.weekly.faults import checkpoint

log = logging.getLogger(__name__)


def _alive(pid: str) -> bool:
    """Is process ``pid`` still running (so its folders are in use)?"""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def _ours_to_tidy(folder: Path, own: bool) -> bool:
    """A hidden ``.<name>.tmp-<pid>`` / ``.<name>.old-<pid>`` folder of this process (``own``) or of a
    process that is no longer running."""
    pid = folder.name.rsplit("-", 1)[-1]
    if not folder.is_dir() or not pid.isdigit():
        return False
    return int(pid) == os.getpid() if own else int(pid) != os.getpid() and not _alive(pid)


def recover(output_root: Path, own: bool = False) -> None:
    """Tidy after killed runs: drop dead owners' temporary folders, restore a week caught mid-swap.

    Only folders whose owner (the pid in the name) is dead are touched: a live scorer's temporary
    or set-aside folder is its own business. ``own=True`` tidies this process's own leftovers
    (after a failed run).
    """
    for stale in output_root.glob(".*.tmp-*"):
        if _ours_to_tidy(stale, own):
            shutil.rmtree(stale, ignore_errors=True)
    for old in sorted(output_root.glob(".*.old-*")):
        week = old.name[1:].rsplit(".old-", 1)[0]
        if not WEEK_PATTERN.match(week) or not _ours_to_tidy(old, own):
            continue
        final = output_root / week
        if not final.exists():
            old.rename(final)
            log.warning("restored %s, left aside by a run that was killed mid-swap", final)
        else:
            shutil.rmtree(old, ignore_errors=True)


def swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished folder onto the week's; the old one is kept until the new one is in.

    SIGTERM is held back for the few renames, so a terminated run never stops half-way here.
    """
    blocked = threading.current_thread() is threading.main_thread()
    if blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        checkpoint("before_swap")
        if not final.exists():
            tmp.rename(final)
            checkpoint("after_swap")
            return
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
        checkpoint("during_swap")
        try:
            tmp.rename(final)
        except BaseException:
            if not final.exists():
                old.rename(final)
            raise
        checkpoint("after_swap")
        try:
            _remove_tree(old)
        except OSError as exc:  # the new week is in; the next run removes the rest
            log.warning("could not remove %s: %s", old, exc)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _remove_tree(folder: Path) -> None:
    """Delete a set-aside week (a checkpoint half-way, so tests can die mid-cleanup)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for number, file in enumerate(files):
        if number == len(files) // 2:
            checkpoint("during_cleanup")
        file.unlink()
    shutil.rmtree(folder, ignore_errors=True)


def previous_fingerprint(final: Path) -> tuple[dict | None, str]:
    """The fingerprint of the model that scored an existing week folder, or why it is unknown."""
    if not final.exists() and not final.is_symlink():
        return None, "nothing"
    if not final.is_dir():
        raise ResilienceError(
            f"{final} is in the way: it is a file, not a week folder; nothing was changed. "
            "Move it elsewhere and rerun"
        )
    manifest = final / MANIFEST
    try:
        model = json.loads(manifest.read_text(encoding="utf-8"))["model"]
        fingerprint = model.get("fingerprint")
        return (
            fingerprint,
            f"model {model.get('identity', 'unknown')} ({(fingerprint or {}).get('sha256') or 'no digest'})",
        )
    except FileNotFoundError:
        return None, f"an unknown model (no {manifest})"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"an unknown model ({manifest} cannot be read: {type(exc).__name__})"


def check_output_root(output_root: Path) -> list[Path]:
    """Make ``output_root`` (and missing parents); returns the folders created, to undo on failure."""
    created = []
    for folder in reversed([output_root, *output_root.parents]):
        if folder.exists():
            if not folder.is_dir():
                raise ResilienceError(
                    f"output_root {output_root}: {folder} is a file, not a folder; "
                    "choose another output_root"
                )
            continue
        try:
            folder.mkdir()
        except OSError as exc:
            remove_if_empty(created)
            raise ResilienceError(
                os_error_message(exc, f"cannot create output_root {output_root}")
            ) from exc
        created.append(folder)
    if not os.access(output_root, os.W_OK | os.X_OK):
        remove_if_empty(created)
        raise ResilienceError(
            f"output_root {output_root} is not writable; choose a folder you can write to"
        )
    return created


def remove_if_empty(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return


def raise_on_sigterm():
    """While scoring, SIGTERM raises :class:`Terminated`, so ``finally`` blocks remove temporary
    files; returns the previous handler (None off the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise Terminated(
            "terminated (SIGTERM) while scoring; the week was not changed and temporary files "
            "were removed"
        )

    return signal.signal(signal.SIGTERM, stop)


class WeekTransaction:
    """One week folder built atomically under ``output_root`` (see the module docstring).

    ``folder`` is where the week's files are written: a temporary folder until :meth:`commit`
    renames it into place. Leaving the ``with`` block without committing (an error, SIGTERM)
    removes it, and the ``output_root`` folders this run created.
    """

    def __init__(self, output_root: str | Path):
        self.output_root = Path(output_root)
        self.folder = self.output_root / f".scoring.tmp-{os.getpid()}"
        self.final: Path | None = None
        self.committed = False

    def __enter__(self) -> WeekTransaction:
        self._created = check_output_root(self.output_root)
        shutil.rmtree(self.folder, ignore_errors=True)
        self._sigterm = raise_on_sigterm()
        try:
            self.folder.mkdir(parents=True)
        except BaseException:
            self._close()
            raise
        return self

    def claim(self, week: str, fingerprint: dict, who: str, overwrite: bool) -> Path:
        """The week's final folder, once it is known: refused if a *different* model scored it and
        ``overwrite`` is not set (``who``: the new model in words); the temporary folder takes
        the week's name."""
        recover(self.output_root)
        final = self.output_root / week
        previous, described = previous_fingerprint(final)
        if final.exists() and previous != fingerprint and not overwrite:
            raise ResilienceError(
                f"week {week} in {self.output_root} was scored with {described}, not with {who}; "
                "nothing was changed. Rerun with overwrite=true to replace it."
            )
        named = self.output_root / f".{week}.tmp-{os.getpid()}"
        self.folder.rename(named)
        self.folder, self.final = named, final
        return final

    def commit(self) -> None:
        """Rename the finished week into place (the old week is kept until the new one is in)."""
        swap_into_place(self.folder, self.final)
        self.committed = True

    def __exit__(self, *exc_info) -> None:
        self._close()

    def _close(self) -> None:
        recover(self.output_root, own=True)  # this run's temporary or set-aside folders
        if not self.committed:
            remove_if_empty(self._created)
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)
