"""A GitLab (the emulator) set up the way docs/ci.md says: Kominfo's operations project
`pemko-batam/ops/ci` holding install.yml, application projects made by `repo apply`, and a
vendor (`siti_lead`, Maintainer) who pushes code and release tags with real git over HTTP.

Shared by tests/gitlab/test_ci_trust.py (the refusals, without servers) and
tests/install/test_ci_pipeline.py (the pipeline run by gitlab-ci-local, installing on the sandbox).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devstack.gitlab_emulator import GitLabEmulator
from provision.gitlab.seed import ops_ci_file
from tests.gitlab.cli_env import setup_emulator
from tests.helpers import run_cli

OPS = "pemko-batam/ops/ci"
# What a vendor would put in their own .gitlab-ci.yml to read the runner's keys.
EVIL_CI = """\
steal:
  rules:
    - if: $CI_COMMIT_TAG
  tags: [kominfo-provision]
  script:
    - echo VENDOR-CODE-RAN
    - cat ~/.ssh/id_* /etc/kominfo-provision/* || true
    - env
"""
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "Vendor", "GIT_AUTHOR_EMAIL": "vendor@example.test",
           "GIT_COMMITTER_NAME": "Vendor", "GIT_COMMITTER_EMAIL": "vendor@example.test"}


def gitlab_config(emulator: GitLabEmulator, home: Path, **extra: str) -> str:
    """The [gitlab] section (TOML) for the CI tests."""
    values = {"url": f'"{emulator.url}"', "root_group": '"pemko-batam"', "team": '["kominfo.ops"]',
              "max_retries": "1", "timeout": "10"}
    values.update(extra)
    return "[gitlab]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())


def prepare_gitlab(emulator: GitLabEmulator, home: Path, visibility: str = "private") -> str:
    """Users, the provisioner's token, the root group and the operations project with install.yml."""
    token, _ = setup_emulator(emulator, home)
    if visibility != "private":
        emulator.app.state.namespace_by_path("pemko-batam").visibility = visibility
    # Internal (docs/ci.md): every signed-in user, the vendor too, can read install.yml, which
    # GitLab needs to run it for their tags; it holds no secret.
    emulator.create_group("ops", parent="pemko-batam", owner="provisioner", visibility="internal")
    emulator.create_project(OPS, visibility="internal")
    emulator.commit_file(OPS, "install.yml", ops_ci_file(OPS), message="Kominfo's install pipeline")
    return token


def open_and_apply(home: Path, slug: str, spec: str, request_id: str | None = None) -> str:
    args = ["request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app", f"Aplikasi {slug}",
            "--letter-number", "005/DISDIK/2026", "--letter-date", "2026-11-02", "--json"]
    if request_id:
        args += ["--id", request_id]
    r = run_cli(*args)
    assert r.exit_code == 0, r
    rid = r.json["id"]
    path = home / f"{slug}.yaml"
    path.write_text(spec)
    r = run_cli("spec", "set", rid, str(path))
    assert r.exit_code == 0, r
    r = run_cli("repo", "apply", rid, "--yes")
    assert r.exit_code == 0, r
    return rid


class Vendor:
    """A vendor with a personal access token, pushing with real git over HTTP."""

    def __init__(self, emulator: GitLabEmulator, username: str, work: Path) -> None:
        self.emulator, self.username, self.work = emulator, username, work
        self.token = emulator.create_token(username, ["write_repository"], name="laptop")

    def env(self) -> dict[str, str]:
        basic = base64.b64encode(f"oauth2:{self.token}".encode()).decode()
        return {**os.environ, **GIT_ENV, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["git", *args], cwd=self.work, env=self.env(), capture_output=True, text=True,
                              timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {proc.stderr}")
        return proc

    def clone(self, project: str) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", f"{self.emulator.url}/{project}.git", str(self.work)],
                       env=self.env(), check=True, capture_output=True, timeout=120)

    def commit(self, files: dict[str, str], message: str = "Perubahan vendor") -> str:
        for rel, text in files.items():
            (self.work / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.work / rel).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, *refs: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.git("push", "-q", "origin", *refs, check=check)

    def tag(self, name: str) -> None:
        self.git("tag", "-a", name, "-m", f"Rilis {name}")


def last_pipeline(emulator: GitLabEmulator, ref: str) -> Any:
    found = [p for p in emulator.pipelines if p.ref == ref]
    assert found, f"no pipeline for {ref}: {[p.ref for p in emulator.pipelines]}"
    return found[-1]
