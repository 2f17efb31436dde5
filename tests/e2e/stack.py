"""The whole sandbox stack for end-to-end tests, built with the same building blocks as
scripts/demo.sh: `python -m devstack.sandbox --state-dir DIR up` (a Kominfo server in a
network namespace, BIND with the zone batam.test, the GitLab emulator, the tunnels, the
local CA and provision.toml), then requests taken through the manual steps the way the
demo does (scripts/demo-spec.yaml with another slug, devstack/demo_push.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[2]
PY = sys.executable
TAG = "v1.0.0"


class StackError(RuntimeError):
    pass


@dataclass
class Proc:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:
        return f"<{' '.join(self.argv[-6:])}: exit {self.rc}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}>"


@dataclass
class Stack:
    """A running stack under `base` (a 0755 temp dir: named runs as nobody)."""

    base: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.base / "sb"

    @property
    def config(self) -> Path:
        return self.state / "e2e.toml"

    def sandbox(self, *args: str, timeout: float = 900) -> Proc:
        argv = [PY, "-m", "devstack.sandbox", "--state-dir", str(self.state), *args]
        p = subprocess.run(argv, cwd=CHECKOUT, capture_output=True, text=True, timeout=timeout)
        return Proc(argv, p.returncode, p.stdout, p.stderr)

    def up(self, slugs: list[str]) -> None:
        r = self.sandbox("up", "--tls", "local-ca")  # the end-to-end tests are not about ACME
        if r.rc != 0:
            raise StackError(f"the sandbox did not come up: {r!r}")
        status = json.loads(self.sandbox("status", "--json").stdout)
        fwd = status["servers"][0]["forwards"]
        p80, p443 = fwd["80"], fwd["443"]
        connect = ", ".join(f'"{s}.batam.test:443" = "127.0.0.1:{p443}", "{s}.batam.test:80" = "127.0.0.1:{p80}"'
                            for s in slugs)
        self.config.write_text((self.state / "provision.toml").read_text() + f"""
[checks]
probe_ports = [{p80}, {p443}]
connect_to = {{ {connect} }}
ca_bundle = "{self.state / 'ca' / 'ca.pem'}"

[reports]
signatory_name = "Kepala Dinas (contoh)"
signatory_nip = "19700101 199001 1 001"
""")
        self.ports = (int(p80), int(p443))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("PROVISION_") and k not in ("GITLAB_CI", "GITLAB_USER_LOGIN", "CI_JOB_URL")}
        self.env.update(PROVISION_CONFIG=str(self.config), PROVISION_ACTOR="e2e-sysadmin",
                        KOMINFO_SANDBOX_DIR=str(self.state), PYTHONPATH=str(CHECKOUT))

    def down(self) -> None:
        self.sandbox("down", timeout=300)

    def settings(self) -> dict[str, Any]:
        import tomllib

        return tomllib.loads(self.config.read_text())

    def store(self) -> Any:
        """The state store (dispose its engine after use: runs are forked from this process)."""
        from provision.store import Store

        return Store(self.settings()["database"]["url"], upgrade=False)

    # -- running the CLI -------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 900) -> Proc:
        """`provision ARGS`, forked from this (pre-imported) process: no interpreter start-up."""
        from tests.e2e import killable

        out = killable.run_forked(list(args), self.env, None, None, str(self.base / f"cli-{os.getpid()}"),
                                  timeout=timeout)  # one output file per forked caller (the reference runs alongside)
        return Proc(["provision", *args], out.rc if out.rc is not None else -1, out.stdout, out.stderr)

    def ok(self, *args: str) -> Proc:
        r = self.cli(*args)
        if r.rc != 0:
            raise StackError(f"provision {' '.join(args)} failed: {r!r}")
        return r

    def spec_file(self, slug: str) -> Path:
        text = (CHECKOUT / "scripts" / "demo-spec.yaml").read_text().replace("sisekolah", slug)
        text = text.replace("Sistem Informasi Sekolah", f"Sistem Informasi {slug.capitalize()}")
        path = self.base / f"spec-{slug}.yaml"
        path.write_text(text)
        return path

    def open_request(self, slug: str) -> str:
        """A request with steps 1-10 done and the demo's spec under `slug`."""
        r = self.ok("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan",
                    "--app", f"Sistem Informasi {slug}", "--letter-number", f"005/DISDIK/{slug}/2026",
                    "--letter-date", "2026-11-02", "--json")
        rid = json.loads(r.stdout)["id"]
        for n in range(1, 11):
            self.ok("request", "step", rid, str(n), "--done")
        self.ok("spec", "set", rid, str(self.spec_file(slug)))
        return rid

    def developer_steps(self, rid: str) -> None:
        """Steps 12-13 as in the demo: push the sample app, tag v1.0.0, record the steps."""
        argv = [PY, "-m", "devstack.demo_push", rid, str(self.state / "gitlab" / "credentials.json")]
        p = subprocess.run(argv, cwd=CHECKOUT, env=self.env, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise StackError(f"demo_push failed: {p.stderr}")
        self.ok("request", "step", rid, "12", "--done")
        self.ok("request", "step", rid, "13", "--done")


def new_stack() -> Stack:
    base = Path(tempfile.mkdtemp(prefix="kp-e2e-"))
    base.chmod(0o755)
    return Stack(base)


def remove(stack: Stack) -> None:
    stack.down()
    shutil.rmtree(stack.base, ignore_errors=True)
