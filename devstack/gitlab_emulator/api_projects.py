"""Projects: create (with README and default-branch protection), get, list, edit, archive, delete."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .api_groups import VISIBILITIES, valid_path
from .app import App
from .errors import ApiError, bad_request, missing
from .git_store import FileAction
from .models import MAINTAINER, OWNER, AccessLevel, Project, ProtectedBranch
from .routing import ROUTER, Paged, Request, Response

PROJECT_PATH_RULE = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"
_RANK = {"private": 0, "internal": 10, "public": 20}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_.]+", "-", name.lower()).strip("-.") or "project"


def protect(app: App, project: Project, name: str, push: int = MAINTAINER, merge: int = MAINTAINER,
            unprotect: int = MAINTAINER, allow_force_push: bool = False) -> ProtectedBranch:
    st = app.state
    branch = ProtectedBranch(
        id=st.next_id("protected_branch"),
        name=name,
        push_access_levels=[AccessLevel(st.next_id("access_level"), push)],
        merge_access_levels=[AccessLevel(st.next_id("access_level"), merge)],
        unprotect_access_levels=[AccessLevel(st.next_id("access_level"), unprotect)],
        allow_force_push=allow_force_push,
    )
    project.protected_branches.append(branch)
    return branch


def remove_project(app: App, project: Project) -> None:
    app.state.projects.pop(project.id, None)
    app.repos.remove(project.id)
    app.keys_changed()


def _with_permissions(app: App, req: Request, project: Project) -> dict[str, Any]:
    data = app.project_json(project)
    member = project.members.get(req.user.id) if req.user else None
    ns = app.state.namespaces[project.namespace_id]
    level = app.state.namespace_level(req.user, ns)
    data["permissions"] = {
        "project_access": {"access_level": member.access_level, "notification_level": 3} if member else None,
        "group_access": {"access_level": level, "notification_level": 3} if level and ns.kind == "group" else None,
    }
    return data


@ROUTER.route("POST", "/projects")
def create_project(app: App, req: Request) -> Response:
    st = app.state
    assert req.user is not None
    name, path = req.param("name"), req.param("path")
    if not name and not path:
        raise missing("name")
    name = str(name or path)
    path = str(path or slug(name))
    ns_ident = req.param("namespace_id") or req.param("namespace_path")
    if ns_ident is None:
        ns = st.namespaces[req.user.namespace_id]
    else:
        ident = str(ns_ident)
        ns = st.namespaces.get(int(ident)) if ident.isdigit() else st.namespace_by_path(ident)
    # GitLab's CreateService answers an unknown namespace like a forbidden one.
    if ns is None or st.namespace_level(req.user, ns) < MAINTAINER:
        raise bad_request({"namespace": ["is not valid"]})
    visibility = str(req.param("visibility", "private"))
    if visibility not in VISIBILITIES:
        raise ApiError(400, {"error": "visibility does not have a valid value"})
    errors: dict[str, list[str]] = {}
    if ns.kind == "group" and _RANK[visibility] > _RANK[ns.visibility]:
        errors["visibility_level"] = [f"{visibility} is not allowed in a {ns.visibility} group."]
    siblings = [p for p in st.projects.values() if p.namespace_id == ns.id]
    if any(p.name.lower() == name.lower() for p in siblings):
        errors["name"] = ["has already been taken"]
    if not valid_path(path):
        errors["path"] = [PROJECT_PATH_RULE]
    elif any(p.path.lower() == path.lower() for p in siblings):
        errors["path"] = ["has already been taken"]
    if errors:
        raise bad_request(errors)
    project = Project(
        id=st.next_id("project"),
        name=name,
        path=path,
        namespace_id=ns.id,
        creator_id=req.user.id,
        description=str(req.param("description", "") or ""),
        visibility=visibility,
        ci_config_path=str(req.param("ci_config_path") or "") or None,
    )
    with_readme = req.flag("initialize_with_readme")
    branch = str(req.param("default_branch") or app.settings.default_branch) if with_readme else app.settings.default_branch
    app.repos.init(project.id, branch)
    st.projects[project.id] = project
    if with_readme:
        content = f"# {name}\n\n{project.description}\n".encode()
        app.repos.commit_actions(project.id, branch, None, [FileAction("create", "README.md", content)],
                                 "Initial commit", req.user.name, req.user.email)
        if app.settings.protect_default_branch:
            protect(app, project, branch)
    app.save()
    return Response(201, _with_permissions(app, req, project))


@ROUTER.route("GET", "/projects")
def list_projects(app: App, req: Request) -> Paged:
    st = app.state
    found = [p for p in st.projects.values() if st.can_see_project(req.user, p)]
    if req.flag("owned") or req.flag("membership"):
        floor = OWNER if req.flag("owned") else 10
        found = [p for p in found if st.project_level(req.user, p) >= floor]
    if req.query.get("search"):
        needle = req.query["search"].lower()
        found = [p for p in found if needle in p.name.lower() or needle in p.path.lower()]
    if "visibility" in req.query:
        found = [p for p in found if p.visibility == req.query["visibility"]]
    if "archived" in req.query:
        found = [p for p in found if p.archived == req.flag("archived")]
    descending = req.query.get("sort", "desc") == "desc"
    found.sort(key=lambda p: p.id, reverse=descending)
    return Paged(found, app.project_json)


@ROUTER.route("GET", "/projects/:id")
def get_project(app: App, req: Request, id: str) -> dict[str, Any]:
    return _with_permissions(app, req, app.find_project(req, id))


@ROUTER.route("PUT", "/projects/:id")
def edit_project(app: App, req: Request, id: str) -> dict[str, Any]:
    st = app.state
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    errors: dict[str, list[str]] = {}
    siblings = [p for p in st.projects.values() if p.namespace_id == project.namespace_id and p is not project]
    new_name = str(req.param("name")) if req.has("name") else None
    new_path = str(req.param("path")) if req.has("path") else None
    if new_name is not None and any(p.name.lower() == new_name.lower() for p in siblings):
        errors["name"] = ["has already been taken"]
    if new_path is not None:
        if not valid_path(new_path):
            errors["path"] = [PROJECT_PATH_RULE]
        elif any(p.path.lower() == new_path.lower() for p in siblings):
            errors["path"] = ["has already been taken"]
    visibility = req.param("visibility")
    if visibility is not None and visibility not in VISIBILITIES:
        raise ApiError(400, {"error": "visibility does not have a valid value"})
    default_branch = req.param("default_branch")
    if default_branch and default_branch not in app.repos.branches(project.id):
        errors["base"] = [f"Could not change HEAD: branch '{default_branch}' does not exist"]
    if errors:
        raise bad_request(errors)
    if new_path is not None and new_path != project.path:
        st.redirects[st.project_full_path(project).lower()] = project.id
        project.path = new_path
    if new_name is not None:
        project.name = new_name
    if req.has("description"):
        project.description = str(req.param("description") or "")
    if visibility is not None:
        project.visibility = str(visibility)
    if default_branch:
        app.repos.set_head(project.id, str(default_branch))
    if req.has("ci_config_path"):
        project.ci_config_path = str(req.param("ci_config_path") or "") or None
    app.touch(project)
    app.save()
    return _with_permissions(app, req, project)


@ROUTER.route("POST", "/projects/:id/archive")
def archive(app: App, req: Request, id: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=False)
    project.archived = True
    app.save()
    return Response(201, _with_permissions(app, req, project))


@ROUTER.route("POST", "/projects/:id/unarchive")
def unarchive(app: App, req: Request, id: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=False)
    project.archived = False
    app.save()
    return Response(201, _with_permissions(app, req, project))


@ROUTER.route("DELETE", "/projects/:id")
def delete_project(app: App, req: Request, id: str) -> Response:
    st = app.state
    project = app.find_project(req, id)
    app.require(req, project, OWNER, write=False)
    accepted = Response(202, {"message": "202 Accepted"})
    if not app.settings.delayed_project_deletion:
        remove_project(app, project)
    elif project.marked_for_deletion_on is None:
        project.marked_for_deletion_on = dt.date.today().isoformat()
    elif req.flag("permanently_remove"):
        if req.param("full_path") != st.project_full_path(project):
            raise bad_request("full_path must match the project's full path to permanently remove it")
        remove_project(app, project)
    else:
        raise bad_request("Project has been already marked for deletion")
    app.save()
    return accepted


@ROUTER.route("POST", "/projects/:id/restore")
def restore(app: App, req: Request, id: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, OWNER, write=False)
    if project.marked_for_deletion_on is None:
        raise bad_request("Project is not marked for deletion")
    project.marked_for_deletion_on = None
    app.save()
    return Response(201, _with_permissions(app, req, project))


def first_branch_created(app: App, project: Project, branch: str) -> None:
    """The first branch of an empty repository becomes the default branch, protected (GitLab's default)."""
    app.repos.set_head(project.id, branch)
    if app.settings.protect_default_branch and not any(b.name == branch for b in project.protected_branches):
        protect(app, project, branch)
    app.save()
