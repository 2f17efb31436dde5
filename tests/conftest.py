"""Shared pytest set-up: the provision environment of a test, and the fixture plugins
of each part of the test stack (sandbox servers, BIND, GitLab emulator)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_PLUGINS = [
    "tests.sandbox.fixtures",
    "tests.sandbox.bind_fixtures",
    "tests.gitlab_emulator.fixtures",
    "tests.secret_sweep",  # the secrets sweep after every test (tests/test_zz_secrets_sweep.py)
]
pytest_plugins = [p for p in _PLUGINS if importlib.util.find_spec(p) is not None]

# The suite runs the same in a terminal and in a CI job: the job's own variables (CI=true,
# CI_PROJECT_PATH, ...) would make every `provision install` a CI install. Tests that are
# about CI set them explicitly.
_CI_VARS = ("CI", "GITLAB_CI", "GITLAB_USER_LOGIN")
for _var in [v for v in os.environ if v in _CI_VARS or v.startswith("CI_")]:
    del os.environ[_var]


@pytest.fixture
def provision_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean provision environment: its own config file and state dir, no PROVISION_* leaks."""
    for var in list(os.environ):
        if var.startswith(("PROVISION_", "CI_", "KOMINFO_UPSTREAM_")) or var in _CI_VARS:
            monkeypatch.delenv(var)
    state = tmp_path / "state"
    cfg = tmp_path / "provision.toml"
    cfg.write_text(f'[general]\nstate_dir = "{state}"\n')
    monkeypatch.setenv("PROVISION_CONFIG", str(cfg))
    monkeypatch.setenv("PROVISION_ACTOR", "tester")
    monkeypatch.setenv("PROVISION_TODAY", "2026-11-02")  # a Monday
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, provision_home: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The state store on each backend: a SQLite file, and a fresh database on a
    throwaway PostgreSQL server. Sets PROVISION_DATABASE_URL for the CLI."""
    if request.param == "sqlite":
        url = f"sqlite:///{provision_home / 'state' / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("PROVISION_DATABASE_URL", url)
    yield url
