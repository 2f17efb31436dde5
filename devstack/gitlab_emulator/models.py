"""The records the emulator keeps: users, tokens, namespaces, projects and what hangs off them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER, ADMIN = 10, 20, 30, 40, 50, 60
NO_ACCESS = 0
LEVEL_NAMES = {
    0: "No access",
    10: "Guest",
    20: "Reporter",
    30: "Developers + Maintainers",
    40: "Maintainers",
    50: "Owner",
    60: "Admins",
}
READ_SCOPES = {"api", "read_api"}
ALL_SCOPES = {"api", "read_api", "read_user", "read_repository", "write_repository", "sudo", "admin_mode"}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class User:
    id: int
    username: str
    name: str
    email: str
    namespace_id: int
    is_admin: bool = False
    state: str = "active"
    created_at: str = field(default_factory=now_iso)


@dataclass
class Token:
    id: int
    user_id: int
    name: str
    token: str
    scopes: list[str]
    revoked: bool = False
    expires_at: str | None = None
    created_at: str = field(default_factory=now_iso)

    @property
    def active(self) -> bool:
        if self.revoked:
            return False
        return self.expires_at is None or self.expires_at >= dt.date.today().isoformat()


@dataclass
class Member:
    user_id: int
    access_level: int
    expires_at: str | None = None
    created_by: int | None = None
    created_at: str = field(default_factory=now_iso)


@dataclass
class Namespace:
    """A group (kind `group`) or a user's personal namespace (kind `user`)."""

    id: int
    name: str
    path: str
    kind: str = "group"
    parent_id: int | None = None
    owner_id: int | None = None
    visibility: str = "private"
    description: str = ""
    members: dict[int, Member] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)


@dataclass
class AccessLevel:
    id: int
    access_level: int
    user_id: int | None = None
    group_id: int | None = None
    deploy_key_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "access_level": self.access_level,
            "access_level_description": LEVEL_NAMES.get(self.access_level, str(self.access_level)),
            "user_id": self.user_id,
            "group_id": self.group_id,
            "deploy_key_id": self.deploy_key_id,
        }


@dataclass
class ProtectedBranch:
    id: int
    name: str
    push_access_levels: list[AccessLevel]
    merge_access_levels: list[AccessLevel]
    unprotect_access_levels: list[AccessLevel]
    allow_force_push: bool = False
    code_owner_approval_required: bool = False


@dataclass
class ProtectedTag:
    id: int
    name: str  # a tag name or a wildcard such as v*
    create_access_levels: list[AccessLevel]


@dataclass
class Runner:
    """A project runner (registered with a runner authentication token, as GitLab Runner does)."""

    id: int
    description: str
    tag_list: list[str]
    access_level: str = "not_protected"  # or "ref_protected"
    locked: bool = True
    run_untagged: bool = False
    active: bool = True
    project_ids: list[int] = field(default_factory=list)


@dataclass
class DeployKey:
    id: int
    title: str
    key: str
    fingerprint: str
    fingerprint_sha256: str
    expires_at: str | None = None
    created_at: str = field(default_factory=now_iso)


@dataclass
class Variable:
    key: str
    value: str
    variable_type: str = "env_var"
    protected: bool = False
    masked: bool = False
    hidden: bool = False
    raw: bool = False
    environment_scope: str = "*"
    description: str | None = None


@dataclass
class Project:
    id: int
    name: str
    path: str
    namespace_id: int
    creator_id: int
    description: str = ""
    visibility: str = "private"
    archived: bool = False
    marked_for_deletion_on: str | None = None
    members: dict[int, Member] = field(default_factory=dict)
    protected_branches: list[ProtectedBranch] = field(default_factory=list)
    deploy_keys: dict[int, bool] = field(default_factory=dict)  # key id -> can_push
    variables: list[Variable] = field(default_factory=list)
    protected_tags: list[ProtectedTag] = field(default_factory=list)
    ci_config_path: str | None = None
    created_at: str = field(default_factory=now_iso)
    last_activity_at: str = field(default_factory=now_iso)
