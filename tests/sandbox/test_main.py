"""`python -m devstack.sandbox up|status|down`, the sandbox for people."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from devstack.sandbox.server import netns_list

CHECKOUT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack.sandbox", *args], cwd=CHECKOUT, capture_output=True,
                          text=True, timeout=600)


def test_bad_usage_exits_2() -> None:
    proc = _cli("up", "--servers", "0")
    assert proc.returncode == 2
    assert "--servers must be between 1 and 20" in proc.stderr


@pytest.mark.root
@pytest.mark.slow
def test_up_is_idempotent_status_reports_and_down_cleans() -> None:
    # named runs as nobody: pytest's tmp_path (mode 700) is no place for BIND's data.
    base = Path(tempfile.mkdtemp(prefix="kp-main-test-"))
    base.chmod(0o755)
    state = str(base / "sb")
    netns = "kp-none"
    try:
        up = _cli("--state-dir", state, "up")
        assert up.returncode == 0, up.stderr
        assert "ssh -F" in up.stdout and "kominfo1" in up.stdout
        config = Path(state) / "provision.toml"
        assert config.is_file()
        from provision.config import load_config

        cfg = load_config(str(config), environ={})
        assert cfg.settings.hosting.ssh_config == str(Path(state) / "ssh_config")  # type: ignore[attr-defined]
        assert cfg.settings.dns.zone == "batam.test."  # type: ignore[attr-defined]
        # the GitLab emulator answers with the token the toolkit is given, and is seeded
        import requests

        token = Path(cfg.settings.gitlab.token_file).read_text().strip()  # type: ignore[attr-defined]
        group = requests.get(f"{cfg.settings.gitlab.url}/api/v4/groups/pemko-batam",  # type: ignore[attr-defined]
                             headers={"PRIVATE-TOKEN": token}, timeout=10)
        assert group.status_code == 200 and group.json()["full_path"] == "pemko-batam"
        gitlab_pid = json.loads((Path(state) / "gitlab.json").read_text())["pid"]

        again = _cli("--state-dir", state, "up")
        assert again.returncode == 0 and "already up: kominfo1" in again.stdout

        status = _cli("--state-dir", state, "status", "--json")
        assert status.returncode == 0, status.stderr
        servers = json.loads(status.stdout)["servers"]
        assert [s["name"] for s in servers] == ["kominfo1"]
        assert servers[0]["alive"] and set(servers[0]["services"].values()) == {"active"}
        assert json.loads(status.stdout)["bind"]["zone"] == "batam.test."
        # The production path: certificates from the sandbox's ACME CA (pebble), up and answering.
        assert cfg.settings.hosting.tls_source == "acme"  # type: ignore[attr-defined]
        pebble_info = json.loads((Path(state) / "pebble.json").read_text())
        import ssl
        import urllib.request

        ctx = ssl.create_default_context(cafile=pebble_info["listener_ca"])
        with urllib.request.urlopen(pebble_info["directory"], timeout=10, context=ctx) as resp:
            assert "newOrder" in json.loads(resp.read())
        assert "BEGIN CERTIFICATE" in Path(pebble_info["root"]).read_text()
        netns = servers[0]["netns"]
        assert netns in netns_list()
    finally:
        down = _cli("--state-dir", state, "down")
    assert down.returncode == 0, down.stderr
    assert "stopped: kominfo1, BIND, ACME CA (pebble), GitLab emulator" in down.stdout
    assert not (Path(state) / "bind.json").exists()
    from devstack.sandbox.gitlab_stack import _alive

    assert not _alive(gitlab_pid)  # gone (or a zombie waiting for an init that does not reap)
    assert netns not in netns_list()
    after = _cli("--state-dir", state, "status")
    assert after.returncode == 0 and "no sandbox servers running" in after.stdout
    shutil.rmtree(base, ignore_errors=True)
