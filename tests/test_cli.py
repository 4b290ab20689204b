"""The resilience-validate console command, run as a subprocess from an unrelated folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from command_server import run_console

from resilience.cli._app import GC_THRESHOLDS

VALIDATE = Path(sys.executable).parent / "resilience-validate"

HUBS = ["london", "birmingham", "liverpool", "manchester", "other_hub", "local"]
COMMODITIES = ["heroin_crack", "crack", "heroin", "cocaine", "cannabis"]
CLOSURES = ["type1", "type2", "none"]
GRADES = ["minor", "moderate", "major"]

# default-schema column -> example_force column (configs/data/example_force.yaml)
EXAMPLE_FORCE_NAMES = {
    "disruption_id": "ref",
    "line_id": "line_ref",
    "disruption_date": "date_of_action",
    "policing_area": "lpa",
    "line_type": "line_kind",
    "contacts": "customer_count",
    "deal_numbers": "deal_lines",
    "runners": "runner_count",
    "exploited_children": "children_exploited",
    "prior_disruptions": "previous_actions",
    "holder_arrested": "controller_arrested",
    "runners_arrested": "runners_detained",
    "ddtro": "ddtro_obtained",
    "safeguarding_referrals": "referrals",
    "sustained_operation": "operation_sustained",
    "persisted_12w": "active_after_12w",
}


def valid_extract(n: int = 20) -> pd.DataFrame:
    """A valid default-schema training extract (values as text): 10 lines, 2023 dates, 13/20 labels true."""
    rows = []
    for i in range(n):
        hub = HUBS[i // 2 % len(HUBS)]  # one hub, type and area per line (two rows each)
        closure = CLOSURES[i % 3]
        runners = i % 5 + 1
        rows.append(
            {
                "disruption_id": f"SYN-D{i:05d}",
                "line_id": f"SYN-L{i // 2:04d}",
                "ocg_id": f"SYN-G{i % 4:05d}" if i % 3 == 0 else "",  # empty: not linked to a group
                "disruption_date": f"2023-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
                "policing_area": ["Northmoor", "Eastvale", "Westbrook"][i // 2 % 3],
                "line_type": "home_grown" if hub == "local" else "imported",
                "origin_hub": hub,
                "line_age_weeks": str(i * 3),
                "deal_numbers": str(i % 4 + 1),
                "contacts": str(i * 17),
                "bulk_texts_per_day": f"{i * 2.5:.1f}",
                "runners": str(runners),
                "exploited_children": str(i % 3),
                "exploited_adults": str(i % 2),
                "cuckooed_addresses": str(i % 4),
                "violence_12m": str(i % 6),
                "weapons_linked": ["true", "false"][i % 2],
                "ocg_linked": ["false", "true"][i % 3 == 0],
                "linked_lines": str(i % 7),
                "prior_disruptions": str(i % 2),  # the line's earlier rows: a count as of the date
                "weeks_since_last_disruption": "" if i % 3 == 0 else f"{i * 1.5:.1f}",
                "commodity": COMMODITIES[i % 5],
                "holder_arrested": "true" if closure == "type1" else ["true", "false"][i % 2],
                "closure_type": closure,
                "runners_arrested": str(runners // 2),
                "handsets_seized": str(i % 5),
                "ddtro": ["true", "false"][i % 2 == 0],
                "closure_orders": str(i % 2),
                "ancillary_orders": str(i % 3),
                "safeguarding_referrals": str(i % 4),
                "drugs_seized_gbp": f"{i * 120.5:.2f}",
                "cash_seized_gbp": f"{i * 300:.2f}",
                "sustained_operation": ["true", "false"][i % 4 == 0],
                "disruption_grade": GRADES[(i // 2) % 3],
                "persisted_12w": ["true", "false"][i % 3 == 1],
            }
        )
    return pd.DataFrame(rows)


def example_force_extract() -> pd.DataFrame:
    """The valid frame in example_force's column names: only that config's columns, plus free-text notes."""
    frame = valid_extract()
    frame = frame[list(EXAMPLE_FORCE_NAMES)].rename(columns=EXAMPLE_FORCE_NAMES)
    frame["officer_notes"] = [
        'seen near the school, "blue car"' if i % 2 else "" for i in range(len(frame))
    ]
    return frame


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RESILIENCE_HOME", "HYDRA_FULL_ERROR")}
    return run_console(
        "resilience-validate", args, executable=VALIDATE, cwd=cwd, env=env, timeout=120
    )


def summary_of(stdout: str) -> dict:
    start, end = stdout.index("{"), stdout.rindex("}")
    return json.loads(stdout[start : end + 1])


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_nothing_left_behind(folder: Path) -> None:
    assert not (folder / "outputs").exists()
    assert not (folder / ".hydra").exists()
    assert not (folder / "multirun").exists()
    assert not list(folder.rglob("*.log"))
    assert not list(folder.rglob(".hydra"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An unrelated working directory (not the checkout)."""
    folder = tmp_path / "somewhere" / "else"
    folder.mkdir(parents=True)
    return folder


def test_console_script_is_installed():
    """Every command pyproject.toml declares is installed beside this Python, runs the entry point
    declared for it, and starts (``--help`` names its own config) from outside the checkout."""
    import tomllib
    from importlib.metadata import entry_points

    declared = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    scripts = declared["project"]["scripts"]
    installed = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert VALIDATE.name in scripts
    for name, target in scripts.items():
        assert installed.get(name) == target, (name, installed.get(name), target)
        assert (VALIDATE.parent / name).is_file(), f"{name} is not on the environment's bin"
        assert callable(entry_points(group="console_scripts")[name].load()), name
    result = subprocess.run(
        [str(VALIDATE), "--help"], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: resilience-validate ")


def test_a_command_runs_under_its_collector_thresholds_and_an_import_keeps_python_s():
    """The console commands raise the garbage collector's thresholds for their own process
    (``GC_THRESHOLDS``: a full pass walks every imported library's objects); a program that only
    imports the toolkit keeps Python's."""
    code = (
        "import gc, sys\n"
        "from resilience.cli.validate import main\n"
        "print(gc.get_threshold())\n"
        "sys.argv = ['resilience-validate', '--help']\n"
        "main()\n"
        "print(gc.get_threshold())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0] == "(700, 10, 10)" and lines[-1] == str(GC_THRESHOLDS), (lines[0], lines[-1])


def test_help_lists_the_data_group(workdir):
    result = run(workdir, "--help")
    assert result.returncode == 0, result.stderr
    assert "Config groups" in result.stdout
    data_line = next(line for line in result.stdout.splitlines() if line.startswith("  data="))
    assert "default" in data_line and "example_force" in data_line
    assert_nothing_left_behind(workdir)


def test_valid_extract_from_an_unrelated_folder(workdir):
    valid_extract().to_csv(workdir / "extract.csv", index=False)
    result = run(workdir, "input=extract.csv")
    assert result.returncode == 0, result.stderr
    summary = summary_of(result.stdout)
    assert summary["rows"] == 20
    assert summary["lines"] == 10
    assert (summary["first_date"], summary["last_date"]) == ("2023-01-01", "2023-12-12")
    assert summary["label_rate"] == pytest.approx(13 / 20, abs=1e-4)
    assert summary["warnings"] == []
    assert "valid: 20 rows of 10 lines match data config 'default'" in result.stdout
    assert "Traceback" not in result.stderr
    assert listing(workdir) == {"extract.csv"}
    assert_nothing_left_behind(workdir)


def test_valid_parquet_extract_with_absolute_path(workdir, tmp_path):
    path = tmp_path / "extract.parquet"
    valid_extract().to_parquet(path, index=False)
    result = run(workdir, f"input={path}", "require_label=true")
    assert result.returncode == 0, result.stderr
    assert summary_of(result.stdout)["rows"] == 20
    assert_nothing_left_behind(workdir)


def test_scoring_extract_without_label_has_no_label_rate(workdir):
    valid_extract().drop(columns=["persisted_12w"]).to_csv(workdir / "week.csv", index=False)
    result = run(workdir, "input=week.csv")
    assert result.returncode == 0, result.stderr
    assert summary_of(result.stdout)["label_rate"] is None


def test_bad_extract_exits_non_zero_with_problems_on_stderr(workdir):
    frame = valid_extract()
    frame.loc[3, "contacts"] = "abc"
    frame.loc[5, "commodity"] = "meth"
    frame.loc[9, "disruption_id"] = frame.loc[2, "disruption_id"]
    frame.to_csv(workdir / "bad.csv", index=False)
    before = listing(workdir)
    result = run(workdir, "input=bad.csv")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    err = result.stderr
    assert "error: 3 problems with the extract" in err
    assert "bad.csv: column 'contacts': wrong type" in err and "row 4 ('abc')" in err
    assert "bad.csv: column 'commodity': unknown category" in err and "row 6 ('meth')" in err
    assert (
        "bad.csv: column 'disruption_id': duplicate value" in err
        and "row 3" in err
        and "row 10" in err
    )
    assert "valid:" not in result.stdout
    assert listing(workdir) == before
    assert_nothing_left_behind(workdir)


def test_bad_extract_stderr_holds_only_the_error(workdir):
    frame = valid_extract()
    frame.loc[3, "contacts"] = "abc"  # a wrong type (the value becomes NA) together with
    frame.loc[5, "commodity"] = "meth"  # a failed check: pandera concatenates all-NA failure cases
    frame.to_csv(workdir / "bad.csv", index=False)
    result = run(workdir, "input=bad.csv")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Warning" not in result.stderr


def test_training_extract_without_label_is_refused(workdir):
    valid_extract().drop(columns=["persisted_12w"]).to_csv(workdir / "train.csv", index=False)
    result = run(workdir, "input=train.csv", "require_label=true")
    assert result.returncode == 2
    assert "column 'persisted_12w': missing required column" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_is_a_clear_error(workdir):
    result = run(workdir, "input=nowhere.csv")
    assert result.returncode == 2
    assert "nowhere.csv" in result.stderr and "no such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_left_behind(workdir)


def test_missing_input_argument_is_a_clear_error(workdir):
    result = run(workdir)
    assert result.returncode == 2
    assert "input" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_data_config_is_refused(workdir):
    valid_extract().to_csv(workdir / "extract.csv", index=False)
    result = run(workdir, "input=extract.csv", "data=no_such_force")
    assert result.returncode != 0
    assert "no_such_force" in result.stderr


def test_example_force_validates_its_own_extract(workdir):
    example_force_extract().to_csv(workdir / "force.csv", index=False)
    result = run(workdir, "input=force.csv", "data=example_force", "require_label=true")
    assert result.returncode == 0, result.stderr
    summary = summary_of(result.stdout)
    assert summary["rows"] == 20 and summary["lines"] == 10
    assert (summary["first_date"], summary["last_date"]) == ("2023-01-01", "2023-12-12")
    assert summary["label_rate"] == pytest.approx(13 / 20, abs=1e-4)
    assert "match data config 'example_force'" in result.stdout
    assert_nothing_left_behind(workdir)


def test_example_force_rejects_a_default_schema_extract(workdir):
    valid_extract().to_csv(workdir / "default_schema.csv", index=False)
    result = run(workdir, "input=default_schema.csv", "data=example_force")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # one problem for a file laid out for another data config, naming what it lacks and has
    assert "required columns of data config 'example_force' (missing 'ref', 'line_ref'" in (
        result.stderr
    )
    assert "it has 'disruption_id', 'line_id'" in result.stderr
    assert_nothing_left_behind(workdir)


def test_default_rejects_an_example_force_extract(workdir):
    example_force_extract().to_csv(workdir / "force.csv", index=False)
    result = run(workdir, "input=force.csv")
    assert result.returncode == 2
    assert "required columns of data config 'default' (missing 'disruption_id'" in result.stderr


def test_example_force_rules_are_enforced(workdir):
    frame = example_force_extract()
    frame.loc[4, "runners_detained"] = "9"
    frame.loc[6, "line_kind"] = "foreign"
    frame.to_csv(workdir / "force_bad.csv", index=False)
    result = run(workdir, "input=force_bad.csv", "data=example_force")
    assert result.returncode == 2
    assert (
        "column 'runners_detained': value out of range" in result.stderr
        and "row 5" in result.stderr
    )
    assert (
        "column 'line_kind': unknown category" in result.stderr
        and "row 7 ('foreign')" in result.stderr
    )


def test_unknown_column_is_a_warning_not_an_error(workdir):
    frame = valid_extract()
    frame["suspect_nationality"] = "x"
    frame.to_csv(workdir / "extra.csv", index=False)
    result = run(workdir, "input=extra.csv")
    assert result.returncode == 0, result.stderr
    warnings = summary_of(result.stdout)["warnings"]
    assert len(warnings) == 1 and "suspect_nationality" in warnings[0]


# -- the fault catalogue: every command, every known fault, one message and never a traceback ---------
BIN = Path(sys.executable).parent
KEY = {"RESILIENCE_DECISION_KEY": "catalogue-key-0123456789"}


def _command(
    name: str, cwd: Path, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR",)}
    full.update(env or {})
    return run_console(name, args, executable=BIN / name, cwd=cwd, env=full, timeout=300)


def _scored_week(root: Path, week: str = "2026-W47") -> Path:
    folder = root / week
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "rank": [1],
            "disruption_id": ["D1"],
            "line_id": ["L1"],
            "persistence_probability": [0.7],
            "yardstick_band": ["likely"],
        }
    ).to_parquet(folder / "scores.parquet")
    pd.DataFrame({"disruption_id": ["D1"], "baseline_probability": [0.5]}).to_parquet(
        folder / "explanations.parquet"
    )
    for name in ("contract.json", "drift.json", "safeguarding.json"):
        (folder / name).write_text("{}")
    (folder / "manifest.json").write_text(
        json.dumps({"week": week, "model": {"identity": "m/1"}, "input": {"sha256": "ab" * 32}})
    )
    return folder


def _malformed_store(path: Path) -> None:
    """A real MLflow store whose pages were damaged (sqlite: 'database disk image is malformed')."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{path}")
    try:
        mlflow.create_experiment("x")
    finally:  # MLflow passes its URI on to the commands later tests start: not this one
        mlflow.set_tracking_uri(None)
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):
        data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    (root / "garbage.db").write_bytes(b"this is not a database\n" * 500)
    _malformed_store(root / "malformed.db")
    weekly = root / "weekly"
    _scored_week(weekly)
    damaged = _scored_week(root / "damaged", "2026-W47")
    (damaged / "manifest.json").write_text('{"week": "2026-W47", "model": ')
    (damaged / "scores.parquet").write_bytes(b"PAR1 truncated")
    (root / "decisions.sqlite").write_bytes(
        b"SQLite format 3\x00" + b"\x00" * 100 + b"garbage" * 100
    )
    valid_extract().to_csv(root / "labels.csv", index=False)
    return root


def _cases(root: Path) -> list[tuple[str, tuple[str, ...], dict, str]]:
    garbage, malformed = f"sqlite:///{root / 'garbage.db'}", f"sqlite:///{root / 'malformed.db'}"
    typo = f"sqlite:///{root / 'no-such-folder' / 'mlfow.db'}"
    extract = str(root / "labels.csv")
    cases = []
    cases.append(
        (
            "resilience-score",
            (f"input={extract}", f"output_root={root / 'out'}", "report=false"),
            {"MLFLOW_TRACKING_URI": malformed},
            "restore mlflow.db from backup",
        )
    )
    for store, expected in (
        (garbage, "restore mlflow.db from backup"),
        (typo, "no MLflow tracking store"),
    ):
        env = {"MLFLOW_TRACKING_URI": store}
        cases += [
            (
                "resilience-score",
                (f"input={extract}", f"output_root={root / 'out'}", "report=false"),
                env,
                expected,
            ),
            ("resilience-card", (), env, expected),
            ("resilience-promote", ("version=1", "reason=test"), env, expected),
            (
                "resilience-outcomes",
                (f"input={extract}", f"output_root={root / 'weekly'}"),
                env,
                expected,
            ),
        ]
    cases += [
        (
            "resilience-train",
            (f"input={extract}", f"hydra.run.dir={root / 'run'}"),
            {"MLFLOW_TRACKING_URI": garbage},
            "restore mlflow.db from backup",
        ),
        (
            "resilience-decide",
            ("verify=true", f"log_path={root / 'decisions.sqlite'}", "anchor_in_mlflow=false"),
            KEY,
            "restore it from backup",
        ),
        (
            "resilience-decide",
            (
                "week=2026-W47",
                "line=L1",
                "decision=a",
                "reason=b",
                "by=c",
                "anchor_in_mlflow=false",
                f"log_path={root / 'decisions.sqlite'}",
                f"output_root={root / 'weekly'}",
            ),
            KEY,
            "restore it from backup",
        ),
        (
            "resilience-decide",
            ("verify=true", f"log_path={root / 'weekly'}", "anchor_in_mlflow=false"),
            KEY,
            "is a folder",
        ),
        (
            "resilience-decide",
            ("verify=true", f"log_path={root / 'none.sqlite'}", "anchor_in_mlflow=false"),
            KEY,
            "does not exist",
        ),
        (
            "resilience-decide",
            ("verify=true", f"log_path={root / 'decisions.sqlite'}"),
            {},
            "no signing key",
        ),
        (
            "resilience-decide",
            (
                "week=2026-W47",
                "line=L1",
                "decision=a",
                "reason=b",
                "by=c",
                "anchor_in_mlflow=false",
                f"log_path={root / 'new.sqlite'}",
                f"output_root={root / 'damaged'}",
            ),
            KEY,
            "cannot be read",
        ),
        (
            "resilience-report",
            ("week=2026-W47", f"output_root={root / 'damaged'}"),
            {},
            "manifest.json cannot be read",
        ),
        ("resilience-report", ("week=../victim", f"output_root={root / 'weekly'}"), {}, "ISO week"),
        (
            "resilience-outcomes",
            (f"input={extract}", f"output_root={root / 'damaged'}"),
            {"MLFLOW_TRACKING_URI": garbage},
            "restore mlflow.db from backup",
        ),
        ("resilience-validate", (f"input={root / 'garbage.db'}",), {}, "unknown extract format"),
        ("resilience-validate", (f"input={root / 'weekly'}",), {}, "is not a file"),
    ]
    return cases


@pytest.mark.slow
def test_every_command_over_the_fault_catalogue_gives_one_message(catalogue, workdir):
    failures = []
    for name, args, env, expected in _cases(catalogue):
        result = _command(name, workdir, *args, env=env)
        text = result.stdout + result.stderr
        if (
            result.returncode == 0
            or "Traceback" in text
            or expected not in result.stderr
            or not result.stderr.startswith("error: ")
        ):
            failures.append(
                f"{name} {' '.join(args)}: exit {result.returncode}\n{result.stderr[-1500:]}"
            )
    assert not failures, "\n\n".join(failures)
    assert not (catalogue / "no-such-folder").exists(), "a typo'd store is never created"
    assert not (catalogue / "out").exists(), "a refused run leaves no output_root"
    assert not (catalogue / "new.sqlite").exists(), "no log is created for a damaged week"


def test_library_failures_become_one_line_and_unexpected_ones_name_their_trace_file():
    import errno

    from sqlalchemy.exc import DatabaseError

    from resilience.cli._app import EXIT_UNEXPECTED, EXIT_USER_ERROR, known_failure

    message, code = known_failure(
        DatabaseError("SELECT 1", {}, Exception("file is not a database"))
    )
    assert (
        code == EXIT_USER_ERROR
        and "file is not a database" in message
        and "restore mlflow.db from backup" in message
    )
    message, code = known_failure(
        OSError(errno.ENOSPC, "No space left on device", "/data/week/scores.csv")
    )
    assert (
        code == EXIT_USER_ERROR and "/data/week/scores.csv" in message and "disk is full" in message
    )
    try:
        raise KeyError("surprise")
    except KeyError as exc:
        message, code = known_failure(exc)
    assert code == EXIT_UNEXPECTED and "\n" not in message
    trace = Path(message.split("the full trace is in ", 1)[1].split(";", 1)[0])
    assert "Traceback" in trace.read_text() and "surprise" in trace.read_text()
    trace.unlink()


def test_an_error_echoing_a_hostile_setting_cannot_drive_the_terminal(capsys):
    """A setting with a terminal escape or a right-to-left override, echoed in an error (an
    override that cannot be read, a line that was not scored), is printed with its escapes."""
    from resilience.cli._app import _fail

    with pytest.raises(SystemExit) as stopped:
        _fail("line 'SYN\x1b[2J\x1b[31mL' and 'a\u202eb\rc' not scored\nsecond problem", 2)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "error: line 'SYN\\x1b[2J\\x1b[31mL' and 'a\\u202eb\\rc' not scored\nsecond problem\n"
    )
