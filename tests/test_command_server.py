"""The tests run most console commands as forks of a pre-imported server (``command_server``): what
a fork gives back must be what the installed console script gives, run as a new process."""

from __future__ import annotations

import subprocess

import pytest
from conftest import run_command, run_score


def _both(name: str, *args: str, cwd, env: dict | None = None):
    forked = run_command(name, *args, cwd=cwd, env=env)
    fresh = run_command(name, *args, cwd=cwd, env=env, fresh=True)
    return forked, fresh


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("resilience-validate", ("input=weekly/2026-W47.parquet",)),  # relative to the cwd
        ("resilience-validate", ("input=no-such-extract.parquet",)),  # a user error: status 2
        ("resilience-train", ("split.test_weks=13",)),  # a config error: one line, status 2
    ],
)
def test_a_forked_command_gives_what_the_console_script_gives(name, args, tiny_world_dir):
    forked, fresh = _both(name, *args, cwd=tiny_world_dir)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode,
        fresh.stdout,
        fresh.stderr,
    )
    assert forked.stdout or forked.stderr


@pytest.mark.slow
def test_a_fork_sees_its_own_environment_and_a_stop_by_signal(trained, tmp_path):
    """The environment given reaches the command (the fault point named in it sends the run
    SIGTERM), and the run stops as a new process does: status 143, the same message."""
    week = trained.weeks()[-1]
    runs = [
        run_score(
            trained,
            week,
            tmp_path / name,
            "log_to_mlflow=false",
            cwd=tmp_path,
            env={"RESILIENCE_FAULT": "build:sigterm"},
            fresh=fresh,
        )
        for name, fresh in (("forked", False), ("fresh", True))
    ]
    forked, fresh = runs
    assert forked.returncode == fresh.returncode == 143, forked.stderr
    assert forked.stderr.replace("forked", "fresh") == fresh.stderr
    assert "terminated" in forked.stderr


def test_a_fork_that_overruns_its_timeout_is_stopped(tiny_world_dir):
    from command_server import run_console

    with pytest.raises(subprocess.TimeoutExpired):
        run_console(
            "resilience-validate",
            ["input=weekly/2026-W47.parquet"],
            executable=tiny_world_dir / "unused",
            cwd=tiny_world_dir,
            env={},
            timeout=0.01,
        )
