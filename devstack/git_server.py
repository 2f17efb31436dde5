"""Bare git repositories of sample applications, served read-only by `git daemon` on this
machine's loopback (the install tests and bench/install_bench.py; the caller starts the daemon)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "Pengembang",
           "GIT_AUTHOR_EMAIL": "dev@example.test", "GIT_COMMITTER_NAME": "Pengembang",
           "GIT_COMMITTER_EMAIL": "dev@example.test"}


def git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


@dataclass
class GitServer:
    """Bare repositories under `root`, served read-only by git daemon on 127.0.0.1:port."""

    root: Path
    port: int
    apps: Path  # the sample applications, one directory each (the tests' are tests/apps)

    def create(self, app: str, slug: str) -> Path:
        """A work tree of sample app `app`, pushed as <slug>.git with tag v1.0.0; returns the work tree."""
        work = self.root / "work" / slug
        if work.exists():
            return work
        shutil.copytree(self.apps / app, work)
        git("init", "-q", "-b", "main", cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "-qm", "versi 1", cwd=work)
        git("tag", "v1.0.0", cwd=work)
        git("clone", "-q", "--bare", str(work), str(self.root / f"{slug}.git"), cwd=self.root)
        return work

    def commit_and_tag(self, work: Path, tag: str, edits: dict[str, str]) -> str:
        for rel, text in edits.items():
            (work / rel).write_text(text)
        git("commit", "-qam", tag, cwd=work)
        git("tag", tag, cwd=work)
        bare = self.root / f"{work.name}.git"
        git("push", "-q", str(bare), "main", tag, cwd=work)
        return git("rev-parse", "HEAD", cwd=work)
