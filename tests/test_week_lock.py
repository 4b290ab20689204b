"""A week folder under a lock: one scoring run per week at a time, the overwrite rule checked again
at the swap, and after a stop at any named fault point the week is the old one or the new one,
whole and in place, and the message says which. The transaction is driven directly (a few small
files per week, one short process per case), so every point and every way of stopping is tried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resilience.weekly.faults import POINTS

WEEK = "2026-W47"
FILES = ("manifest.json", "scores.csv", "drift.json")
# One scoring run, reduced to its transaction: build the files (with the "build" fault point), claim
# the week, optionally wait while holding it, commit. Errors are printed as the commands print them.
RUN = """
import json, os, sys, time
from resilience.core.errors import ResilienceError, Terminated
from resilience.weekly.faults import checkpoint
from resilience.weekly.transaction import WeekTransaction
root, model, overwrite, wait = sys.argv[1], sys.argv[2], sys.argv[3] == "true", float(sys.argv[4])
try:
    with WeekTransaction(root) as week:
        manifest = {"model": {"identity": model, "fingerprint": {"sha256": model}}}
        (week.folder / "manifest.json").write_text(json.dumps(manifest))
        checkpoint("build")
        for name in ("scores.csv", "drift.json"):
            (week.folder / name).write_text(model * 5000)
        week.claim("2026-W47", {"sha256": model}, f"model {model}", overwrite)
        print("claimed", flush=True)
        deadline = time.monotonic() + wait  # holding the week until released (or the wait is over)
        while time.monotonic() < deadline and not os.path.exists(root + ".release"):
            time.sleep(0.05)
        week.commit()
    print("committed")
except (ResilienceError, Terminated) as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(143 if isinstance(exc, Terminated) else 2)
except Exception as exc:
    print(f"unexpected: {exc}; {'; '.join(getattr(exc, '__notes__', []))}", file=sys.stderr)
    sys.exit(1)
"""


def start(
    root: Path, model: str, overwrite: bool = False, wait: float = 0, fault: str | None = None
):
    env = {k: v for k, v in os.environ.items() if k != "RESILIENCE_FAULT"}
    if fault:
        env["RESILIENCE_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(root), model, str(overwrite).lower(), str(wait)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def score(root: Path, model: str, **kwargs) -> subprocess.CompletedProcess:
    process = start(root, model, **kwargs)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def score_here(root: Path, model: str, overwrite: bool = False) -> None:
    """The same run, in this process (a week scored without faults)."""
    from resilience.weekly.transaction import WeekTransaction

    with WeekTransaction(root) as week:
        manifest = {"model": {"identity": model, "fingerprint": {"sha256": model}}}
        (week.folder / "manifest.json").write_text(json.dumps(manifest))
        for name in FILES[1:]:
            (week.folder / name).write_text(model * 5000)
        week.claim(WEEK, {"sha256": model}, f"model {model}", overwrite)
        week.commit()


def week_is(root: Path) -> str:
    """Which model's week is in place; fails unless the week is whole (every file, one model)."""
    folder = root / WEEK
    assert folder.is_dir(), f"{folder} is not in place: {sorted(p.name for p in root.iterdir())}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    model = json.loads((folder / "manifest.json").read_text())["model"]["identity"]
    assert all((folder / n).read_text() == model * 5000 for n in FILES[1:]), "a mixed week"
    return model


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.suffix != ".lock")


@pytest.mark.parametrize("mode", ["kill", "raise", "sigterm"])
@pytest.mark.parametrize("point", POINTS)
def test_a_stop_at_any_point_leaves_the_old_week_or_the_new_one_and_says_which(
    tmp_path, point, mode
):
    score_here(tmp_path, "old")
    stopped = score(
        tmp_path, "new", overwrite=True, fault=point if mode == "kill" else f"{point}:{mode}"
    )
    now = week_is(tmp_path)  # whole and in place, whatever happened
    if mode == "kill":
        assert stopped.returncode == 137, stopped.stderr
    else:
        assert stopped.returncode in (1, 2, 143) and "Traceback" not in stopped.stderr
        said = "was replaced" if now == "new" else "was not changed"
        assert said in stopped.stderr, (now, stopped.stderr)
        assert WEEK in stopped.stderr or point == "build", "the week is named once it is known"
        assert len(stopped.stderr.strip().splitlines()) == 1, stopped.stderr
    assert now == (
        "old" if point in ("build", "before_swap", "during_swap") and mode != "sigterm" else now
    )
    score_here(tmp_path, "new", overwrite=True)
    assert week_is(tmp_path) == "new"
    assert leftovers(tmp_path) == [], "the next run tidies what a stopped run left"


def test_one_run_per_week_at_a_time_and_the_second_is_told_who_holds_it(tmp_path):
    """Two models scoring one new week at once: the second is refused while the first holds the
    week; the first's week is never silently replaced."""
    first = start(tmp_path, "v2", wait=120)
    assert first.stdout.readline().strip() == "claimed"
    second = score(tmp_path, "v1")
    Path(f"{tmp_path}.release").touch()
    assert (
        second.returncode == 2
        and f"week {WEEK} in {tmp_path} is in use by another process" in second.stderr
    )
    assert f"pid {first.pid}" in second.stderr and "nothing was changed" in second.stderr
    first.communicate(timeout=60)
    assert first.returncode == 0 and week_is(tmp_path) == "v2"
    later = score(tmp_path, "v1")  # once the first has finished: the overwrite rule, as always
    assert later.returncode == 2 and "overwrite=true" in later.stderr and week_is(tmp_path) == "v2"


def test_the_overwrite_rule_is_checked_again_at_the_swap(tmp_path):
    """A week that appears while a run is building (written by something that ignores the lock) is
    not replaced by a different model without overwrite=true."""
    run = start(tmp_path, "v1", wait=120)
    assert run.stdout.readline().strip() == "claimed"
    intruder = tmp_path / WEEK
    intruder.mkdir()
    for name in FILES:
        (intruder / name).write_text("v9" * 5000)
    (intruder / "manifest.json").write_text(
        json.dumps({"model": {"identity": "v9", "fingerprint": {"sha256": "v9"}}})
    )
    Path(f"{tmp_path}.release").touch()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 2 and "while this run was building it" in err and "v9" in err
    assert week_is(tmp_path) == "v9" and leftovers(tmp_path) == []


def test_a_lock_is_released_when_its_holder_is_killed(tmp_path):
    holder = start(tmp_path, "v1", wait=120)
    assert holder.stdout.readline().strip() == "claimed"
    holder.kill()
    holder.wait()
    started = time.monotonic()
    assert score(tmp_path, "v2").returncode == 0 and week_is(tmp_path) == "v2"
    assert time.monotonic() - started < 60
