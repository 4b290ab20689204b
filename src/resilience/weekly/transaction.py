"""The week folder's transaction: built aside, swapped into place under the week's lock, tidied
after killed runs.

Everything is built in a hidden temporary folder beside the week's. Once the week is known, the
run takes the week's **lock** (``.<week>.lock``, :mod:`resilience.core.locks`) and holds it to the
end: one run per week folder at a time, and ``resilience-decide`` writes into the week's manifest
only between runs. A second run for the same week is refused at once, naming who holds it.

The new week replaces the old one in **one atomic exchange** (Linux ``renameat2`` with
``RENAME_EXCHANGE``): at every instant the week's folder is either the old week or the new one,
whole and in place, so a run killed at any point (``kill -9`` included) leaves a visible,
complete week. The overwrite rule (a week scored by a *different* model is replaced only with
``overwrite``) is checked when the week is claimed and again at the swap. After the exchange the
old week lies in the run's temporary folder and is removed; the next run removes the temporary
folders of *dead* owners (``.<week>.tmp-<pid>``), never a live process's. SIGTERM removes the
run's temporary folder before the process ends; the swap is not interrupted, and the message says
whether the week was replaced. On a file system without the exchange the old week is set aside
(``.<week>.old-<pid>``) for the instant between two renames, and the next run restores it if the
process died there. The commit's steps are named fault points (:mod:`resilience.weekly.faults`)
so tests stop it at each one. A run that fails leaves nothing behind, not even an empty
``output_root`` it created.

>>> with WeekTransaction(output_root) as week:
...     write_files(week.folder)                           # the temporary folder
...     week.claim("2026-W47", fingerprint, "model line-resilience/3", overwrite=False)
...     week.commit()                                      # exchanged into place
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import shutil
import signal
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path

from resilience.core.errors import ResilienceError, Terminated, os_error_message
from resilience.core.locks import hold
from resilience.core.week_files import MANIFEST, lock_file
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


_AT_FDCWD, RENAME_NOREPLACE, RENAME_EXCHANGE = -100, 1, 2
_LIBC = ctypes.CDLL(None, use_errno=True)


def rename2(source: Path, target: Path, flags: int) -> bool:
    """``renameat2(source, target, flags)``; False when this system or file system cannot do it
    (then the caller falls back to plain renames), an ``OSError`` for any other failure."""
    call = getattr(_LIBC, "renameat2", None)
    if call is None:
        return False
    if call(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(target))


def swap_into_place(tmp: Path, final: Path) -> Path | None:
    """Put the finished folder ``tmp`` at ``final`` atomically; returns where the old week now lies
    (to remove), or None when there was none. Never leaves ``final`` missing when the exchange is
    available; otherwise the old week is set aside for the instant between two renames."""
    checkpoint("during_swap")
    if not final.exists():
        if not rename2(tmp, final, RENAME_NOREPLACE):
            tmp.rename(final)
        return None
    if rename2(tmp, final, RENAME_EXCHANGE):
        return tmp  # the old week, in this run's temporary folder
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    final.rename(old)
    try:
        tmp.rename(final)
    except BaseException:
        if not final.exists():
            old.rename(final)
        raise
    return old


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


class SigtermGate:
    """While scoring, SIGTERM raises :class:`Terminated` with ``outcome()`` (what became of the
    week), so ``finally`` blocks remove temporary files. Inside :meth:`held` it is only noted and
    raised when the block ends: Python runs signal handlers in the main thread whichever thread
    the signal reached, so this holds for a SIGTERM sent to the process, not just to the thread
    (a thread's signal mask does not: another thread of the process may take the signal)."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.holding = False
        self.pending = False
        self.previous = None
        self.installed = threading.current_thread() is threading.main_thread()
        if self.installed:  # signals can only be set on the main thread
            self.previous = signal.signal(signal.SIGTERM, self._stop)

    def _terminated(self) -> Terminated:
        return Terminated(f"terminated (SIGTERM) while scoring; {self.outcome()}")

    def _stop(self, signum, frame) -> None:
        if self.holding:
            self.pending = True
            return
        raise self._terminated()

    @contextmanager
    def held(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending:  # the block finished: the SIGTERM that came meanwhile stops the run now
            self.pending = False
            raise self._terminated()

    def restore(self) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, self.previous)


def _refuse_overwrite(final: Path, fingerprint: dict, who: str, overwrite: bool, when: str):
    """The overwrite rule: a week scored by a *different* model is replaced only with ``overwrite``."""
    previous, described = previous_fingerprint(final)
    if final.exists() and previous != fingerprint and not overwrite:
        raise ResilienceError(
            f"week {final.name} in {final.parent} was scored with {described}{when}, not with "
            f"{who}; nothing was changed. Rerun with overwrite=true to replace it."
        )


class WeekTransaction:
    """One week folder built atomically under ``output_root`` (see the module docstring).

    ``folder`` is where the week's files are written: a temporary folder until :meth:`commit`
    exchanges it into place. Leaving the ``with`` block without committing (an error, SIGTERM)
    removes it, and the ``output_root`` folders this run created; the week's lock is released.
    """

    def __init__(self, output_root: str | Path):
        self.output_root = Path(output_root)
        self.folder = self.output_root / f".scoring.tmp-{os.getpid()}"
        self.final: Path | None = None
        self.committed = False
        self._claimed: tuple[dict, str, bool] | None = None
        self._locks = ExitStack()

    def __enter__(self) -> WeekTransaction:
        self._created = check_output_root(self.output_root)
        shutil.rmtree(self.folder, ignore_errors=True)
        self._sigterm = SigtermGate(self.outcome)
        try:
            self.folder.mkdir(parents=True)
        except BaseException:
            self._close()
            raise
        return self

    def outcome(self) -> str:
        """What became of the week so far, in words (for a run stopped or failing now)."""
        if self.committed:
            return (
                f"week {self.final.name} was replaced: the new week is in place and complete in "
                f"{self.final}"
            )
        name = self.final.name if self.final else "the week"
        return (
            f"{name} was not changed (it is as it was before this run) and temporary files were "
            "removed"
        )

    def claim(self, week: str, fingerprint: dict, who: str, overwrite: bool) -> Path:
        """The week's final folder, once it is known: its lock taken (held to the end of the run;
        refused at once if another run holds it), then refused if a *different* model scored it
        and ``overwrite`` is not set (``who``: the new model in words); the temporary folder takes
        the week's name."""
        self._locks.enter_context(
            hold(
                lock_file(self.output_root, week),
                f"week {week} in {self.output_root}",
                advice="Another run is scoring it: rerun when that run has finished.",
            )
        )
        recover(self.output_root)
        final = self.output_root / week
        _refuse_overwrite(final, fingerprint, who, overwrite, "")
        named = self.output_root / f".{week}.tmp-{os.getpid()}"
        self.folder.rename(named)
        self.folder, self.final = named, final
        self._claimed = (fingerprint, who, overwrite)
        return final

    def commit(self) -> None:
        """Exchange the finished week into place (the overwrite rule checked again first); then
        remove the old week. SIGTERM is held back meanwhile, so it never stops half-way."""
        with self._sigterm.held():
            checkpoint("before_swap")
            _refuse_overwrite(self.final, *self._claimed, " while this run was building it")
            old = swap_into_place(self.folder, self.final)
            self.committed = True
            self._after_swap(old)

    def _after_swap(self, old: Path | None) -> None:
        """The new week is in: anything failing now (removing the old week) is said as such."""
        try:
            checkpoint("after_swap")
            if old is not None:
                _remove_tree(old)
        except OSError as exc:  # the new week is in; the next run removes the rest
            log.warning("could not remove %s: %s", old, exc)
        except Exception as exc:
            raise ResilienceError(f"{self.outcome()}; then it failed: {exc}") from exc

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._close()
        if isinstance(exc, Exception) and not isinstance(exc, ResilienceError):
            exc.add_note(self.outcome())  # an unexpected failure still says what became of the week

    def _close(self) -> None:
        try:
            recover(self.output_root, own=True)  # this run's temporary or set-aside folders
            if not self.committed:
                remove_if_empty(self._created)
        finally:
            self._locks.close()  # the week's lock, last
            self._sigterm.restore()
        if not self.committed and self._created and self.final is not None:
            # an output_root this run created holds only its lock: nothing is left behind
            lock_file(self.output_root, self.final.name).unlink(missing_ok=True)
            remove_if_empty(self._created)
