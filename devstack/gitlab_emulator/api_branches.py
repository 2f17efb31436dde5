"""Branches, the repository tree and commits: enough to check what a repository holds."""

from __future__ import annotations

import re
from typing import Any

from .api_protected import rules_for
from .app import App
from .branch_rules import push_denied
from .errors import ApiError, bad_request, forbidden, not_found
from .models import DEVELOPER, MAINTAINER, Project
from .routing import ROUTER, Paged, Request, Response

_REF_RE = re.compile(r"^(?!/)(?!.*(?:\.\.|//|@\{|\\))[^\x00-\x20~^:?*\[\x7f]+(?<![/.])$")


def _readable(app: App, req: Request, id: str) -> Project:
    project = app.find_project(req, id)
    if not app.state.can_read_code(req.user, project):
        raise forbidden()
    return project


def branch_json(app: App, req: Request, project: Project, name: str, sha: str) -> dict[str, Any]:
    rules = rules_for(project, name)
    dev_push = any(a.access_level == DEVELOPER for r in rules for a in r.push_access_levels)
    dev_merge = any(a.access_level == DEVELOPER for r in rules for a in r.merge_access_levels)
    return {
        "name": name,
        "commit": app.repos.commit(project.id, sha),
        "merged": False,
        "protected": bool(rules),
        "developers_can_push": dev_push,
        "developers_can_merge": dev_merge,
        "can_push": push_denied(app, project, name, req.user) is None,
        "default": name == app.repos.head_branch(project.id),
        "web_url": f"{app.web_url}/{app.state.project_full_path(project)}/-/tree/{name}",
    }


@ROUTER.route("GET", "/projects/:id/repository/branches")
def list_branches(app: App, req: Request, id: str) -> Paged:
    project = _readable(app, req, id)
    branches = sorted(app.repos.branches(project.id).items())
    if req.query.get("search"):
        branches = [(n, s) for n, s in branches if req.query["search"] in n]
    return Paged(branches, lambda b: branch_json(app, req, project, *b))


@ROUTER.route("GET", "/projects/:id/repository/branches/:branch")
def get_branch(app: App, req: Request, id: str, branch: str) -> dict[str, Any]:
    project = _readable(app, req, id)
    sha = app.repos.branches(project.id).get(branch)
    if sha is None:
        raise not_found("Branch")
    return branch_json(app, req, project, branch, sha)


@ROUTER.route("POST", "/projects/:id/repository/branches")
def create_branch(app: App, req: Request, id: str) -> Response:
    project = app.find_project(req, id)
    for field in ("branch", "ref"):
        if not req.has(field):
            raise ApiError(400, {"error": f"{field} is missing"})
    app.require(req, project, DEVELOPER, code=True)
    name, ref = str(req.param("branch")), str(req.param("ref"))
    if not _REF_RE.match(name):
        raise bad_request("Branch name is invalid")
    if name in app.repos.branches(project.id):
        raise bad_request("Branch already exists")
    sha = app.repos.resolve(project.id, ref)
    if sha is None:
        raise bad_request("Invalid reference name: " + ref)
    app.repos.update_ref(project.id, name, sha, "0" * 40)
    return Response(201, branch_json(app, req, project, name, sha))


@ROUTER.route("DELETE", "/projects/:id/repository/branches/:branch")
def delete_branch(app: App, req: Request, id: str, branch: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, DEVELOPER, code=True)
    sha = app.repos.branches(project.id).get(branch)
    if sha is None:
        raise not_found("Branch")
    if branch == app.repos.head_branch(project.id):
        raise bad_request("The default branch of a project cannot be deleted.")
    if rules_for(project, branch) and app.state.project_level(req.user, project) < MAINTAINER:
        raise forbidden()
    app.repos.delete_ref(project.id, branch, sha)
    return Response(204)


@ROUTER.route("GET", "/projects/:id/repository/tree")
def tree(app: App, req: Request, id: str) -> Paged:
    project = _readable(app, req, id)
    ref = str(req.query.get("ref") or app.repos.head_branch(project.id))
    if app.repos.resolve(project.id, ref) is None:
        raise not_found("Tree")
    path = req.query.get("path", "").strip("/")
    if path and app.repos.entry(project.id, ref, path) is None:
        raise not_found("Tree")
    return Paged(app.repos.tree(project.id, ref, path, recursive=req.flag("recursive")))


@ROUTER.route("GET", "/projects/:id/repository/commits")
def list_commits(app: App, req: Request, id: str) -> Paged:
    project = _readable(app, req, id)
    ref = str(req.query.get("ref_name") or app.repos.head_branch(project.id))
    if app.repos.resolve(project.id, ref) is None:
        return Paged([])
    return Paged(app.repos.commits(project.id, ref, path=req.query.get("path") or None))


@ROUTER.route("GET", "/projects/:id/repository/commits/:sha")
def get_commit(app: App, req: Request, id: str, sha: str) -> dict[str, Any]:
    project = _readable(app, req, id)
    found = app.repos.commit(project.id, sha)
    if found is None:
        raise not_found("Commit")
    return found
