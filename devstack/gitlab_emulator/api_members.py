"""Members of projects and groups: direct, `/all` with inherited, add by user_id or username, edit, remove."""

from __future__ import annotations

from typing import Any

from .app import App
from .errors import ApiError, bad_request, conflict, forbidden, not_found
from .models import MAINTAINER, OWNER, Member, Namespace, Project
from .routing import ROUTER, Paged, Request, Response

VALID_LEVELS = (5, 10, 20, 30, 40, 50)
ROLE = {5: "Minimal Access", 10: "Guest", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}


def _source(app: App, req: Request, kind: str, ident: str) -> tuple[Project | Namespace, dict[int, Member], list[Namespace]]:
    """The member source, its direct members, and the namespaces it inherits from."""
    if kind == "projects":
        project = app.find_project(req, ident)
        return project, project.members, app.state.ancestors(app.state.namespaces[project.namespace_id])
    group = app.find_group(req, ident)
    return group, group.members, app.state.ancestors(group)[1:]


def _level(app: App, req: Request, source: Project | Namespace) -> int:
    if isinstance(source, Project):
        return app.state.project_level(req.user, source)
    return app.state.namespace_level(req.user, source)


def _require_manage(app: App, req: Request, source: Project | Namespace, level: int | None) -> None:
    mine = _level(app, req, source)
    if mine < MAINTAINER or (level is not None and level >= OWNER and mine < OWNER):
        raise forbidden()
    if isinstance(source, Project) and source.archived and app.settings.archived_blocks_settings:
        raise forbidden()


def _access_level(req: Request, required: bool) -> int | None:
    if not req.has("access_level"):
        if required:
            raise ApiError(400, {"error": "access_level is missing"})
        return None
    level = req.int_param("access_level")
    if level not in VALID_LEVELS:
        raise ApiError(400, {"error": "access_level does not have a valid value"})
    return level


def _check_inherited(app: App, inherited: list[Namespace], user_id: int, level: int) -> None:
    found = [(ns.members[user_id].access_level, ns) for ns in inherited if user_id in ns.members]
    if not found:
        return
    highest, ns = max(found, key=lambda pair: pair[0])
    if highest > level:
        message = f"should be greater than or equal to {ROLE[highest]} inherited membership from group {ns.name}"
        raise bad_request({"access_level": [message]})


def _filtered(app: App, req: Request, members: dict[int, Member]) -> Paged:
    items = sorted(members.values(), key=lambda m: m.user_id)
    if req.query.get("query"):
        needle = req.query["query"].lower()
        items = [m for m in items if needle in app.state.users[m.user_id].username.lower() or needle in app.state.users[m.user_id].name.lower()]
    if req.query.get("user_ids"):
        wanted = {int(x) for x in req.query["user_ids"].split(",") if x}
        items = [m for m in items if m.user_id in wanted]
    return Paged([app.member_json(m) for m in items])


def _register(kind: str) -> None:
    base = f"/{kind}/:id/members"

    @ROUTER.route("GET", f"{base}/all")
    def list_all(app: App, req: Request, id: str) -> Paged:
        _, direct, inherited = _source(app, req, kind, id)
        return _filtered(app, req, app.state.inherited_members(inherited, direct))

    @ROUTER.route("GET", f"{base}/all/:user_id")
    def get_all(app: App, req: Request, id: str, user_id: str) -> dict[str, Any]:
        _, direct, inherited = _source(app, req, kind, id)
        member = app.state.inherited_members(inherited, direct).get(int(user_id) if user_id.isdigit() else -1)
        if member is None:
            raise not_found()
        return app.member_json(member)

    @ROUTER.route("GET", base)
    def list_direct(app: App, req: Request, id: str) -> Paged:
        _, direct, _ = _source(app, req, kind, id)
        return _filtered(app, req, direct)

    @ROUTER.route("GET", f"{base}/:user_id")
    def get_direct(app: App, req: Request, id: str, user_id: str) -> dict[str, Any]:
        _, direct, _ = _source(app, req, kind, id)
        member = direct.get(int(user_id) if user_id.isdigit() else -1)
        if member is None:
            raise not_found()
        return app.member_json(member)

    @ROUTER.route("POST", base)
    def add(app: App, req: Request, id: str) -> Response:
        source, direct, inherited = _source(app, req, kind, id)
        user_ref = req.param("user_id") if req.param("user_id") not in (None, "") else req.param("username")
        if user_ref in (None, ""):
            raise ApiError(400, {"error": "user_id, username are missing, exactly one parameter must be provided"})
        level = _access_level(req, required=True)
        _require_manage(app, req, source, level)
        user = app.find_user(str(user_ref))
        if user.id in direct:
            raise conflict("Member already exists")
        assert level is not None
        _check_inherited(app, inherited, user.id, level)
        member = Member(user.id, level, expires_at=req.param("expires_at"), created_by=req.user.id if req.user else None)
        direct[user.id] = member
        app.save()
        return Response(201, app.member_json(member))

    @ROUTER.route("PUT", f"{base}/:user_id")
    def edit(app: App, req: Request, id: str, user_id: str) -> dict[str, Any]:
        source, direct, inherited = _source(app, req, kind, id)
        level = _access_level(req, required=True)
        _require_manage(app, req, source, level)
        member = direct.get(int(user_id) if user_id.isdigit() else -1)
        if member is None:
            raise not_found()
        assert level is not None
        _check_inherited(app, inherited, member.user_id, level)
        member.access_level = level
        if req.has("expires_at"):
            member.expires_at = req.param("expires_at") or None
        app.save()
        return app.member_json(member)

    @ROUTER.route("DELETE", f"{base}/:user_id")
    def remove(app: App, req: Request, id: str, user_id: str) -> Response:
        source, direct, _ = _source(app, req, kind, id)
        member = direct.get(int(user_id) if user_id.isdigit() else -1)
        if member is None:
            raise not_found()
        _require_manage(app, req, source, member.access_level)
        del direct[member.user_id]
        app.save()
        return Response(204)


_register("projects")
_register("groups")
