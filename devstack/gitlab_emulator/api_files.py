"""Repository files and multi-file commits, written as real commits with a racing-safe ref update."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from .api_projects import first_branch_created
from .app import App
from .branch_rules import push_denied
from .errors import ApiError, bad_request, forbidden, not_found
from .git_store import FileAction, RefUpdateRace
from .models import DEVELOPER, Project
from .routing import ROUTER, Request, Response

EXISTS = "A file with this name already exists"
MISSING = "A file with this name doesn't exist"


def _required(req: Request, *fields: str) -> None:
    for field in fields:
        if not req.has(field):
            raise ApiError(400, {"error": f"{field} is missing"})


def _readable(app: App, req: Request, id: str) -> Project:
    with app.state.lock:
        project = app.find_project(req, id)
        if not app.state.can_read_code(req.user, project):
            raise forbidden()
        return project


def _content(raw: Any, encoding: str | None) -> bytes:
    if encoding == "base64":
        try:
            return base64.b64decode(str(raw), validate=True)
        except ValueError:
            raise bad_request("content is not valid base64") from None
    return str(raw).encode()


def _file_meta(app: App, project: Project, ref: str, path: str) -> tuple[dict[str, Any], bytes]:
    commit_id = app.repos.resolve(project.id, ref)
    entry = app.repos.entry(project.id, commit_id, path) if commit_id else None
    if commit_id is None or entry is None or entry[1] != "blob":
        raise not_found("File")
    mode, _, blob_id = entry
    content = app.repos.blob(project.id, blob_id)
    last = app.repos.commits(project.id, commit_id, path=path, limit=1)
    meta = {
        "file_name": path.rsplit("/", 1)[-1],
        "file_path": path,
        "size": len(content),
        "encoding": "base64",
        "content_sha256": hashlib.sha256(content).hexdigest(),
        "ref": ref,
        "blob_id": blob_id,
        "commit_id": commit_id,
        "last_commit_id": last[0]["id"] if last else commit_id,
        "execute_filemode": mode == "100755",
    }
    return meta, content


def _headers(meta: dict[str, Any]) -> dict[str, str]:
    names = ("file_name", "file_path", "size", "encoding", "content_sha256", "ref", "blob_id", "commit_id", "last_commit_id", "execute_filemode")
    return {"X-Gitlab-" + n.replace("_", "-").title(): str(meta[n]).lower() if isinstance(meta[n], bool) else str(meta[n]) for n in names}


@ROUTER.route("GET", "/projects/:id/repository/files/:file_path", locked=False)
def get_file(app: App, req: Request, id: str, file_path: str) -> Response:
    project = _readable(app, req, id)
    _required(req, "ref")
    meta, content = _file_meta(app, project, str(req.param("ref")), file_path)
    meta["content"] = base64.b64encode(content).decode()
    return Response(200, meta, _headers(meta))


@ROUTER.route("GET", "/projects/:id/repository/files/:file_path/raw", locked=False)
def get_raw(app: App, req: Request, id: str, file_path: str) -> Response:
    project = _readable(app, req, id)
    ref = str(req.param("ref") or app.repos.head_branch(project.id))
    meta, content = _file_meta(app, project, ref, file_path)
    return Response(200, None, {**_headers(meta), "Content-Type": "text/plain; charset=utf-8"}, raw=content)


ActionMaker = Callable[[int, "str | None"], list[FileAction]]


def commit(app: App, req: Request, id: str, make_actions: ActionMaker) -> tuple[Project, str, str]:
    """Check access, then write the commit that `make_actions(project_id, parent)` describes; returns (project, branch, sha)."""
    _required(req, "branch", "commit_message")
    branch = str(req.param("branch"))
    with app.state.lock:
        project = app.find_project(req, id)
        app.require(req, project, DEVELOPER, code=True)
        reason = push_denied(app, project, branch, req.user)
        if reason is not None:
            raise forbidden(reason)
        user = req.user
        assert user is not None
    branches = app.repos.branches(project.id)
    parent = branches.get(branch)
    if parent is None and req.param("start_branch"):
        parent = branches.get(str(req.param("start_branch")))
        if parent is None:
            raise bad_request(f"Invalid reference name: {req.param('start_branch')}")
    elif parent is None and branches:
        raise bad_request("You can only create or edit files when you are on a branch")
    actions = make_actions(project.id, parent)
    try:
        sha = app.repos.commit_actions(
            project.id,
            branch,
            parent,
            actions,
            str(req.param("commit_message")),
            str(req.param("author_name") or user.name),
            str(req.param("author_email") or user.email),
        )
    except RefUpdateRace as e:
        raise bad_request(str(e)) from None
    with app.state.lock:
        if not branches:
            first_branch_created(app, project, branch)
        app.touch(project)
    return project, branch, sha


def _exists(app: App, project_id: int, parent: str | None, path: str) -> bool:
    return parent is not None and app.repos.entry(project_id, parent, path) is not None


def _file_write(app: App, req: Request, id: str, file_path: str, action: str) -> Response:
    if action != "delete":
        _required(req, "content")
    content = _content(req.param("content", ""), req.param("encoding"))

    def actions(project_id: int, parent: str | None) -> list[FileAction]:
        exists = _exists(app, project_id, parent, file_path)
        if action == "create" and exists:
            raise bad_request(EXISTS)
        if action != "create" and not exists:
            raise bad_request(MISSING)
        last = req.param("last_commit_id")
        if action == "update" and last and parent:
            newest = app.repos.commits(project_id, parent, path=file_path, limit=1)
            if newest and newest[0]["id"] != last:
                raise bad_request("You are attempting to update a file that has changed since you started editing it.")
        return [FileAction(action, file_path, content, req.flag("execute_filemode"))]

    _, branch, _ = commit(app, req, id, actions)
    if action == "delete":
        return Response(204)
    return Response(201 if action == "create" else 200, {"file_path": file_path, "branch": branch})


@ROUTER.route("POST", "/projects/:id/repository/files/:file_path", locked=False)
def create_file(app: App, req: Request, id: str, file_path: str) -> Response:
    return _file_write(app, req, id, file_path, "create")


@ROUTER.route("PUT", "/projects/:id/repository/files/:file_path", locked=False)
def update_file(app: App, req: Request, id: str, file_path: str) -> Response:
    return _file_write(app, req, id, file_path, "update")


@ROUTER.route("DELETE", "/projects/:id/repository/files/:file_path", locked=False)
def delete_file(app: App, req: Request, id: str, file_path: str) -> Response:
    return _file_write(app, req, id, file_path, "delete")


@ROUTER.route("POST", "/projects/:id/repository/commits", locked=False)
def create_commit(app: App, req: Request, id: str) -> Response:
    _required(req, "actions")
    specs = req.param("actions")
    if not isinstance(specs, list) or not specs:
        raise ApiError(400, {"error": "actions is empty"})

    def actions(pid: int, parent: str | None) -> list[FileAction]:
        result = []
        for spec in specs:
            kind, path = spec.get("action"), spec.get("file_path")
            if kind not in ("create", "update", "delete") or not path:
                raise ApiError(400, {"error": "actions[action] does not have a valid value"})
            exists = _exists(app, pid, parent, path)
            if kind == "create" and exists:
                raise bad_request(EXISTS)
            if kind != "create" and not exists:
                raise bad_request(MISSING)
            data = _content(spec.get("content", ""), spec.get("encoding"))
            result.append(FileAction(kind, path, data, bool(spec.get("execute_filemode"))))
        return result

    project, _, sha = commit(app, req, id, actions)
    return Response(201, app.repos.commit(project.id, sha))
