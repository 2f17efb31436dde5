"""What the GitLab provider contract tests (and bench/gitlab_bench.py) run against: the emulator, or a real GitLab.

A `Target` gives the URL, the provisioner's token, the root group, existing usernames,
an admin python-gitlab client (to plant drift through the API, the same way on both), and
the count of write calls the server saw when it can tell (the emulator's counters).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gitlab

from provision.config import Config, Settings
from provision.spec import load_spec

SPEC = """\
version: 1
application:
  slug: {slug}
  name: Sistem Informasi {slug}
repository:
  visibility: {visibility}
  default_branch: {branch}
  members:
{members}
runtime:
  kind: php
  version: "8.2"
hosting:
  host: web1
"""


@dataclass
class Target:
    name: str
    url: str
    token: str
    root_group: str
    users: list[str]  # at least four existing, active usernames
    admin: gitlab.Gitlab  # for drift and checks, through the API
    server_writes: Callable[[], int] | None = None  # the server's own count of write calls
    server_reads: Callable[[], int] | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    _n: Any = field(default_factory=lambda: itertools.count(1))

    def unique(self, stem: str) -> str:
        return f"{stem}{uuid.uuid4().hex[:6]}"


def make_config(target: Target, tmp: Path, *, team: list[str] | None = None, deploy_key: str | None = None,
                variables: dict[str, str] | None = None, max_retries: int = 2, timeout: float = 10.0,
                url: str | None = None, token: str | None = None, gitlab: dict[str, Any] | None = None) -> Config:
    key_file = ""
    if deploy_key:
        key_file = str(tmp / f"deploy-{uuid.uuid4().hex[:6]}.pub")
        Path(key_file).write_text(deploy_key + "\n")
    settings = Settings.model_validate({
        "general": {"state_dir": str(tmp / "state")},
        "gitlab": {"url": url or target.url, "root_group": target.root_group, "team": team or [],
                   "deploy_key_file": key_file, "variables": variables or {}, "max_retries": max_retries,
                   "timeout": timeout, **(gitlab or {})},
    })
    config = Config(settings=settings, sources={}, file=None)
    config._secrets["gitlab.token"] = token if token is not None else target.token
    return config


def make_request(request_id: str, opd_code: str = "disdik", opd_name: str = "Dinas Pendidikan") -> Any:
    return SimpleNamespace(id=request_id, opd_code=opd_code, opd_name=opd_name, status="open")


def make_spec(slug: str, members: list[tuple[str, str]], visibility: str = "private", branch: str = "main") -> Any:
    lines = "\n".join(f"    - {{username: {u}, role: {r}}}" for u, r in members) or "    []"
    if not members:
        text = SPEC.format(slug=slug, visibility=visibility, members="", branch=branch).replace("  members:\n", "  members: []\n")
    else:
        text = SPEC.format(slug=slug, visibility=visibility, members=lines, branch=branch)
    return load_spec(text)


class Recorder:
    """An in-memory audit recorder with the AuditLog's change interface."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def attempt(self, provider: str, change: Any) -> int:
        self.events.append({"outcome": "attempted", "kind": change.kind, "target": change.target})
        return len(self.events)

    def succeeded(self, attempt_id: int, provider: str, change: Any, detail: Any = None) -> None:
        self.events.append({"outcome": "succeeded", "kind": change.kind, "target": change.target,
                            "ref": attempt_id, "detail": detail})

    def failed(self, attempt_id: int, provider: str, change: Any, reason: str) -> None:
        self.events.append({"outcome": "failed", "kind": change.kind, "target": change.target,
                            "ref": attempt_id, "reason": reason})

    def outcomes(self) -> list[str]:
        return [e["outcome"] for e in self.events]


def real_target_from_env() -> Target | None:
    url, token = os.environ.get("GITLAB_TEST_URL"), os.environ.get("GITLAB_TEST_TOKEN")
    if not url or not token:
        return None
    users = [u for u in os.environ.get("GITLAB_TEST_USERS", "").split(",") if u]
    root = os.environ.get("GITLAB_TEST_ROOT_GROUP", "provision-contract-tests")
    admin = gitlab.Gitlab(url, private_token=token, ssl_verify=os.environ.get("GITLAB_TEST_CA_BUNDLE") or True)
    return Target("real", url, token, root, users, admin)


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()
