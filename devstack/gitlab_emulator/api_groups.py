"""Groups: create (top level or with `parent_id`), get by id or encoded full path, edit, subgroups, projects."""

from __future__ import annotations

import re
from typing import Any

from .app import App
from .errors import bad_request, forbidden, missing, not_found
from .models import MAINTAINER, OWNER, Member, Namespace, Project
from .routing import ROUTER, Paged, Request, Response

PATH_RE = re.compile(r"^[a-zA-Z0-9_.][a-zA-Z0-9_.-]*$")
PATH_RULE = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.', '.git' or '.atom'."
VISIBILITIES = ("private", "internal", "public")


def valid_path(path: str) -> bool:
    return bool(PATH_RE.match(path)) and not path.endswith((".", ".git", ".atom"))


def _visible_projects(app: App, req: Request, groups: list[Namespace]) -> list[Project]:
    ids = {g.id for g in groups}
    projects = [p for p in app.state.projects.values() if p.namespace_id in ids and app.state.can_see_project(req.user, p)]
    return sorted(projects, key=lambda p: p.id)


def _descendants(app: App, ns: Namespace) -> list[Namespace]:
    return [n for n in app.state.namespaces.values() if n is not ns and ns in app.state.ancestors(n)]


@ROUTER.route("POST", "/groups")
def create_group(app: App, req: Request) -> Response:
    st = app.state
    for field in ("name", "path"):
        if not req.param(field):
            raise missing(field)
    name, path = str(req.param("name")), str(req.param("path"))
    parent_id = req.int_param("parent_id")
    parent = None
    if parent_id is not None:
        parent = st.namespaces.get(parent_id)
        if parent is None or parent.kind != "group" or not st.can_see_namespace(req.user, parent):
            raise not_found("Group")
        if st.namespace_level(req.user, parent) < MAINTAINER:
            raise forbidden()
    if not valid_path(path):
        raise bad_request(f'Failed to save group {{:path=>["{PATH_RULE}"]}}')
    siblings = [n for n in st.namespaces.values() if n.parent_id == parent_id]
    if any(n.path.lower() == path.lower() for n in siblings):
        raise bad_request('Failed to save group {:path=>["has already been taken"]}')
    if parent is not None and any(
        p.namespace_id == parent.id and p.path.lower() == path.lower() for p in st.projects.values()
    ):
        raise bad_request('Failed to save group {:path=>["has already been taken"]}')
    visibility = str(req.param("visibility", parent.visibility if parent else "private"))
    if visibility not in VISIBILITIES:
        raise bad_request("visibility does not have a valid value")
    ns = Namespace(
        id=st.next_id("namespace"),
        name=name,
        path=path,
        parent_id=parent_id,
        visibility=visibility,
        description=str(req.param("description", "") or ""),
    )
    assert req.user is not None
    ns.members[req.user.id] = Member(req.user.id, OWNER, created_by=req.user.id)
    st.namespaces[ns.id] = ns
    app.save()
    return Response(201, app.group_json(ns))


@ROUTER.route("GET", "/groups")
def list_groups(app: App, req: Request) -> Paged:
    st = app.state
    groups = [n for n in st.namespaces.values() if n.kind == "group" and st.can_see_namespace(req.user, n)]
    if req.query.get("search"):
        needle = req.query["search"].lower()
        groups = [g for g in groups if needle in g.path.lower() or needle in g.name.lower()]
    if req.flag("top_level_only"):
        groups = [g for g in groups if g.parent_id is None]
    return Paged([app.group_json(g) for g in sorted(groups, key=lambda g: g.id)])


@ROUTER.route("GET", "/groups/:id")
def get_group(app: App, req: Request, id: str) -> dict[str, Any]:
    ns = app.find_group(req, id)
    data = app.group_json(ns)
    if req.flag("with_projects", True):
        data["projects"] = [app.project_json(p) for p in _visible_projects(app, req, [ns])]
        data["shared_projects"] = []
    return data


@ROUTER.route("PUT", "/groups/:id")
def edit_group(app: App, req: Request, id: str) -> dict[str, Any]:
    ns = app.find_group(req, id)
    if app.state.namespace_level(req.user, ns) < OWNER:
        raise forbidden()
    if req.has("path"):
        path = str(req.param("path"))
        if not valid_path(path):
            raise bad_request({"path": [PATH_RULE]})
        taken = any(n.parent_id == ns.parent_id and n is not ns and n.path.lower() == path.lower() for n in app.state.namespaces.values())
        if taken:
            raise bad_request({"path": ["has already been taken"]})
        ns.path = path
    for field in ("name", "description", "visibility"):
        if req.has(field):
            setattr(ns, field, str(req.param(field)))
    app.save()
    return app.group_json(ns)


@ROUTER.route("DELETE", "/groups/:id")
def delete_group(app: App, req: Request, id: str) -> Response:
    st = app.state
    ns = app.find_group(req, id)
    if st.namespace_level(req.user, ns) < OWNER:
        raise forbidden()
    doomed = [ns] + _descendants(app, ns)
    for project in [p for p in st.projects.values() if p.namespace_id in {n.id for n in doomed}]:
        del st.projects[project.id]
        app.repos.remove(project.id)
    for n in doomed:
        del st.namespaces[n.id]
    app.save()
    app.keys_changed()
    return Response(202, {"message": "202 Accepted"})


@ROUTER.route("GET", "/groups/:id/subgroups")
def subgroups(app: App, req: Request, id: str) -> Paged:
    ns = app.find_group(req, id)
    children = [n for n in app.state.namespaces.values() if n.parent_id == ns.id and app.state.can_see_namespace(req.user, n)]
    return Paged([app.group_json(n) for n in sorted(children, key=lambda n: n.id)])


@ROUTER.route("GET", "/groups/:id/descendant_groups")
def descendant_groups(app: App, req: Request, id: str) -> Paged:
    ns = app.find_group(req, id)
    found = [n for n in _descendants(app, ns) if app.state.can_see_namespace(req.user, n)]
    return Paged([app.group_json(n) for n in sorted(found, key=lambda n: n.id)])


@ROUTER.route("GET", "/groups/:id/projects")
def group_projects(app: App, req: Request, id: str) -> Paged:
    ns = app.find_group(req, id)
    groups = [ns] + (_descendants(app, ns) if req.flag("include_subgroups") else [])
    items = _visible_projects(app, req, groups)
    if req.query.get("search"):
        needle = req.query["search"].lower()
        items = [p for p in items if needle in p.path.lower() or needle in p.name.lower()]
    return Paged(items, app.project_json)


@ROUTER.route("GET", "/namespaces")
def list_namespaces(app: App, req: Request) -> Paged:
    st = app.state
    found = [n for n in st.namespaces.values() if (n.kind == "user" and n.owner_id == (req.user.id if req.user else None))
             or (n.kind == "group" and st.namespace_level(req.user, n) >= 10)]
    if req.query.get("search"):
        needle = req.query["search"].lower()
        found = [n for n in found if needle in n.path.lower() or needle in n.name.lower()]
    return Paged(sorted(found, key=lambda n: n.id), app.namespace_json)


@ROUTER.route("GET", "/namespaces/:id")
def get_namespace(app: App, req: Request, id: str) -> dict[str, Any]:
    st = app.state
    ns = st.namespaces.get(int(id)) if id.isdigit() else st.namespace_by_path(id)
    if ns is None or not st.can_see_namespace(req.user, ns) or (ns.kind == "user" and st.namespace_level(req.user, ns) < OWNER):
        raise not_found("Namespace")
    return app.namespace_json(ns)
