"""Weekly scoring under faults: killed runs leave nothing partial, SIGTERM tidies, dead runs' folders
are recovered, and output paths that cannot take the week are one message. Each test starts from its
own copy of weeks already scored by the shared champion (conftest ``scored_weeks``), read-only store."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run_command, run_score, sha, tree

STABLE = (
    "scores.csv",
    "scores.parquet",
    "explanations.parquet",
    "drift.json",
    "safeguarding.json",
    "contract.json",
)


def hidden(out: Path) -> list[str]:
    """Hidden folders a run left in ``output_root`` (the weeks' lock files stay, by design)."""
    return [p.name for p in out.iterdir() if p.name.startswith(".") and p.suffix != ".lock"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", ["build", "before_swap", "during_swap", "after_swap", "during_cleanup"]
)
def test_a_run_killed_at_each_step_of_the_commit_loses_nothing(
    trained, scored_weeks, tmp_path, point
):
    """kill -9 (os._exit at a named fault point) at each step; the rerun succeeds byte-identically."""
    out = scored_weeks  # the last two weeks, scored by the champion
    earlier, latest = trained.weeks()[-2], trained.weeks()[-1]
    earlier_dir, latest_dir = out / earlier.stem, out / latest.stem
    before_earlier, before_latest = tree(earlier_dir), {n: sha(latest_dir / n) for n in STABLE}
    killed = run_score(
        trained,
        latest,
        out,
        "log_to_mlflow=false",
        "overwrite=true",
        cwd=tmp_path,
        env={"RESILIENCE_FAULT": point},
    )
    assert killed.returncode == 137, (point, killed.stderr[-2000:])
    assert tree(earlier_dir) == before_earlier, "another week is never touched"
    # the old complete week or the new complete one, in place: never missing, never partial
    assert {n: sha(latest_dir / n) for n in STABLE} == before_latest
    assert hidden(out), "the killed run left its folders"
    rerun = run_score(trained, latest, out, "log_to_mlflow=false", "overwrite=true", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert not hidden(out), "the rerun tidied the dead run's folders"
    assert {n: sha(latest_dir / n) for n in STABLE} == before_latest, (
        "byte-identical after the rerun"
    )
    assert tree(earlier_dir) == before_earlier


@pytest.mark.slow
def test_sigterm_removes_the_temporary_folder(trained, scored_weeks, tmp_path):
    latest = trained.weeks()[-1]
    out = scored_weeks  # the last two weeks, scored by the champion
    weeks = sorted(p.name for p in out.iterdir() if p.suffix != ".lock")
    before = tree(out / latest.stem)
    for point in ("build", "before_swap"):
        stopped = run_score(
            trained,
            latest,
            out,
            "log_to_mlflow=false",
            "overwrite=true",
            cwd=tmp_path,
            env={"RESILIENCE_FAULT": f"{point}:sigterm"},
        )
        assert stopped.returncode == 143 and "terminated" in stopped.stderr, stopped.stderr[-2000:]
        assert "Traceback" not in stopped.stderr
        said = "was not changed" if point == "build" else f"week {latest.stem} was replaced"
        assert said in stopped.stderr, stopped.stderr  # SIGTERM is held back during the swap
        assert sorted(p.name for p in out.iterdir() if p.suffix != ".lock") == weeks, (
            "no temporary folder is left"
        )
        # SIGTERM is held back during the renames: at "before_swap" the swap completes first, so the
        # week is whole (old or new); its scored files are byte-identical either way
        after = tree(out / latest.stem)
        assert {k: after[k] for k in STABLE} == {k: before[k] for k in STABLE}
        assert set(after) == set(before)


def test_a_sigterm_taken_by_another_thread_still_waits_for_the_swap_to_finish():
    """A SIGTERM sent to the process may reach any of its threads (LightGBM's, MLflow's): the swap
    still completes before the run stops, and the message says the week was replaced."""
    import signal
    import threading

    from resilience.core.errors import Terminated
    from resilience.weekly.transaction import SigtermGate

    done = []
    gate = SigtermGate(lambda: "replaced" if done else "not changed")
    waiting = threading.Event()
    worker = threading.Thread(target=waiting.wait, daemon=True)
    worker.start()
    try:
        with pytest.raises(Terminated, match="replaced"):
            with gate.held():
                signal.pthread_kill(worker.ident, signal.SIGTERM)
                for _ in range(500):  # the handler runs on the main thread, between these steps
                    if gate.pending:
                        break
                    time.sleep(0.01)
                assert gate.pending, "the SIGTERM never reached the handler"
                done.append(True)
    finally:
        waiting.set()
        gate.restore()
    assert signal.getsignal(signal.SIGTERM) is not gate._stop


def test_recovery_touches_only_folders_of_dead_owners(tmp_path):
    from resilience.weekly.transaction import recover

    sleeper = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        (tmp_path / "2026-W46").mkdir()
        live_old = (
            tmp_path / f".2026-W47.old-{sleeper.pid}"
        )  # a live scorer mid-swap: not ours to touch
        live_tmp = tmp_path / f".2026-W47.tmp-{sleeper.pid}"
        dead_old = tmp_path / f".2026-W45.old-{dead.pid}"  # a dead scorer mid-swap: restore it
        dead_old_done = (
            tmp_path / f".2026-W46.old-{dead.pid}"
        )  # a dead scorer after its swap: remove it
        dead_tmp = tmp_path / f".scoring.tmp-{dead.pid}"
        for folder in (live_old, live_tmp, dead_old, dead_old_done, dead_tmp):
            folder.mkdir()
            (folder / "manifest.json").write_text(folder.name)
        recover(tmp_path)
        assert live_old.is_dir() and live_tmp.is_dir() and not (tmp_path / "2026-W47").exists()
        assert (tmp_path / "2026-W45" / "manifest.json").read_text() == dead_old.name
        assert not dead_old_done.exists() and not dead_tmp.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# -- output paths that cannot take the week ----------------------------------------------------------
@contextlib.contextmanager
def small_filesystem(folder: Path, options: str):
    """A tmpfs mounted at ``folder`` (root only); yields False where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.slow
def test_output_paths_that_cannot_take_the_week_are_one_message(trained, tmp_path):
    latest = trained.weeks()[-1]
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("keep me")
    out = tmp_path / "out"
    (out / latest.stem).parent.mkdir()
    (out / latest.stem).write_text("not a week folder")
    cases = [(in_the_way, "is a file"), (in_the_way / "below", "is a file"), (out, "in the way")]
    with (
        small_filesystem(tmp_path / "full", "size=64k") as full,
        small_filesystem(tmp_path / "readonly", "ro,size=1m") as readonly,
    ):
        if full:
            cases.append((tmp_path / "full" / "weekly", "the disk is full"))
        if readonly:
            cases.append((tmp_path / "readonly" / "weekly", "read-only"))
        for output_root, expected in cases:
            result = run_score(trained, latest, output_root, "log_to_mlflow=false", cwd=tmp_path)
            text = result.stdout + result.stderr
            assert (
                result.returncode == 2 and expected in result.stderr and "Traceback" not in text
            ), (output_root, text[-2000:])
        if full:
            assert not list((tmp_path / "full").iterdir()), "nothing half-written on the full disk"
    assert (
        in_the_way.read_text() == "keep me"
        and (out / latest.stem).read_text() == "not a week folder"
    )


@pytest.mark.slow
def test_a_damaged_week_folder_is_named_and_replaced_only_with_overwrite(
    trained, scored_weeks, tmp_path
):
    latest = trained.weeks()[-1]
    out = scored_weeks  # the week, scored by the champion
    manifest = out / latest.stem / "manifest.json"
    manifest.write_text('{"week": "truncated')
    refused = run_score(trained, latest, out, "log_to_mlflow=false", cwd=tmp_path)
    assert (
        refused.returncode == 2
        and "cannot be read" in refused.stderr
        and "overwrite=true" in refused.stderr
    )
    assert manifest.read_text() == '{"week": "truncated'
    report = run_command(
        "resilience-report",
        f"week={latest.stem}",
        f"output_root={out}",
        cwd=tmp_path,
        env=trained.env,
    )
    assert (
        report.returncode == 2
        and str(manifest) in report.stderr
        and "Traceback" not in report.stderr
    )
    again = run_score(trained, latest, out, "log_to_mlflow=false", "overwrite=true", cwd=tmp_path)
    assert again.returncode == 0 and json.loads(manifest.read_text())["week"] == latest.stem
