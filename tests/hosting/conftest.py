"""Fixtures of the hosting tests: a provision environment for the whole module (state,
a local CA, configuration pointing at the module's sandbox server), and helpers to open
requests with specs and to record the install and test that the production gate needs."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CliResult, run_cli

ZONE = "batam.go.id"


@dataclass
class HostingEnv:
    home: Path
    ca_cert: Path
    ca_key: Path
    server: Any = None

    @property
    def state(self) -> Path:
        return self.home / "state"

    def open_request(self, rid: str, slug: str, *, database: str = "mariadb", aliases: list[str] | None = None,
                     kind: str = "php", host: str | None = None, name: str | None = None,
                     opd: tuple[str, str] = ("disdik", "Dinas Pendidikan"), runtime_extra: dict[str, Any] | None = None) -> None:
        r = run_cli("request", "open", "--opd-code", opd[0], "--opd-name", opd[1], "--app",
                    name or f"Aplikasi {slug}", "--letter-number", f"005/{slug}/2026", "--letter-date", "2026-11-02",
                    "--id", rid)
        assert r.exit_code == 0, r
        runtime = {"kind": kind, "version": "8.2", "document_root": "public"} if kind == "php" else {"kind": kind}
        runtime.update(runtime_extra or {})
        spec = {"version": 1, "application": {"slug": slug, "name": name or f"Aplikasi {slug}"},
                "runtime": runtime,
                "hosting": {"host": host or (self.server.name if self.server else "web1"), "database": database,
                            "tls": True, "aliases": aliases or []}}
        path = self.home / f"{rid}.yaml"
        path.write_text(json.dumps(spec))
        r = run_cli("spec", "set", rid, str(path))
        assert r.exit_code == 0, r

    def pass_gate(self, rid: str, passed: bool = True, commit: str = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0") -> None:
        """Record what `provision install` and `provision test` record: an install and its test run."""
        from provision.context import App
        from provision.store.models import Install, TestRun

        app = App()
        now = dt.datetime.now(dt.UTC)
        with app.store.write() as s:
            s.add(Install(request_id=rid, env="staging", ref="v1.0.0", commit=commit, status="succeeded",
                          started_at=now, ended_at=now))
            s.add(TestRun(request_id=rid, env="staging", commit=commit, passed=passed, results="[]", created_at=now))

    def on_server(self, cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.server.run(cmd, check=check)

    def curl(self, port: int, name: str, path: str = "/", scheme: str = "https", extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", str(self.ca_cert), "--resolve",
                               f"{name}:{port}:127.0.0.1", *extra, f"{scheme}://{name}:{port}{path}"],
                              capture_output=True, text=True, timeout=30)


def write_config(home: Path, ca_cert: Path, ca_key: Path, inventory: str, ssh_config: str = "",
                 known_hosts: str = "", extra: str = "") -> None:
    (home / "provision.toml").write_text(
        f'[general]\nstate_dir = "{home / "state"}"\n'
        f'[dns]\nzone = "{ZONE}"\n'
        f'[hosting]\ninventory = "{inventory}"\nssh_config = "{ssh_config}"\nknown_hosts = "{known_hosts}"\n'
        f'tls_source = "local-ca"\nlocal_ca_cert = "{ca_cert}"\nlocal_ca_key_file = "{ca_key}"\n' + extra)


def _environment(home: Path) -> pytest.MonkeyPatch:
    mp = pytest.MonkeyPatch()
    for var in list(os.environ):
        if var.startswith("PROVISION_") or var in ("GITLAB_CI", "GITLAB_USER_LOGIN", "CI_JOB_URL"):
            mp.delenv(var)
    mp.setenv("PROVISION_CONFIG", str(home / "provision.toml"))
    mp.setenv("PROVISION_ACTOR", "tester")
    mp.setenv("PROVISION_TODAY", "2026-11-02")
    mp.chdir(home)
    return mp


@pytest.fixture(scope="module")
def hosting_env(tmp_path_factory: pytest.TempPathFactory, sandbox: Any, kominfo_server: Any) -> Iterator[HostingEnv]:
    """One provision environment for the module, hosting on the module's sandbox server."""
    from devstack.ca import make_ca

    home = tmp_path_factory.mktemp("hosting")
    ca_cert, ca_key = make_ca(home / "ca")
    write_config(home, ca_cert, ca_key, str(sandbox.inventory), str(sandbox.ssh_config), str(sandbox.known_hosts))
    mp = _environment(home)
    yield HostingEnv(home, ca_cert, ca_key, kominfo_server)
    mp.undo()


@pytest.fixture
def offline_env(tmp_path: Path) -> Iterator[HostingEnv]:
    """A provision environment with a static inventory (host web1) and no server: for what is
    refused before any server is contacted."""
    from devstack.ca import make_ca

    ca_cert, ca_key = make_ca(tmp_path / "ca")
    inv = tmp_path / "inventory.yml"
    inv.write_text("all:\n  children:\n    kominfo:\n      hosts:\n        web1: {ansible_host: 127.0.0.1}\n")
    known = tmp_path / "known_hosts"  # an inventory always comes with pinned host keys (none here)
    known.write_text("")
    write_config(tmp_path, ca_cert, ca_key, str(inv), known_hosts=str(known))
    mp = _environment(tmp_path)
    yield HostingEnv(tmp_path, ca_cert, ca_key)
    mp.undo()


def cli(*args: str) -> CliResult:
    return run_cli(*args)
