"""Dependencies are declared exactly as imported: what src/ imports is a runtime dependency, what
only tests and benchmarks import is a test extra, and each has a lower bound."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Declared but never imported, each for a stated reason.
NOT_IMPORTED = {
    "pytest-xdist": "test: `make test` runs pytest -n 2",
    "import-linter": "test: `make test` runs lint-imports (the layers contract in pyproject.toml)",
    "ruff": "test: `make test` runs ruff check and ruff format --check",
}


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower().replace("_", "-")


def _declared(requirements: list[str]) -> set[str]:
    return {_name(r) for r in requirements}


def _imported_modules(folder: Path) -> dict[str, str]:
    """Top-level third-party modules imported under ``folder`` (also via pytest.importorskip) -> a file."""
    found = {}
    local = {path.stem for path in folder.glob("*.py")}  # conftest, the test files, their helpers
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "importorskip"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "resilience" and top not in local:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _providers(modules: dict[str, str]) -> dict[str, set[str]]:
    """Import names -> the distributions that provide each (mlflow: mlflow and mlflow-skinny)."""
    owners = packages_distributions()
    out = {}
    for module, where in modules.items():
        assert module in owners, (
            f"{where} imports {module!r}, which no installed distribution provides"
        )
        out[f"{module} (in {where})"] = {d.lower().replace("_", "-") for d in owners[module]}
    return out


def _check(
    providers: dict[str, set[str]], declared: set[str], unused_allowed: set[str], where: str
) -> set[str]:
    undeclared = sorted(
        f"{module}: provided by {sorted(dists)}"
        for module, dists in providers.items()
        if not dists & declared
    )
    assert not undeclared, f"imported by {where} but not declared: {undeclared}"
    used = set().union(*providers.values()) if providers else set()
    return declared - used - unused_allowed


def test_src_imports_are_exactly_the_runtime_dependencies():
    runtime = _declared(PYPROJECT["dependencies"])
    # the tactics review's estimator is an extra of its own (the demo's install leaves it out)
    tactics = _declared(PYPROJECT["optional-dependencies"]["tactics"])
    providers = _providers(_imported_modules(ROOT / "src"))
    unused = _check(providers, runtime | tactics, set(NOT_IMPORTED), "src/")
    assert not unused & tactics, f"tactics extras src/ never imports: {sorted(unused & tactics)}"
    unused -= tactics
    assert not unused, (
        f"runtime dependencies src/ never imports (move to the test extra or drop): {sorted(unused)}"
    )


def test_tests_and_benchmarks_imports_are_declared():
    runtime = _declared(PYPROJECT["dependencies"])
    test = _declared(PYPROJECT["optional-dependencies"]["test"])
    assert not test & runtime, "a test extra that is also a runtime dependency"
    providers = {
        **_providers(_imported_modules(ROOT / "benchmarks")),
        **_providers(_imported_modules(ROOT / "tests")),
    }
    unused = _check(providers, runtime | test, set(NOT_IMPORTED), "tests/ or benchmarks/")
    assert not unused & test, f"test extras nothing imports: {sorted(unused & test)}"


@pytest.mark.parametrize(
    "requirement",
    PYPROJECT["dependencies"]
    + PYPROJECT["optional-dependencies"]["test"]
    + PYPROJECT["optional-dependencies"]["tactics"],
)
def test_every_dependency_has_a_lower_bound(requirement):
    assert ">=" in requirement, f"{requirement!r}: state the oldest version known to work"


# Heavy packages only the tests need (issue 19: 880 MB of a 1.8 GB environment): `make demo`
# installs the runtime dependencies alone, so none of them may pull these in.
TEST_ONLY = ("pyspark", "playwright", "shap", "numba", "llvmlite", "pytest")


def _runtime_closure(requirements: list[str]) -> dict[str, str]:
    """Every installed distribution the runtime requirements pull in, each with what pulled it."""
    from importlib.metadata import PackageNotFoundError, requires

    found, queue = {}, [(_name(r), "pyproject.toml") for r in requirements]
    while queue:
        name, parent = queue.pop()
        if name in found:
            continue
        found[name] = parent
        try:
            nested = requires(name) or []
        except PackageNotFoundError:  # a requirement for another platform
            continue
        queue += [(_name(r), name) for r in nested if "extra ==" not in r.replace('"', "'")]
    return found


def test_the_runtime_pulls_in_no_test_only_package():
    closure = _runtime_closure(PYPROJECT["dependencies"])
    assert "optuna" in closure and "weasyprint" in closure  # the sweep and the PDF are runtime
    pulled = {name: closure[name] for name in TEST_ONLY if name in closure}
    assert not pulled, (
        f"runtime dependencies pull in test-only packages (name: pulled by): {pulled}"
    )
