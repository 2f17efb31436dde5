"""`provision apply`: SOP order, gates, and resuming without repeating (step 11 against
the GitLab emulator; the whole run on a sandbox server is scripts/demo.sh)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.gitlab_emulator import GitLabEmulator
from tests.gitlab.cli_env import Env, setup_emulator
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
    assert "step 11 repository: 12 to create" in r.stdout and "Dry run: nothing applied." in r.stdout
    # the SOP's words for the step, once, before its stages (general.language: id)
    assert r.stdout.count("  SOP step 11: Tim Teknis Kominfo menyediakan sourcecode repository untuk "
                          "dipergunakan oleh pihak pengembang (Tim Teknis Dinas Komunikasi dan Informatika)\n") == 1
    r = run_cli("apply", rid, "--until", "11", "--yes")
    assert r.exit_code == 0, r
    assert "[done] step 11 repository: 12 to create" in r.stdout
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


# -- the reviewed plan is the applied plan ------------------------------------------------

def gitlab_events(rid: str) -> list[dict]:
    log = run_cli("audit", "log", rid, "--json")
    assert log.exit_code == 0, log
    return [e for e in log.json if e["provider"] == "gitlab"]


def make_it_by_hand(env: Env) -> None:
    """Someone makes the project by hand, public: the plan now updates it (a change never
    shown). A change shown and found made meanwhile (the group alone) is not a conflict:
    eight requests of one OPD share that group (test_apply_concurrency.py)."""
    env.emulator.create_group("disdik", parent="pemko-batam", owner="provisioner")
    env.emulator.create_project("pemko-batam/disdik/sisekolah", visibility="public")
    env.emulator.calls.reset()


def test_a_plan_changed_after_confirmation_is_refused_not_applied(env: Env,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The world moves between the confirmation and the apply (here: someone makes the
    group by hand while the sysadmin answers the prompt): the run stops with a conflict
    naming the difference and writes nothing."""
    import provision.cli.applyall as applyall

    rid = env.open_request()
    record_steps(rid, *range(1, 11))
    confirmed: list[str] = []

    def confirm_then_the_world_moves(what: str, yes: bool) -> None:
        confirmed.append(what)
        make_it_by_hand(env)

    with monkeypatch.context() as m:
        m.setattr(applyall, "confirm_apply", confirm_then_the_world_moves)
        r = run_cli("apply", rid, "--until", "11", "--yes")
    assert confirmed == [f"the automated steps of {rid}"]
    assert r.exit_code == 7, r
    assert "step 11 repository: 12 to create" in r.stdout  # what was shown
    assert (f"the repository plan of {rid} changed since it was shown: now also updates gitlab.project "
            "pemko-batam/disdik/sisekolah") in r.stderr, r.stderr
    assert "Nothing of the repository was applied." in r.stderr
    assert env.emulator.calls.writes == 0
    assert gitlab_events(rid) == []  # not even attempted
    assert run_cli("request", "show", rid, "--json").json["steps"][10]["status"] == "pending"
    r = run_cli("apply", rid, "--until", "11", "--yes")  # a new review applies the new plan
    assert r.exit_code == 0 and "[done] step 11 repository: " in r.stdout and "2 to update" in r.stdout, r


def test_dry_run_json_is_one_document_and_its_checksum_pins_the_run(env: Env) -> None:
    rid = env.open_request()
    record_steps(rid, *range(1, 11))
    r = run_cli("apply", rid, "--until", "14", "--ref", "v1.0.0", "--dry-run", "--json")
    assert r.exit_code == 0, r
    doc = r.json
    assert sorted(doc) == ["checksum", "plans", "result"] and doc["result"] is None
    assert [(p["stage"], p["step"]) for p in doc["plans"]] == [
        ("repository", 11), ("staging install", 14), ("tests", 14), ("berita acara", 14)]
    assert doc["plans"][0]["summary"] == "12 to create" and doc["plans"][0]["deferred"] is None
    # no install settings in this configuration: shown as not plannable, not hidden
    assert doc["plans"][1]["deferred"] == "cannot be planned now: hosting.inventory is not set."
    assert doc["plans"][2]["deferred"].startswith("decided after the staging install")
    reviewed = doc["checksum"]
    assert len(reviewed) == 16 and reviewed != doc["plans"][0]["checksum"]
    text = run_cli("apply", rid, "--until", "14", "--ref", "v1.0.0", "--dry-run")
    assert text.exit_code == 0 and f"checksum of the whole plan: {reviewed}" in text.stdout, text
    assert "  + gitlab.project pemko-batam/disdik/sisekolah" in text.stdout  # each change, not only counts
    md = run_cli("apply", rid, "--until", "14", "--ref", "v1.0.0", "--dry-run", "--markdown")
    assert md.exit_code == 0, md
    assert f"### step 11 repository ({rid}): 12 to create" in md.stdout
    assert "| + | gitlab.project | pemko-batam/disdik/sisekolah |" in md.stdout
    assert "_Final when the stage runs: decided after the staging install" in md.stdout
    assert f"Checksum of the whole plan: `{reviewed}`" in md.stdout and "Dry run: nothing applied." in md.stdout
    make_it_by_hand(env)  # GitLab moves on
    r = run_cli("apply", rid, "--until", "11", "--checksum", reviewed, "--yes")
    assert r.exit_code == 7, r
    assert f"the plan is not the one reviewed (checksum {reviewed}, now " in r.stderr
    assert env.emulator.calls.writes == 0 and gitlab_events(rid) == []
    fresh = run_cli("apply", rid, "--until", "11", "--dry-run", "--json").json["checksum"]
    r = run_cli("apply", rid, "--until", "11", "--checksum", fresh, "--yes", "--json")
    assert r.exit_code == 0, r
    assert r.json["checksum"] == fresh and r.json["result"]["stages"][0]["status"] == "done"


def test_a_second_process_changing_the_world_at_the_prompt_is_refused(env: Env) -> None:
    """The same without any patching: a real `provision apply` on a terminal (a pty) waits
    at its prompt while GitLab is changed from outside; answering yes applies nothing."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    rid = env.open_request()
    record_steps(rid, *range(1, 11))
    root = Path(__file__).resolve().parents[1]
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(root / "cli.py"), "apply", rid, "--until", "11"],
                            stdin=follower, stdout=follower, stderr=follower, env=os.environ.copy(),
                            close_fds=True)
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Apply the automated steps of" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen.decode(errors="replace")
            if select.select([leader], [], [], 1)[0]:
                seen += os.read(leader, 65536)
        assert b"step 11 repository: 12 to create" in seen
        make_it_by_hand(env)
        os.write(leader, b"y\n")
        while proc.poll() is None or select.select([leader], [], [], 0.2)[0]:
            try:
                chunk = os.read(leader, 65536) if select.select([leader], [], [], 1)[0] else b""
            except OSError:  # the pty closes with the process
                break
            seen += chunk
            assert time.monotonic() < deadline + 60
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        os.close(leader)
    out = seen.decode(errors="replace").replace("\r\n", "\n")
    assert proc.returncode == 7, out
    assert f"the repository plan of {rid} changed since it was shown: now also updates gitlab.project" in out
    assert env.emulator.calls.writes == 0 and gitlab_events(rid) == []
