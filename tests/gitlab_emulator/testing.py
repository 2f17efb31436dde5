"""Helpers for the emulator's own tests (and for provider tests that want them)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import requests

from devstack.gitlab_emulator.emulator import GitLabEmulator


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git with no user or system config and no prompts; raises with stderr on failure when `check`."""
    full_env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.test",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.test",
        **(env or {}),
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def ssh_env(emulator: GitLabEmulator, key_file: Path, tmp: Path) -> dict[str, str]:
    """GIT_SSH_COMMAND that uses only `key_file` and trusts only the emulator's pinned host key."""
    known_hosts = tmp / "known_hosts"
    known_hosts.write_text(emulator.ssh_known_hosts + "\n")
    command = (
        f"ssh -i {key_file} -o IdentitiesOnly=yes -o UserKnownHostsFile={known_hosts} "
        "-o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -F /dev/null"
    )
    return {"GIT_SSH_COMMAND": command}


def make_key(tmp: Path, name: str) -> tuple[Path, str]:
    """A new ed25519 key pair; returns (private key path, public key text)."""
    path = tmp / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path, (tmp / f"{name}.pub").read_text().strip()


def api(emulator: GitLabEmulator, method: str, path: str, token: str | None = "root", **kwargs: Any) -> requests.Response:
    """A raw API call (`path` after /api/v4, already encoded) to check status codes, bodies and headers."""
    headers = kwargs.pop("headers", {})
    if token == "root":
        token = emulator.root_token
    if token:
        headers.setdefault("PRIVATE-TOKEN", token)
    kwargs.setdefault("timeout", 30)
    return requests.request(method, emulator.api_url + path, headers=headers, **kwargs)
