"""`python -m devstack.gitlab_emulator`: serves, writes credentials, keeps state across restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gitlab as gitlab_lib
import pytest
import requests

from devstack.gitlab_emulator.emulator import GitLabEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]


def _start(state: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "devstack.gitlab_emulator", "--state", str(state), "--no-ssh"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    credentials = state / "credentials.json"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the emulator exited: {proc.stderr.read() if proc.stderr else ''}")
        if credentials.exists() and credentials.stat().st_size:
            return proc, json.loads(credentials.read_text())
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the emulator did not write credentials.json within 20 s")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_script_serves_and_keeps_state_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc, first = _start(state)
    try:
        assert oct((state / "credentials.json").stat().st_mode & 0o777) == "0o600"
        client = gitlab_lib.Gitlab(first["url"], private_token=first["root_token"])
        client.groups.create({"name": "Pemko", "path": "pemko"})
        client.projects.create({"name": "App", "path": "app", "initialize_with_readme": True})
    finally:
        _stop(proc)
    (state / "credentials.json").unlink()
    proc, second = _start(state)
    try:
        assert second["root_token"] == first["root_token"]
        client = gitlab_lib.Gitlab(second["url"], private_token=second["root_token"])
        assert client.groups.get("pemko").path == "pemko"
        project = client.projects.get("root/app")
        assert [b.name for b in project.protectedbranches.list()] == ["main"]
        assert project.files.get("README.md", ref="main").decode().startswith(b"# App")
    finally:
        _stop(proc)


def test_emulator_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="loopback"):
        GitLabEmulator(host="0.0.0.0")


def test_context_manager_stops_the_server() -> None:
    with GitLabEmulator(ssh=False) as emulator:
        url = emulator.url
        assert gitlab_lib.Gitlab(url, private_token=emulator.root_token).projects.list() == []
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/api/v4/projects", timeout=2)
    assert not os.path.exists(str(emulator.state_dir))


def test_start_fails_with_the_reason_when_sshd_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.gitlab_emulator import ssh_server

    monkeypatch.setattr(ssh_server, "SSHD", "/nonexistent/sshd")
    emulator = GitLabEmulator()
    with pytest.raises(RuntimeError, match="openssh-server"):
        emulator.start()
    with pytest.raises(requests.ConnectionError):
        requests.get(emulator.api_url + "/projects", timeout=2)


def test_a_handler_bug_is_a_500_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.gitlab_emulator import api_users

    def broken(app: object, req: object) -> None:
        raise KeyError("bug")

    with GitLabEmulator(ssh=False) as emulator:
        route = next(r for r in api_users.ROUTER.routes if r.parts == ["user"] and r.method == "GET")
        monkeypatch.setattr(route, "handler", broken)
        response = requests.get(emulator.api_url + "/user", headers={"PRIVATE-TOKEN": emulator.root_token}, timeout=10)
        assert response.status_code == 500
        assert response.json() == {"message": "500 Internal Server Error"}
        assert len(emulator.internal_errors) == 1 and "KeyError" in emulator.internal_errors[0]
