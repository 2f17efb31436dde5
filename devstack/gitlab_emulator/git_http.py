"""Git smart HTTP (clone, fetch, push) through `git http-backend`, with GitLab's token auth and access rules."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .models import DEVELOPER, Project, Token, User

if TYPE_CHECKING:
    from .emulator import GitLabEmulator

GIT_PATH = re.compile(r"^/(?P<repo>.+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|git-receive-pack)$")
NOT_FOUND = b"The project you were looking for could not be found or you don't have permission to view it.\n"
WRITE_SCOPES = {"api", "write_repository"}
READ_SCOPES = WRITE_SCOPES | {"read_repository", "read_api"}
Answer = tuple[int, dict[str, str], bytes]


def _text(status: int, message: bytes, extra: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "text/plain", **(extra or {})}, message


def _challenge() -> Answer:
    return _text(401, b"HTTP Basic: Access denied\n", {"WWW-Authenticate": 'Basic realm="GitLab"'})


def _credentials(emu: GitLabEmulator, headers: Mapping[str, str]) -> tuple[User | None, Token | None, bool]:
    """(user, token, sent): any username with a token as the password, as GitLab accepts."""
    auth = headers.get("Authorization", "")
    if not auth.lower().startswith("basic "):
        return None, None, False
    try:
        _, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    except ValueError:
        return None, None, True
    token = emu.app.state.tokens.get(password)
    user = emu.app.state.users.get(token.user_id) if token is not None else None
    if token is None or not token.active or user is None or user.state != "active":
        return None, None, True
    return user, token, True


def _authorize(emu: GitLabEmulator, project: Project | None, user: User | None, token: Token | None, write: bool) -> Answer | None:
    st = emu.app.state
    if project is None or not st.can_see_project(user, project) or not st.can_read_code(user, project):
        return _challenge() if user is None else _text(404, NOT_FOUND)
    if token is not None and not set(token.scopes) & (WRITE_SCOPES if write else READ_SCOPES):
        return _text(403, b"HTTP Basic: Access denied. The provided password or token is incorrect or your account has 2FA enabled.\n")
    if write:
        if user is None:
            return _challenge()
        if st.project_level(user, project) < DEVELOPER:
            return _text(403, b"You are not allowed to push code to this project.\n")
        if project.archived:
            return _text(403, b"You are not allowed to push code to an archived project.\n")
    return None


def handle(emu: GitLabEmulator, method: str, raw_path: str, query: str, headers: Mapping[str, str], body: bytes) -> Answer:
    match = GIT_PATH.match(raw_path)
    if match is None:
        return _text(404, b"Not Found\n")
    rest = match["rest"]
    service = rest if rest != "info/refs" else dict(p.partition("=")[::2] for p in query.split("&")).get("service", "")
    if service not in ("git-upload-pack", "git-receive-pack"):
        return _text(403, b"Dumb HTTP is not supported\n")
    user, token, sent = _credentials(emu, headers)
    if sent and user is None:
        return _challenge()
    with emu.app.state.lock:
        project = emu.app.state.project_by_path(match["repo"])
        denied = _authorize(emu, project, user, token, service == "git-receive-pack")
        if denied is not None:
            return denied
        assert project is not None
        repo = emu.app.repos.path(project.id)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(repo.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{repo.name}/{rest}",
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "CONTENT_TYPE": headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo.parent),
        "GL_ID": f"user-{user.id}" if user else "",
        "GL_PROJECT_ID": str(project.id),
        "GL_PROTOCOL": "http",
        "GL_EMULATOR_URL": emu.url,
        "GL_EMULATOR_SECRET": emu.app.internal_secret,
    }
    if user is not None:
        env["REMOTE_USER"] = user.username
    if headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = headers["Content-Encoding"]
    if headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = headers["Git-Protocol"]
    proc = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env)
    head, _, payload = proc.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = proc.stdout.partition(b"\n\n")
    status = 200
    out_headers: dict[str, str] = {}
    for line in head.decode(errors="replace").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            out_headers[name.strip()] = value.strip()
    if proc.returncode != 0 and not proc.stdout:
        return _text(500, proc.stderr or b"git http-backend failed\n")
    return status, out_headers, payload
