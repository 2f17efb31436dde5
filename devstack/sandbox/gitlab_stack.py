"""The sandbox's GitLab: the emulator run in the background for `python -m devstack.sandbox up`,
seeded with the root group, the Kominfo team and a developer, a token file and a deploy key
for the toolkit.

    info = gitlab_up(state_dir)     # idempotent; info["url"], info["token_file"], ...
    gitlab_toml(info)               # the [gitlab] section of the sandbox's provision.toml
    gitlab_down(state_dir)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from devstack.sandbox import SandboxError

CHECKOUT = Path(__file__).resolve().parents[2]
ROOT_GROUP = "pemko-batam"
TEAM = ["kominfo.andi"]
DEVELOPERS = ["budi.dev", "siti_lead"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _api(info: dict[str, Any], method: str, route: str, **data: Any) -> requests.Response:
    return requests.request(method, f"{info['url']}/api/v4{route}", json=data or None, timeout=10,
                            headers={"PRIVATE-TOKEN": info["root_token"]})


def _seed(info: dict[str, Any]) -> None:
    for name in TEAM + DEVELOPERS:
        r = _api(info, "POST", "/users", username=name, name=name, email=f"{name}@example.test",
                 password="sandbox-password-not-used")
        if r.status_code not in (201, 409):
            raise SandboxError(f"GitLab emulator: creating user {name} answered {r.status_code}: {r.text}")
    r = _api(info, "GET", f"/groups/{ROOT_GROUP}")
    if r.status_code == 404:
        r = _api(info, "POST", "/groups", name="Pemerintah Kota Batam", path=ROOT_GROUP, visibility="private")
    if r.status_code not in (200, 201):
        raise SandboxError(f"GitLab emulator: root group {ROOT_GROUP} answered {r.status_code}: {r.text}")


def gitlab_up(state_dir: Path) -> dict[str, Any]:
    """Start (or find running) the emulator under `state_dir`/gitlab; its facts."""
    info_file = state_dir / "gitlab.json"
    if info_file.exists():
        info = json.loads(info_file.read_text())
        if _alive(int(info["pid"])):
            return info
        gitlab_down(state_dir)
    data = state_dir / "gitlab"
    data.mkdir(parents=True, exist_ok=True)
    creds = data / "credentials.json"
    creds.unlink(missing_ok=True)
    log = (data / "emulator.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "devstack.gitlab_emulator", "--state", str(data)],
                            cwd=CHECKOUT, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not creds.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SandboxError(f"the GitLab emulator did not start; see {data / 'emulator.log'}")
        time.sleep(0.1)
    time.sleep(0.2)  # the file is written in one go; let the reader see it whole
    info = json.loads(creds.read_text())
    info["pid"] = proc.pid
    token_file = state_dir / "gitlab-token"
    token_file.write_text(info["root_token"] + "\n")
    token_file.chmod(0o600)
    known = state_dir / "gitlab_known_hosts"
    known.write_text(info["ssh_known_hosts"] + "\n")
    # No deploy key here: `repo apply` makes each project its own (provision/deploy_keys.py).
    info.update(token_file=str(token_file), known_hosts=str(known))
    _seed(info)
    info_file.write_text(json.dumps(info, indent=2))
    info_file.chmod(0o600)
    return info


def tunnels_up(state_dir: Path, servers: list[Any], info: dict[str, Any]) -> None:
    """Make the emulator's SSH port reachable at the same port on 127.0.0.1 inside each
    server (the install clones from there). Pids are kept for gitlab_down."""
    from devstack.sandbox.tunnel import Tunnel

    record = state_dir / "tunnels.json"
    pids: dict[str, list[int]] = json.loads(record.read_text()) if record.exists() else {}
    for server in servers:
        if server.name in pids and all(_alive(p) for p in pids[server.name]):
            continue
        tunnel = Tunnel(server, target_port=int(info["ssh_port"])).start()
        pids[server.name] = [p.pid for p in tunnel._procs]
    record.write_text(json.dumps(pids))


def gitlab_down(state_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the emulator; True when one was running. Its repositories are deleted."""
    record = state_dir / "tunnels.json"
    if record.exists():
        for pids in json.loads(record.read_text()).values():
            for p in pids:
                try:
                    os.killpg(p, signal.SIGKILL)
                except OSError:
                    pass
        record.unlink()
    info_file = state_dir / "gitlab.json"
    if not info_file.exists():
        return False
    pid = int(json.loads(info_file.read_text())["pid"])
    running = _alive(pid)
    if running:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    info_file.unlink()
    shutil.rmtree(state_dir / "gitlab", ignore_errors=True)
    return running


def hosting_keys(state_dir: Path, info: dict[str, Any]) -> str:
    """[hosting] keys for installing from the emulator and the local CA (tls_source is set by the caller)."""
    from devstack.ca import make_ca

    ca_dir = state_dir / "ca"
    cert, key = ca_dir / "ca.pem", ca_dir / "ca.key"
    if not (cert.exists() and key.exists()):
        cert, key = make_ca(ca_dir)
    user, port = info["ssh_user"], info["ssh_port"]
    return (
        f'local_ca_cert = "{cert}"\n'
        f'local_ca_key_file = "{key}"\n'
        f'repo_url = "ssh://{user}@127.0.0.1:{port}/{{root_group}}/{{group}}/{{slug}}.git"\n'
        f'repo_known_hosts = "{info["known_hosts"]}"\n')


def gitlab_toml(info: dict[str, Any]) -> str:
    team = ", ".join(f'"{t}"' for t in TEAM)
    return ("[gitlab]\n"
            f'url = "{info["url"]}"\n'
            f'token_file = "{info["token_file"]}"\n'
            f'root_group = "{ROOT_GROUP}"\n'
            f"team = [{team}]\n")
