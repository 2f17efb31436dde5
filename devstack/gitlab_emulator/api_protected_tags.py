"""Protected tags (GitLab's Protected tags API): list, get (name or wildcard), protect, unprotect.

Access levels 0 (no one), 30 (developers and maintainers), 40 (maintainers); `allowed_to_create`
entries with `user_id`, `group_id` or `deploy_key_id` as GitLab Premium takes them. There is no
PATCH: a rule is changed by unprotecting and protecting again, as on GitLab.
"""

from __future__ import annotations

from typing import Any

from .api_protected import matches
from .app import App
from .errors import ApiError, conflict, forbidden, not_found
from .models import DEVELOPER, MAINTAINER, NO_ACCESS, AccessLevel, Project, ProtectedTag, User
from .routing import ROUTER, Paged, Request, Response

TAG_LEVELS = (NO_ACCESS, DEVELOPER, MAINTAINER)


def tag_json(rule: ProtectedTag) -> dict[str, Any]:
    return {"name": rule.name, "create_access_levels": [a.to_json() for a in rule.create_access_levels]}


def tag_rules_for(project: Project, tag: str) -> list[ProtectedTag]:
    return [r for r in project.protected_tags if matches(r.name, tag)]


def tag_is_protected(project: Project, tag: str) -> bool:
    return bool(tag_rules_for(project, tag))


def tag_push_denied(app: App, project: Project, tag: str, user: User | None, deploy_key_id: int | None,
                    exists: bool, delete: bool) -> str | None:
    """Why a push that creates, moves or deletes `tag` is refused (None: allowed)."""
    rules = tag_rules_for(project, tag)
    if not rules:
        return None
    if delete:
        return "You are not allowed to delete protected tags from this project. Only a project maintainer or owner can delete a protected tag."
    if exists:
        return "You are not allowed to change existing tags on this project."
    level = app.state.project_level(user, project) if user is not None else 0
    for rule in rules:
        for e in rule.create_access_levels:
            if e.deploy_key_id is not None and e.deploy_key_id == deploy_key_id:
                return None
            if e.user_id is not None and user is not None and user.id == e.user_id:
                return None
            if e.deploy_key_id is None and e.user_id is None and e.group_id is None and e.access_level != NO_ACCESS \
                    and level >= e.access_level:
                return None
    return "You are not allowed to create this tag as it is protected."


def _find(project: Project, name: str) -> ProtectedTag:
    found = next((r for r in project.protected_tags if r.name == name), None)
    if found is None:
        raise not_found()
    return found


def _maintained(app: App, req: Request, id: str, write: bool = True) -> Project:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=write)
    return project


@ROUTER.route("GET", "/projects/:id/protected_tags")
def list_tags(app: App, req: Request, id: str) -> Paged:
    project = _maintained(app, req, id, write=False)
    return Paged([tag_json(r) for r in project.protected_tags])


@ROUTER.route("GET", "/projects/:id/protected_tags/:name")
def get_tag(app: App, req: Request, id: str, name: str) -> dict[str, Any]:
    project = _maintained(app, req, id, write=False)
    return tag_json(_find(project, name))


@ROUTER.route("POST", "/projects/:id/protected_tags")
def protect_tag(app: App, req: Request, id: str) -> Response:
    project = _maintained(app, req, id)
    name = str(req.param("name") or "")
    if not req.has("name"):
        raise ApiError(400, {"error": "name is missing"})
    if any(r.name == name for r in project.protected_tags):
        raise conflict(f"Protected tag '{name}' already exists")
    level = req.int_param("create_access_level", MAINTAINER)
    if level not in TAG_LEVELS:
        raise ApiError(400, {"error": "create_access_level does not have a valid value"})
    entries = [AccessLevel(app.state.next_id("access_level"), level)] if req.has("create_access_level") else []
    for spec in req.param("allowed_to_create") or []:
        lvl = spec.get("access_level")
        if lvl is not None and int(lvl) not in TAG_LEVELS:
            raise ApiError(400, {"error": "allowed_to_create[access_level] does not have a valid value"})
        entries.append(AccessLevel(app.state.next_id("access_level"), int(lvl) if lvl is not None else MAINTAINER,
                                   user_id=spec.get("user_id"), group_id=spec.get("group_id"),
                                   deploy_key_id=spec.get("deploy_key_id")))
    if not entries:
        entries = [AccessLevel(app.state.next_id("access_level"), MAINTAINER)]
    rule = ProtectedTag(app.state.next_id("protected_tag"), name, entries)
    project.protected_tags.append(rule)
    app.save()
    return Response(201, tag_json(rule))


@ROUTER.route("DELETE", "/projects/:id/protected_tags/:name")
def unprotect_tag(app: App, req: Request, id: str, name: str) -> Response:
    project = _maintained(app, req, id)
    rule = _find(project, name)
    if app.state.project_level(req.user, project) < MAINTAINER:
        raise forbidden()
    project.protected_tags.remove(rule)
    app.save()
    return Response(204)
