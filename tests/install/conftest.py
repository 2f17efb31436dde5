"""Fixtures of the install tests: git repositories of the sample apps served by `git daemon`
on this machine's loopback, a tunnel to it from inside the module's sandbox server, and a
provision environment whose hosting settings point at the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.git_server import GitServer
from devstack.sandbox import free_port
from provision.placement import staging_cert_paths
from tests.helpers import run_cli

APPS = Path(__file__).resolve().parents[1] / "apps"


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    root = tmp_path_factory.mktemp("git")
    (root / "work").mkdir()
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                             f"--base-path={root}", "--export-all", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"git daemon could not start: {proc.stderr.read().decode() if proc.stderr else ''}",
                            pytrace=False)
            time.sleep(0.05)
    else:
        pytest.fail("git daemon did not listen within 10 s", pytrace=False)
    yield GitServer(root, port, APPS)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def app_server(kominfo_server, git_server: GitServer):  # type: ignore[no-untyped-def]
    """The module's sandbox server, with git daemon reachable inside at 127.0.0.1:<same port>."""
    from devstack.sandbox.tunnel import Tunnel

    tunnel = Tunnel(kominfo_server, git_server.port)
    try:
        tunnel.start()
    except Exception as e:  # noqa: BLE001 - the reason is what the failure must say
        pytest.fail(f"tunnel into {kominfo_server.name} could not start: {e}", pytrace=False)
    yield kominfo_server
    tunnel.stop()


def write_config(home: Path, sandbox, git_port: int, extra: str = "") -> Path:  # type: ignore[no-untyped-def]
    cfg = home / "provision.toml"
    cfg.write_text(
        f'[general]\nstate_dir = "{home / "state"}"\n'
        f'[dns]\nzone = "batam.go.id"\n'
        f'[reports]\nsignatory_name = "Budi Santoso"\nsignatory_nip = "197001012000031001"\n'
        f'[hosting]\ninventory = "{sandbox.inventory}"\nssh_config = "{sandbox.ssh_config}"\n'
        f'known_hosts = "{sandbox.known_hosts}"\nrepo_url = "git://127.0.0.1:{git_port}/{{slug}}.git"\n'
        f'keep_releases = 2\n' + extra)
    return cfg


@pytest.fixture
def install_home(provision_home: Path, sandbox, git_server: GitServer, app_server) -> Path:  # type: ignore[no-untyped-def]
    """A provision environment configured for the module's server (state in a temp dir)."""
    write_config(provision_home, sandbox, git_server.port)
    return provision_home


def open_request(request_id: str, spec: Path | str, home: Path) -> None:
    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app", "Aplikasi Uji",
                "--letter-number", "005/DISDIK/2026", "--letter-date", "2026-11-02", "--id", request_id)
    assert r.exit_code == 0, r
    if isinstance(spec, str):
        path = home / f"{request_id}.yaml"
        path.write_text(spec)
        spec = path
    r = run_cli("spec", "set", request_id, str(spec))
    assert r.exit_code == 0, r


def request_args(name: str, path: str = "/") -> list[str]:
    """curl's arguments that reach `name` inside the server: a staging name over HTTPS only,
    pinning its self-signed certificate (which must cover the name); others over HTTP."""
    if name.split(".")[0].endswith("-staging"):
        cert, _ = staging_cert_paths(name.split(".")[0])
        return ["--cacert", cert, "--resolve", f"{name}:443:127.0.0.1", f"https://{name}{path}"]
    return ["-H", f"Host: {name}", f"http://127.0.0.1{path}"]


def served(server, name: str, path: str = "/") -> str:  # type: ignore[no-untyped-def]
    """The page nginx serves for `name` inside the server."""
    return server.run(["curl", "-sS", "--max-time", "10", *request_args(name, path)]).stdout
