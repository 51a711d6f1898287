"""The package's layout holds (docs/architecture.md, "Layout"): imports only go down the stages and the
benchmarks do not know each other (the import-linter contracts of pyproject.toml), no benchmark is
named outside its folder, nothing heavy loads while the workflow parses, and the Python and the
workflow files are lint-clean (ruff, snakefmt), as the pinned linters of the `test` extra say."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "snnbench"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: it comes with the test extra (pip install -e '.[test]')")
    return str(path)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_imports_only_go_down_and_the_benchmarks_are_independent():
    result = _run(_tool("lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_python_is_ruff_clean():
    result = _run(_tool("ruff"), "check", "src", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_is_snakefmt_clean():
    result = _run(_tool("snakefmt"), "--check", "Snakefile", "workflow")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_benchmark_is_named_outside_its_folder():
    """A benchmark's name as a string literal stands only in its own folder and in the registry's one list."""
    from snnbench.benchmarks import BENCHMARKS, MODULES

    assert tuple(BENCHMARKS) == MODULES
    literal = re.compile(r"""["'](%s)["']""" % "|".join(BENCHMARKS))
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "benchmarks" and len(rel.parts) > 2 and rel.parts[1] in BENCHMARKS:
            continue  # the benchmark's own folder
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if literal.search(line) and not (rel == Path("benchmarks/__init__.py") and line.startswith("MODULES = ")):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_workflow_parses_without_torch_matplotlib_or_the_baselines():
    """What common.smk and the CLI import at parse time loads none of the heavy libraries."""
    code = ("import sys, snnbench.benchmarks, snnbench.pipeline.runs, snnbench.training.devices, snnbench.settings, "
            "snnbench.methods.custom, snnbench.pipeline.plan, snnbench.pipeline.status, snnbench.cli; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'sklearn', 'baycomp', 'rdkit') if m in sys.modules))")
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
