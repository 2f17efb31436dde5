"""Push a sample application into a request's repository the way a developer would:
clone over HTTPS with the developer's personal access token, commit, push a branch and a
release tag. Used by the sandbox demo and the tests; the token never appears in argv or in
the clone's `.git/config` (it travels in `GIT_CONFIG_*` environment variables).

    python -m devstack.demo_push REQUEST_ID STATE/gitlab/credentials.json

is the developer's part of scripts/demo.sh (SOP step 12): budi.dev pushes the sample
application with its step-13 documents and tags the release v1.0.0.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from provision.errors import ProviderError

SAMPLE_PHP_APP: dict[str, str] = {
    "public/index.php": """<?php
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
if ($path === '/login') {
    echo "<h1>Masuk</h1><form method='post'><input name='nip'><button>Masuk</button></form>";
    exit;
}
if ($path !== '/' && $path !== '/index.php') {
    http_response_code(404);
    echo "Tidak ditemukan";
    exit;
}
echo "<h1>Selamat datang di Sistem Informasi Sekolah</h1>";
""",
    "docs/panduan-instalasi.md": """# Panduan Instalasi

1. Salin isi repositori pada tag rilis ke server.
2. Arahkan document root ke `public/`.
3. PHP 8.2, tanpa ekstensi tambahan.
""",
}


def _git(args: list[str], cwd: Path | None, env: dict[str, str]) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise ProviderError(f"git {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return proc.stdout.strip()


def push_sample_app(http_url: str, token: str, *, files: dict[str, str] | None = None,
                    branch: str = "develop", base: str = "main", tag: str | None = "v1.0.0",
                    author: tuple[str, str] = ("Tim Pengembang OPD", "pengembang@example.test"),
                    message: str = "Aplikasi contoh") -> str:
    """Clone `http_url`, add `files` (default: a small PHP app) on `branch` (from `base`),
    push it and `tag`; returns the commit id. A developer cannot push to the protected
    default branch, so the work goes to `branch`; the tag is what `provision install` takes.
    Raises ProviderError with git's message when a git step fails.
    """
    basic = base64.b64encode(f"oauth2:{token}".encode()).decode()
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
           "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
           "GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1]}
    with tempfile.TemporaryDirectory(prefix="sample-app-") as tmp:
        work = Path(tmp) / "repo"
        _git(["clone", "--quiet", "--branch", base, http_url, str(work)], None, env)
        if branch != base:
            _git(["checkout", "--quiet", "-b", branch], work, env)
        for rel, content in (files or SAMPLE_PHP_APP).items():
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        _git(["add", "--all"], work, env)
        _git(["commit", "--quiet", "-m", message], work, env)
        sha = _git(["rev-parse", "HEAD"], work, env)
        refs = [f"refs/heads/{branch}"]
        if tag:
            _git(["tag", "-a", tag, "-m", f"Rilis {tag}"], work, env)
            refs.append(f"refs/tags/{tag}")
        _git(["push", "--quiet", "origin", *refs], work, env)
        return sha


def developer_token(url: str, admin_token: str, username: str, scopes: tuple[str, ...] = ("write_repository",),
                    ca_bundle: str = "") -> str:
    """A personal access token for `username`, made with an admin token (GitLab's
    `POST /users/:id/personal_access_tokens`; the emulator has it too). For demos only."""
    from provision.gitlab.client import GitLabClient

    c = GitLabClient(url, admin_token, ca_bundle=ca_bundle, max_retries=2)
    users = c.list("/users", f"user {username}", username=username)
    if not users:
        raise ProviderError(f"no GitLab user named {username!r} for the demo.")
    made = c.post(f"/users/{users[0]['id']}/personal_access_tokens", f"a token for {username}",
                  {"name": "sandbox-demo", "scopes": list(scopes)})
    return str(made["token"])


def push_as_developer(app: object, request_id: str, admin_token: str, username: str = "budi.dev",
                      tag: str = "v1.0.0") -> str:
    """The sandbox's main job: `username` pushes the sample app and `tag` into the request's
    project (found through `project_info`, so `repo apply` must have run). Returns the commit id."""
    from provision.errors import NotFound
    from provision.gitlab.info import project_info

    info = project_info(app, request_id)
    if not info:
        raise NotFound(f"no GitLab project is recorded for {request_id}.",
                       f"Run `provision repo apply {request_id}` first.")
    config = app.config  # type: ignore[attr-defined]
    token = developer_token(config.gitlab.url, admin_token, username, ca_bundle=config.gitlab.ca_bundle)
    return push_sample_app(info["http_url"], token, base=info.get("default_branch") or "main", tag=tag)


# The step-13 documents the demo's developer hands over with the application.
DEMO_DOCS: dict[str, str] = {
    "docs/panduan-pengguna.md": "# Panduan Pengguna\n\nBuka halaman utama, masuk dengan NIP.\n",
    "docs/kebutuhan-sistem.md": "# Kebutuhan Sistem\n\nPHP 8.2, MariaDB 10.11, nginx.\n",
    "docs/pengujian/uat.md": "# Hasil UAT\n\nSemua skenario diterima oleh Tim Teknis OPD.\n",
}


def main(argv: list[str] | None = None) -> int:
    """The demo's step 12: push SAMPLE_PHP_APP and DEMO_DOCS as budi.dev, print the commit id."""
    from provision.context import App
    from provision.gitlab.info import project_info

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m devstack.demo_push REQUEST_ID STATE/gitlab/credentials.json", file=sys.stderr)
        return 2
    request_id, credentials = args
    app = App()
    root_token = json.loads(Path(credentials).read_text())["root_token"]
    info = project_info(app, request_id)
    token = developer_token(app.config.gitlab.url, root_token, "budi.dev")
    print(push_sample_app(info["http_url"], token, files={**SAMPLE_PHP_APP, **DEMO_DOCS},
                          base=info.get("default_branch") or "main"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
