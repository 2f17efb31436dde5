"""The code and the playbooks judged by the linters the field uses, in the suite (so a
change that breaks them fails CI): ruff (pyproject's [tool.ruff]), mypy (pyproject's
[tool.mypy], with pydantic's plugin) and ansible-lint at its production profile. A missing
linter is a failure (they are in the test extra), never a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLAYBOOKS = ["install.yml", "hosting.yml", "hosting-delete.yml", "prepare.yml", "rollback.yml"]


def _run(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    tool = BIN / argv[0]
    assert tool.exists(), f"{argv[0]} is not installed in {BIN} (the test extra): a missing linter is a failure"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "NO_COLOR": "1"}
    return subprocess.run([str(tool), *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_ruff_finds_nothing() -> None:
    r = _run(["ruff", "check", "--no-cache", "."])
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "All checks passed!" in r.stdout


def test_mypy_finds_nothing() -> None:
    r = _run(["mypy", "--no-incremental"])
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert r.stdout.startswith("Success: no issues found"), r.stdout


def test_ansible_lint_passes_the_production_profile() -> None:
    r = _run(["ansible-lint", "--offline", "--nocolor", "--profile", "production", *PLAYBOOKS], cwd=ROOT / "playbooks")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "Profile 'production' was required, and it passed." in out, out[-2000:]
