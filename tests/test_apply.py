"""`provision apply`: SOP order, gates, and resuming without repeating (step 11 against
the GitLab emulator; the whole run on a sandbox server is scripts/demo.sh)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitlab.cli_env import Env, setup_emulator
from tests.gitlab_emulator import GitLabEmulator
from tests.helpers import run_cli


@pytest.fixture
def env(gitlab: GitLabEmulator, provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    token, key = setup_emulator(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    e = Env(provision_home, gitlab, token, key)
    e.config()
    yield e


def record_steps(rid: str, *numbers: int) -> None:
    for n in numbers:
        r = run_cli("request", "step", rid, str(n), "--done")
        assert r.exit_code == 0, r


def test_repository_needs_the_manual_steps_first(env: Env) -> None:
    rid = env.open_request()
    record_steps(rid, 1, 2, 3)
    env.emulator.calls.reset()
    r = run_cli("apply", rid, "--until", "11", "--yes")
    assert r.exit_code == 2, r
    assert "needs SOP step(s) 4, 5, 6, 7, 8, 9, 10" in r.stderr
    assert env.emulator.calls.writes == 0


def test_step_11_then_resume_repeats_nothing(env: Env) -> None:
    rid = env.open_request()
    record_steps(rid, *range(1, 11))
    r = run_cli("apply", rid, "--until", "11", "--dry-run")
    assert r.exit_code == 0, r
    assert "step 11 repository: 10 to create" in r.stdout and "Dry run: nothing applied." in r.stdout
    r = run_cli("apply", rid, "--until", "11", "--yes")
    assert r.exit_code == 0, r
    assert "[done] step 11 repository: 10 to create" in r.stdout
    shown = run_cli("request", "show", rid, "--json").json
    step11 = shown["steps"][10]
    assert step11["status"] == "done" and step11["output_ref"].endswith("/pemko-batam/disdik/sisekolah")
    env.emulator.calls.reset()
    r = run_cli("apply", rid, "--until", "11", "--yes")
    assert r.exit_code == 0, r
    assert "[skipped] step 11 repository: nothing to do" in r.stdout
    assert env.emulator.calls.writes == 0


def test_install_needs_developer_steps_and_a_ref(env: Env) -> None:
    rid = env.open_request()
    record_steps(rid, *range(1, 11))
    r = run_cli("apply", rid, "--until", "14", "--yes")
    assert r.exit_code == 2, r
    assert "the install (step 14) needs SOP step(s) 12, 13" in r.stderr
    # step 11 was still done before the refusal: SOP order, each stage as far as it can go
    assert run_cli("request", "show", rid, "--json").json["steps"][10]["status"] == "done"


def test_without_terminal_apply_asks_for_yes(env: Env) -> None:
    rid = env.open_request()
    record_steps(rid, *range(1, 11))
    r = run_cli("apply", rid, "--until", "11")
    assert r.exit_code == 2, r
    assert "Pass --yes" in r.stderr
