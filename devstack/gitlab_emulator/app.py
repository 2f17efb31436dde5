"""What every API handler shares: state, repositories, look-ups with GitLab's visibility rules, JSON shapes."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ApiError, forbidden, not_found
from .git_store import GitRepos
from .models import MAINTAINER, Member, Namespace, Project, User
from .routing import Request, encode_path
from .state import EmulatorState


@dataclass
class Settings:
    """Instance settings that change behaviour the way GitLab's admin settings do."""

    default_branch: str = "main"
    protect_default_branch: bool = True  # "Fully protected" default branch protection
    delayed_project_deletion: bool = True  # GitLab 18: DELETE marks the project, the path stays taken
    legacy_masking: bool = False  # mask rule `[a-zA-Z0-9_+=/@:.~-]{8,}` instead of "one line, no spaces, 8+"
    # The notes: any write to an archived project is 403. GitLab's policy only makes the code
    # read-only (push, files, branches); False lets settings and members change, as there.
    archived_blocks_settings: bool = True
    ssh_user: str = "git"
    ssh_host: str = "127.0.0.1"
    ssh_port: int | None = None


class App:
    def __init__(self, state: EmulatorState, repos: GitRepos, settings: Settings, state_file: Path | None = None) -> None:
        self.state = state
        self.repos = repos
        self.settings = settings
        self.state_file = state_file
        self.web_url = ""  # set once the server knows its port
        self.keys_changed: Callable[[], None] = lambda: None
        self.internal_secret = secrets.token_hex(16)
        self.pipelines: list[Any] = []  # pipelines.Pipeline, one per simulated push (not persisted)

    def save(self) -> None:
        if self.state_file is not None:
            self.state.save(self.state_file)

    # -- look-ups -----------------------------------------------------------------------

    def find_project(self, req: Request, ident: str) -> Project:
        """By numeric id or full path; 404 for what the caller cannot see; 301 for a renamed path."""
        st = self.state
        project: Project | None
        if ident.isdigit():
            project = st.projects.get(int(ident))
        else:
            project = st.project_by_path(ident)
            if project is None and ident.lower() in st.redirects and req.method in ("GET", "HEAD"):
                target = st.projects.get(st.redirects[ident.lower()])
                if target is not None and st.can_see_project(req.user, target):
                    new = req.path.replace(encode_path(ident), encode_path(st.project_full_path(target)), 1)
                    raise ApiError(301, {"message": "301 Moved Permanently"}, {"Location": req.base_url + new})
        if project is None or not st.can_see_project(req.user, project):
            raise not_found("Project")
        return project

    def find_group(self, req: Request, ident: str) -> Namespace:
        st = self.state
        ns = st.namespaces.get(int(ident)) if ident.isdigit() else st.namespace_by_path(ident)
        if ns is None or ns.kind != "group" or not st.can_see_namespace(req.user, ns):
            raise not_found("Group")
        return ns

    def find_user(self, ident: str) -> User:
        if ident.isdigit():
            return self.state.get_user(int(ident))
        user = self.state.user_by_username(ident)
        if user is None:
            raise not_found("User")
        return user

    def require(self, req: Request, project: Project, level: int = MAINTAINER, write: bool = True, code: bool = False) -> None:
        """403 unless the caller has `level`; writes to an archived project are refused whatever the level
        (settings writes only while `Settings.archived_blocks_settings`)."""
        if self.state.project_level(req.user, project) < level:
            raise forbidden()
        if write and project.archived and (code or self.settings.archived_blocks_settings):
            raise forbidden()

    # -- JSON -----------------------------------------------------------------------------

    def user_json(self, user: User, full: bool = False) -> dict[str, Any]:
        data = {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": None,
            "web_url": f"{self.web_url}/{user.username}",
        }
        if full:
            data.update({"email": user.email, "is_admin": user.is_admin, "created_at": user.created_at, "bot": False})
        return data

    def member_json(self, member: Member) -> dict[str, Any]:
        data = self.user_json(self.state.users[member.user_id])
        creator = self.state.users.get(member.created_by or -1)
        data.update(
            {
                "access_level": member.access_level,
                "created_at": member.created_at,
                "expires_at": member.expires_at,
                "created_by": self.user_json(creator) if creator else None,
                "membership_state": "active",
                "group_saml_identity": None,
            }
        )
        return data

    def namespace_json(self, ns: Namespace) -> dict[str, Any]:
        full_path = self.state.full_path(ns)
        return {
            "id": ns.id,
            "name": ns.name,
            "path": ns.path,
            "kind": ns.kind,
            "full_path": full_path,
            "parent_id": ns.parent_id,
            "avatar_url": None,
            "web_url": f"{self.web_url}/{'groups/' if ns.kind == 'group' else ''}{full_path}",
        }

    def group_json(self, ns: Namespace) -> dict[str, Any]:
        full_path = self.state.full_path(ns)
        return {
            "id": ns.id,
            "name": ns.name,
            "path": ns.path,
            "description": ns.description,
            "visibility": ns.visibility,
            "full_name": self.state.full_name(ns),
            "full_path": full_path,
            "parent_id": ns.parent_id,
            "created_at": ns.created_at,
            "web_url": f"{self.web_url}/groups/{full_path}",
            "avatar_url": None,
            "project_creation_level": "maintainer",
            "subgroup_creation_level": "maintainer",
        }

    def project_json(self, project: Project) -> dict[str, Any]:
        st = self.state
        ns = st.namespaces[project.namespace_id]
        full_path = st.project_full_path(project)
        branches = self.repos.branches(project.id)
        head = self.repos.head_branch(project.id)
        ssh = self.settings
        ssh_url = (
            f"ssh://{ssh.ssh_user}@{ssh.ssh_host}:{ssh.ssh_port}/{full_path}.git"
            if ssh.ssh_port
            else f"{ssh.ssh_user}@{ssh.ssh_host}:{full_path}.git"
        )
        marked = project.marked_for_deletion_on
        return {
            "id": project.id,
            "name": project.name,
            "path": project.path,
            "name_with_namespace": f"{st.full_name(ns)} / {project.name}",
            "path_with_namespace": full_path,
            "description": project.description,
            "visibility": project.visibility,
            "default_branch": head,
            "empty_repo": not branches,
            "archived": project.archived,
            "namespace": self.namespace_json(ns),
            "creator_id": project.creator_id,
            "created_at": project.created_at,
            "last_activity_at": project.last_activity_at,
            "http_url_to_repo": f"{self.web_url}/{full_path}.git",
            "ssh_url_to_repo": ssh_url,
            "web_url": f"{self.web_url}/{full_path}",
            "readme_url": f"{self.web_url}/{full_path}/-/blob/{head}/README.md" if branches else None,
            "ci_config_path": project.ci_config_path,
            "marked_for_deletion_at": marked,
            "marked_for_deletion_on": marked,
        }

    def touch(self, project: Project) -> None:
        project.last_activity_at = dt.datetime.now(dt.UTC).isoformat()
