"""The internal API the git hooks and the SSH shell call, like GitLab Shell's `/internal/allowed`."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from .api_projects import first_branch_created
from .api_protected_tags import tag_push_denied
from .app import App
from .branch_rules import push_denied
from .git_store import ZERO
from .models import DEVELOPER, Project, User
from .pipelines import simulate

SECRET_HEADER = "Gitlab-Shared-Secret"


def _answer(status: int, data: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {}, json.dumps(data).encode()


def _actor(app: App, gl_id: str) -> tuple[User | None, int | None]:
    kind, _, num = gl_id.partition("-")
    if kind == "user" and num.isdigit():
        user = app.state.users.get(int(num))
        return (user, None) if user is not None and user.state == "active" else (None, None)
    if kind == "key" and num.isdigit() and int(num) in app.state.deploy_keys:
        return None, int(num)
    return None, None


def _project(app: App, data: dict[str, Any]) -> Project | None:
    if data.get("gl_project_id"):
        return app.state.projects.get(int(data["gl_project_id"]))
    path = str(data.get("project", "")).strip("/").removesuffix(".git")
    return app.state.project_by_path(path)


def check_access(app: App, data: dict[str, Any]) -> dict[str, Any]:
    """Whether `gl_id` may run `action` on the project, and for pushes whether each change is allowed."""
    user, key_id = _actor(app, str(data.get("gl_id", "")))
    project = _project(app, data)
    not_found = {"status": False, "message": "The project you were looking for could not be found or you don't have permission to view it."}
    if project is None or (user is None and key_id is None):
        return not_found
    write = data.get("action") == "git-receive-pack"
    if key_id is not None:
        if key_id not in project.deploy_keys:
            return not_found
        if write and not project.deploy_keys[key_id]:
            return {"status": False, "message": "This deploy key does not have write access to this project."}
    else:
        if not app.state.can_read_code(user, project):
            return not_found
        if write and app.state.project_level(user, project) < DEVELOPER:
            return {"status": False, "message": "You are not allowed to push code to this project."}
    if write and project.archived:
        return {"status": False, "message": "You are not allowed to push code to an archived project."}
    for old, new, ref, forced in data.get("changes", []):
        if ref.startswith("refs/tags/"):
            reason = tag_push_denied(app, project, ref[len("refs/tags/") :], user, key_id, exists=old != ZERO, delete=new == ZERO)
            if reason is not None:
                return {"status": False, "message": reason}
            continue
        if not ref.startswith("refs/heads/"):
            continue
        reason = push_denied(app, project, ref[len("refs/heads/") :], user, key_id, force=bool(forced), delete=new == ZERO)
        if reason is not None:
            return {"status": False, "message": reason}
    return {
        "status": True,
        "gl_id": data.get("gl_id"),
        "gl_project_id": project.id,
        "repository_path": str(app.repos.path(project.id)),
    }


def post_receive(app: App, data: dict[str, Any]) -> dict[str, Any]:
    project = app.state.projects.get(int(data.get("gl_project_id", 0)))
    if project is None:
        return {"status": False}
    created = [ref[len("refs/heads/") :] for old, new, ref, _ in data.get("changes", []) if old == ZERO and new != ZERO and ref.startswith("refs/heads/")]
    branches = app.repos.branches(project.id)
    if created and set(branches) <= set(created):
        head = app.repos.head_branch(project.id)
        first_branch_created(app, project, head if head in created else created[0])
    user, _ = _actor(app, str(data.get("gl_id", "")))
    for _old, new, ref, _ in data.get("changes", []):
        if new == ZERO or not ref.startswith(("refs/heads/", "refs/tags/")):
            continue
        tag = ref.startswith("refs/tags/")
        sha = app.repos.resolve(project.id, ref) or new
        simulate(app, project, ref.split("/", 2)[2], sha, tag, user)
    app.touch(project)
    app.save()
    return {"status": True}


def handle(app: App, raw_path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    secret = headers.get(SECRET_HEADER) or ""
    if not hmac.compare_digest(secret, app.internal_secret):
        return _answer(401, {"message": "401 Unauthorized"})
    data = json.loads(body or b"{}")
    with app.state.lock:
        if raw_path.endswith("/internal/allowed"):
            return _answer(200, check_access(app, data))
        if raw_path.endswith("/internal/post_receive"):
            return _answer(200, post_receive(app, data))
    return _answer(404, {"error": "404 Not Found"})
