"""The emulator's state: records, id counters, look-ups by path, and who may do what."""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
from pathlib import Path
from typing import Any

from .errors import not_found
from .models import (
    ADMIN,
    GUEST,
    OWNER,
    REPORTER,
    AccessLevel,
    DeployKey,
    Member,
    Namespace,
    Project,
    ProtectedBranch,
    ProtectedTag,
    Runner,
    Token,
    User,
    Variable,
)


class EmulatorState:
    """All records, guarded by one re-entrant lock (`lock`) that handlers hold while they run."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        """Forget every record (the lock stays: handlers may be waiting on it)."""
        self.users: dict[int, User] = {}
        self.tokens: dict[str, Token] = {}
        self.namespaces: dict[int, Namespace] = {}
        self.projects: dict[int, Project] = {}
        self.deploy_keys: dict[int, DeployKey] = {}
        self.redirects: dict[str, int] = {}  # old project full path (lower case) -> project id
        self.runners: dict[int, Runner] = {}
        self._ids: dict[str, int] = {}

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    # -- users and tokens ---------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None, email: str | None = None, is_admin: bool = False) -> User:
        uid = self.next_id("user")
        ns = Namespace(id=self.next_id("namespace"), name=name or username, path=username, kind="user", owner_id=uid)
        self.namespaces[ns.id] = ns
        user = User(uid, username, name or username, email or f"{username}@example.test", ns.id, is_admin)
        self.users[uid] = user
        return user

    def add_token(self, user: User, scopes: list[str], name: str = "token", expires_at: str | None = None) -> Token:
        token = Token(self.next_id("token"), user.id, name, "glpat-" + secrets.token_urlsafe(15), list(scopes), expires_at=expires_at)
        self.tokens[token.token] = token
        return token

    def user_by_username(self, username: str) -> User | None:
        return next((u for u in self.users.values() if u.username.lower() == username.lower()), None)

    def get_user(self, user_id: int) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise not_found("User")
        return user

    # -- namespaces ---------------------------------------------------------------------

    def full_path(self, ns: Namespace) -> str:
        parts = [ns.path]
        while ns.parent_id is not None:
            ns = self.namespaces[ns.parent_id]
            parts.append(ns.path)
        return "/".join(reversed(parts))

    def full_name(self, ns: Namespace) -> str:
        parts = [ns.name]
        while ns.parent_id is not None:
            ns = self.namespaces[ns.parent_id]
            parts.append(ns.name)
        return " / ".join(reversed(parts))

    def ancestors(self, ns: Namespace) -> list[Namespace]:
        """`ns` and its parents, nearest first."""
        chain = [ns]
        while ns.parent_id is not None:
            ns = self.namespaces[ns.parent_id]
            chain.append(ns)
        return chain

    def namespace_by_path(self, full_path: str) -> Namespace | None:
        wanted = full_path.lower()
        return next((n for n in self.namespaces.values() if self.full_path(n).lower() == wanted), None)

    def project_full_path(self, project: Project) -> str:
        return f"{self.full_path(self.namespaces[project.namespace_id])}/{project.path}"

    def project_by_path(self, full_path: str) -> Project | None:
        wanted = full_path.lower()
        return next((p for p in self.projects.values() if self.project_full_path(p).lower() == wanted), None)

    # -- access -------------------------------------------------------------------------

    def namespace_level(self, user: User | None, ns: Namespace) -> int:
        """The user's effective level on a namespace: own namespace, direct or inherited membership."""
        if user is None:
            return 0
        if user.is_admin:
            return ADMIN
        level = 0
        for anc in self.ancestors(ns):
            if anc.kind == "user" and anc.owner_id == user.id:
                level = max(level, OWNER)
            member = anc.members.get(user.id)
            if member is not None:
                level = max(level, member.access_level)
        return level

    def project_level(self, user: User | None, project: Project) -> int:
        if user is None:
            return 0
        level = self.namespace_level(user, self.namespaces[project.namespace_id])
        member = project.members.get(user.id)
        if member is not None and not user.is_admin:
            level = max(level, member.access_level)
        return level

    def can_see_project(self, user: User | None, project: Project) -> bool:
        if project.visibility == "public":
            return True
        if project.visibility == "internal" and user is not None:
            return True
        return self.project_level(user, project) >= GUEST

    def can_read_code(self, user: User | None, project: Project) -> bool:
        if project.visibility == "public" or (project.visibility == "internal" and user is not None):
            return True
        return self.project_level(user, project) >= REPORTER

    def can_see_namespace(self, user: User | None, ns: Namespace) -> bool:
        if ns.visibility == "public" or (ns.visibility == "internal" and user is not None):
            return True
        if self.namespace_level(user, ns) >= GUEST:
            return True
        # Members of a descendant group or project can see the group (GitLab shows the path).
        for project in self.projects.values():
            if ns in self.ancestors(self.namespaces[project.namespace_id]) and self.project_level(user, project) >= GUEST:
                return True
        return any(
            ns in self.ancestors(other) and self.namespace_level(user, other) >= GUEST for other in self.namespaces.values()
        )

    def inherited_members(self, ns_chain: list[Namespace], direct: dict[int, Member]) -> dict[int, Member]:
        """Direct members merged with those of every ancestor, keeping the highest level."""
        merged: dict[int, Member] = {}
        for source in [direct] + [n.members for n in ns_chain]:
            for uid, m in source.items():
                if uid not in merged or m.access_level > merged[uid].access_level:
                    merged[uid] = m
        return merged

    # -- persistence ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        asdict = dataclasses.asdict
        return {
            "ids": self._ids,
            "users": [asdict(u) for u in self.users.values()],
            "tokens": [asdict(t) for t in self.tokens.values()],
            "namespaces": [asdict(n) for n in self.namespaces.values()],
            "projects": [asdict(p) for p in self.projects.values()],
            "deploy_keys": [asdict(k) for k in self.deploy_keys.values()],
            "redirects": self.redirects,
            "runners": [asdict(r) for r in self.runners.values()],
        }

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self._ids = data["ids"]
        self.users = {u["id"]: User(**u) for u in data["users"]}
        self.tokens = {t["token"]: Token(**t) for t in data["tokens"]}
        self.namespaces = {}
        for n in data["namespaces"]:
            n["members"] = {int(k): Member(**m) for k, m in n["members"].items()}
            self.namespaces[n["id"]] = Namespace(**n)
        self.projects = {}
        for p in data["projects"]:
            p["members"] = {int(k): Member(**m) for k, m in p["members"].items()}
            p["deploy_keys"] = {int(k): v for k, v in p["deploy_keys"].items()}
            p["variables"] = [Variable(**v) for v in p["variables"]]
            p["protected_branches"] = [
                ProtectedBranch(
                    **{
                        **b,
                        **{
                            k: [AccessLevel(**a) for a in b[k]]
                            for k in ("push_access_levels", "merge_access_levels", "unprotect_access_levels")
                        },
                    }
                )
                for b in p["protected_branches"]
            ]
            p["protected_tags"] = [
                ProtectedTag(**{**t, "create_access_levels": [AccessLevel(**a) for a in t["create_access_levels"]]})
                for t in p.get("protected_tags", [])
            ]
            self.projects[p["id"]] = Project(**p)
        self.deploy_keys = {k["id"]: DeployKey(**k) for k in data["deploy_keys"]}
        self.redirects = data["redirects"]
        self.runners = {r["id"]: Runner(**r) for r in data.get("runners", [])}
