"""Protected branches: list, get, protect (409 when already), PATCH the allowed_to_* lists, unprotect."""

from __future__ import annotations

import re
from typing import Any

from .api_projects import protect
from .app import App
from .errors import ApiError, conflict, forbidden, not_found, unprocessable
from .models import MAINTAINER, AccessLevel, Project, ProtectedBranch
from .routing import ROUTER, Paged, Request, Response

PROTECTION_LEVELS = (0, 30, 40, 60)
_KINDS = (("push", "push_access_levels"), ("merge", "merge_access_levels"), ("unprotect", "unprotect_access_levels"))


def branch_json(branch: ProtectedBranch) -> dict[str, Any]:
    return {
        "id": branch.id,
        "name": branch.name,
        "push_access_levels": [a.to_json() for a in branch.push_access_levels],
        "merge_access_levels": [a.to_json() for a in branch.merge_access_levels],
        "unprotect_access_levels": [a.to_json() for a in branch.unprotect_access_levels],
        "allow_force_push": branch.allow_force_push,
        "code_owner_approval_required": branch.code_owner_approval_required,
        "inherited": False,
    }


def matches(pattern: str, branch: str) -> bool:
    if "*" not in pattern:
        return pattern == branch
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), branch) is not None


def rules_for(project: Project, branch: str) -> list[ProtectedBranch]:
    return [b for b in project.protected_branches if matches(b.name, branch)]


def _find(project: Project, name: str) -> ProtectedBranch:
    found = next((b for b in project.protected_branches if b.name == name), None)
    if found is None:
        raise not_found()
    return found


def _readable(app: App, req: Request, id: str) -> Project:
    project = app.find_project(req, id)
    if not app.state.can_read_code(req.user, project):
        raise forbidden()
    return project


def _level(req: Request, field: str) -> int | None:
    if not req.has(field):
        return None
    level = req.int_param(field)
    if level not in PROTECTION_LEVELS:
        raise ApiError(400, {"error": f"{field} does not have a valid value"})
    return level


def _entry(app: App, spec: dict[str, Any]) -> AccessLevel:
    level = spec.get("access_level")
    if level is not None and int(level) not in PROTECTION_LEVELS:
        raise unprocessable([f"Access level {level} is not valid"])
    return AccessLevel(
        app.state.next_id("access_level"),
        int(level) if level is not None else MAINTAINER,
        user_id=spec.get("user_id"),
        group_id=spec.get("group_id"),
        deploy_key_id=spec.get("deploy_key_id"),
    )


@ROUTER.route("GET", "/projects/:id/protected_branches")
def list_protected(app: App, req: Request, id: str) -> Paged:
    project = _readable(app, req, id)
    items = project.protected_branches
    if req.query.get("search"):
        items = [b for b in items if req.query["search"] in b.name]
    return Paged([branch_json(b) for b in items])


@ROUTER.route("GET", "/projects/:id/protected_branches/:name")
def get_protected(app: App, req: Request, id: str, name: str) -> dict[str, Any]:
    project = _readable(app, req, id)
    return branch_json(_find(project, name))


@ROUTER.route("POST", "/projects/:id/protected_branches")
def protect_branch(app: App, req: Request, id: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    if not req.has("name"):
        raise ApiError(400, {"error": "name is missing"})
    name = str(req.param("name"))
    if not name.strip():
        raise unprocessable(["Name can't be blank"])
    if any(b.name == name for b in project.protected_branches):
        raise conflict(f"Protected branch '{name}' already exists")
    levels = {kind: _level(req, f"{kind}_access_level") for kind, _ in _KINDS}
    branch = protect(
        app,
        project,
        name,
        push=levels["push"] if levels["push"] is not None else MAINTAINER,
        merge=levels["merge"] if levels["merge"] is not None else MAINTAINER,
        unprotect=levels["unprotect"] if levels["unprotect"] is not None else MAINTAINER,
        allow_force_push=req.flag("allow_force_push"),
    )
    for kind, attr in _KINDS:
        extra = req.param(f"allowed_to_{kind}") or []
        if extra:
            entries = [_entry(app, spec) for spec in extra]
            if levels[kind] is None:
                setattr(branch, attr, entries)
            else:
                getattr(branch, attr).extend(entries)
    app.save()
    return Response(201, branch_json(branch))


@ROUTER.route("PATCH", "/projects/:id/protected_branches/:name")
def update_protected(app: App, req: Request, id: str, name: str) -> dict[str, Any]:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    branch = _find(project, name)
    if req.has("allow_force_push"):
        branch.allow_force_push = req.flag("allow_force_push")
    if req.has("code_owner_approval_required"):
        branch.code_owner_approval_required = req.flag("code_owner_approval_required")
    for kind, attr in _KINDS:
        for spec in req.param(f"allowed_to_{kind}") or []:
            current: list[AccessLevel] = getattr(branch, attr)
            if spec.get("_destroy") or spec.get("id") is not None:
                entry = next((a for a in current if a.id == int(spec.get("id", -1))), None)
                if entry is None:
                    raise unprocessable([f"{kind.capitalize()} access level {spec.get('id')} not found"])
                if spec.get("_destroy"):
                    current.remove(entry)
                elif "access_level" in spec:
                    entry.access_level = _entry(app, spec).access_level
            else:
                current.append(_entry(app, spec))
    app.save()
    return branch_json(branch)


@ROUTER.route("DELETE", "/projects/:id/protected_branches/:name")
def unprotect_branch(app: App, req: Request, id: str, name: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    branch = _find(project, name)
    allowed = max((a.access_level for a in branch.unprotect_access_levels), default=MAINTAINER)
    if app.state.project_level(req.user, project) < allowed:
        raise forbidden()
    project.protected_branches.remove(branch)
    app.save()
    return Response(204)
