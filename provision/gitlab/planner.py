"""Read what GitLab holds for one request and compare it with the desired state: a Plan.

Reads are by full path (`/projects/pemko%2Fdisdik%2Fsisekolah`); only a 404 means absent.
For a project that exists and is fully configured this reads seven things: the project
(with its CI configuration path), its default-branch protection, its protected tags, its
members (direct, and with inherited ones), its deploy keys and its CI/CD variables, each
list read to its last page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provision.errors import NotFound, Problem, UnsafePlan, UsageError, ValidationError
from provision.gitlab.client import GitLabClient, enc
from provision.gitlab.desired import ROLE_OF, Desired, fingerprint, key_body
from provision.gitlab.seed import seed_paths
from provision.plan import Change, Plan

PROVIDER = "gitlab"
_RANK = {"private": 0, "internal": 10, "public": 20}
WANTED_LEVEL = 40  # maintainers push and merge on the default branch


@dataclass
class GitLabPlan(Plan):
    """A Plan that also carries the desired state it was made for (never rendered)."""

    desired: Desired | None = None


class ProjectArchived(UnsafePlan):
    """The project is archived (or scheduled for deletion): GitLab refuses every write to it."""


def project_url(d: Desired) -> str:
    return f"/projects/{enc(d.full_path)}"


def project_facts(project: dict[str, Any]) -> dict[str, Any]:
    """What later steps need to find the project (kept in the audit log)."""
    return {"project_id": project["id"], "path": project.get("path_with_namespace"),
            "web_url": project.get("web_url"), "http_url": project.get("http_url_to_repo"),
            "ssh_url": project.get("ssh_url_to_repo"), "default_branch": project.get("default_branch")}


def refuse_if_archived(project: dict[str, Any]) -> None:
    path = project.get("path_with_namespace")
    if project.get("archived"):
        raise ProjectArchived(f"the GitLab project {path} is archived; GitLab refuses every change to it.",
                              "Unarchive it in GitLab (Settings > General > Advanced) if the request is active again.")
    if project.get("marked_for_deletion_at") or project.get("marked_for_deletion_on"):
        raise ProjectArchived(f"the GitLab project {path} is scheduled for deletion.",
                              "Restore it in GitLab first, or wait until it is gone to create it again.")


def protection_patch(rule: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body that makes a protected-branch rule maintainers-only, no force push ({} if it is)."""
    body: dict[str, Any] = {}
    for kind in ("push", "merge"):
        entries = rule.get(f"{kind}_access_levels") or []
        plain = [e for e in entries if e.get("access_level") == WANTED_LEVEL
                 and not (e.get("user_id") or e.get("group_id") or e.get("deploy_key_id"))]
        ops: list[dict[str, Any]] = [{"id": e["id"], "_destroy": True} for e in entries
                                     if e not in plain[:1]]
        if not plain:
            ops.append({"access_level": WANTED_LEVEL})
        if ops:
            body[f"allowed_to_{kind}"] = ops
    if rule.get("allow_force_push"):
        body["allow_force_push"] = False
    return body


def _protection_view(rule: dict[str, Any] | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {"push": sorted(e.get("access_level") for e in rule.get("push_access_levels") or []),
            "merge": sorted(e.get("access_level") for e in rule.get("merge_access_levels") or []),
            "allow_force_push": bool(rule.get("allow_force_push"))}


WANTED_PROTECTION = {"push": [WANTED_LEVEL], "merge": [WANTED_LEVEL], "allow_force_push": False}


def tag_matches(rule: str, tag: str) -> bool:
    """GitLab's protected-ref wildcard: `*` matches any characters, the rest literally."""
    import re

    return re.fullmatch(".*".join(re.escape(part) for part in rule.split("*")), tag) is not None


def tag_rule_view(rule: dict[str, Any] | None) -> dict[str, Any] | None:
    """A protected-tag rule as the plan shows it: who may create matching tags."""
    if rule is None:
        return None
    entries = rule.get("create_access_levels") or []
    return {"create": sorted(ROLE_OF.get(e.get("access_level"), "no one") if not
                             (e.get("user_id") or e.get("group_id") or e.get("deploy_key_id"))
                             else "a user, group or deploy key" for e in entries)}


def wanted_tag_rule(d: Desired) -> dict[str, Any]:
    return {"create": [ROLE_OF.get(d.tag_create_level, "no one")]}


def ci_config_reason(now: str, d: Desired) -> str:
    if d.ci_mode == "trigger":
        return ("gitlab.ci_mode is trigger: the project's own .gitlab-ci.yml only triggers Kominfo's pipeline, "
                "so its CI configuration path must be GitLab's default")
    if not now:
        return ("the project's own .gitlab-ci.yml would run on tags (a project created before Kominfo owned the "
                "install pipeline, or the path was cleared by hand); Kominfo's pipeline replaces it")
    return "the CI configuration path was changed by hand; the install pipeline must be Kominfo's"


class Planner:
    def __init__(self, client: GitLabClient, d: Desired) -> None:
        self.c, self.d = client, d
        self.plan = GitLabPlan(PROVIDER, d.request_id, desired=d)
        self.target = d.full_path

    def add(self, action: str, kind: str, target: str, before: Any = None, after: Any = None,
            data: Any = None) -> None:
        self.plan.changes.append(Change(action, kind, target, before, after, data))  # type: ignore[arg-type]

    def make(self) -> Plan:
        d, c = self.d, self.c
        project = c.get(project_url(d), f"project {d.full_path}")
        if project is not None:
            refuse_if_archived(project)
            moved = project.get("path_with_namespace", "")
            if moved.lower() != d.full_path.lower():
                self.plan.notes.append(f"the project was moved to {moved}; it is managed there.")
            self.plan.meta["project"] = project_facts(project)
        else:
            self._plan_namespace()
        users = self._resolve_users(project)
        if project is None:
            self._plan_new_project(users)
        else:
            self._plan_existing(project, users)
        self.plan.existing = len(d.members) + len(d.variables) + 3
        return self.plan

    def make_deploy_key(self, project: dict[str, Any]) -> Plan:
        """Only the deploy key of an existing project (`repo rotate-key`)."""
        refuse_if_archived(project)
        self.plan.meta["project"] = project_facts(project)
        self._plan_deploy_key(project["id"])
        self.plan.existing = 1
        return self.plan

    # -- namespace and project ----------------------------------------------------------
    def _plan_namespace(self) -> None:
        d, c = self.d, self.c
        group = c.get(f"/groups/{enc(d.group_full_path)}", f"group {d.group_full_path}", with_projects="false")
        if group is not None:
            if _RANK[d.visibility] > _RANK.get(group.get("visibility", "private"), 0):
                raise UsageError(f"the spec asks for a {d.visibility} project but the group {d.group_full_path} "
                                 f"is {group.get('visibility')}; GitLab allows no project more visible than its group.",
                                 "Change the group's visibility in GitLab, or the spec's repository.visibility.")
            self.plan.meta["group_id"] = group["id"]
            return
        root = c.get(f"/groups/{enc(d.root_group)}", f"group {d.root_group}", with_projects="false")
        if root is None:
            raise NotFound(f"the root group {d.root_group} (gitlab.root_group) does not exist on GitLab, "
                           "or the token's user cannot see it.",
                           f"Create the group {d.root_group} and make the token's user its Owner.")
        if _RANK[d.visibility] > _RANK.get(root.get("visibility", "private"), 0):
            raise UsageError(f"the spec asks for a {d.visibility} project but the root group {d.root_group} is "
                             f"{root.get('visibility')}.", "Change the spec's repository.visibility.")
        group_visibility = d.visibility  # private unless the project must be more visible
        self.add("create", "gitlab.group", d.group_full_path, None,
                 {"name": d.group_name, "path": d.group_path, "visibility": group_visibility},
                 {"parent_id": root["id"]})

    def _project_settings(self) -> dict[str, Any]:
        d = self.d
        return {"name": d.project_name, "description": d.description, "visibility": d.visibility}

    def _plan_new_project(self, users: dict[str, int]) -> None:
        d = self.d
        self.add("create", "gitlab.project", d.full_path, None,
                 {**self._project_settings(), "default_branch": d.default_branch})
        if d.ci_config_path:
            self.add("create", "gitlab.ci_config", f"{d.full_path} CI configuration path", None,
                     {"ci_config_path": d.ci_config_path, "why": "Kominfo owns the install pipeline"})
        self.add("create", "gitlab.seed", f"{d.full_path} seed files", None,
                 {"branch": d.default_branch, "files": list(seed_paths(d))}, {"empty": True})
        self.add("create", "gitlab.protected_branch", f"{d.full_path} branch {d.default_branch}", None,
                 WANTED_PROTECTION)
        self.add("create", "gitlab.protected_tag", f"{d.full_path} tags {d.release_tags}", None,
                 {**wanted_tag_rule(d), "why": "release tags start the install pipeline"})
        for username, level in sorted(d.members.items()):
            self.add("create", "gitlab.member", f"{d.full_path} member {username}", None,
                     {"role": ROLE_OF[level]}, {"user_id": users[username.lower()], "level": level})
        if d.deploy_key:
            self.add("create", "gitlab.deploy_key", f"{d.full_path} deploy key {fingerprint(d.deploy_key)}",
                     None, {"title": d.deploy_key_title, "can_push": False})
        elif d.deploy_key_new:
            self.add("create", "gitlab.deploy_key", d.new_key_target, None,
                     {"title": d.deploy_key_title, "can_push": False})
        for key, var in sorted(d.variables.items()):
            self.add("create", "gitlab.variable", f"{d.full_path} variable {key}", None, var.shown(),
                     {"key": key})

    def _plan_existing(self, project: dict[str, Any], users: dict[str, int]) -> None:
        d, c = self.d, self.c
        pid = project["id"]
        now = {k: project.get(k) if project.get(k) is not None else "" for k in ("name", "description", "visibility")}
        want = self._project_settings()
        diff = {k: v for k, v in want.items() if now[k] != v}
        if diff:
            self.add("update", "gitlab.project", d.full_path, {k: now[k] for k in diff}, diff)
        ci_now = project.get("ci_config_path") or ""
        if ci_now != d.ci_config_path:
            self.add("update", "gitlab.ci_config", f"{d.full_path} CI configuration path",
                     {"ci_config_path": ci_now},
                     {"ci_config_path": d.ci_config_path, "why": ci_config_reason(ci_now, d)})
        empty = bool(project.get("empty_repo"))
        if empty:
            self.add("create", "gitlab.seed", f"{d.full_path} seed files", None,
                     {"branch": d.default_branch, "files": list(seed_paths(d))}, {"empty": True})
        elif project.get("default_branch") != d.default_branch:
            branch = c.get(f"/projects/{pid}/repository/branches/{enc(d.default_branch)}",
                           f"branch {d.default_branch}")
            self.add("update", "gitlab.default_branch", f"{d.full_path} default branch",
                     {"default_branch": project.get("default_branch")}, {"default_branch": d.default_branch},
                     {"create_from": None if branch else project.get("default_branch")})
        target = f"{d.full_path} branch {d.default_branch}"
        rule = None if empty else c.get(f"/projects/{pid}/protected_branches/{enc(d.default_branch)}",
                                         f"protection of {d.default_branch}")
        view = _protection_view(rule)
        if view != WANTED_PROTECTION:
            self.add("create" if rule is None else "update", "gitlab.protected_branch", target, view,
                     WANTED_PROTECTION)
        self._plan_tags(pid)
        self._plan_members(pid, users)
        self._plan_deploy_key(pid)
        self._plan_variables(pid)

    def _plan_tags(self, pid: int) -> None:
        """The release-tag pattern protected, created only by whom the spec says."""
        d, c = self.d, self.c
        rules = {r.get("name"): r for r in c.list(f"/projects/{pid}/protected_tags", "protected tags")}
        target = f"{d.full_path} tags {d.release_tags}"
        now = tag_rule_view(rules.get(d.release_tags))
        want = wanted_tag_rule(d)
        if now is None:
            self.add("create", "gitlab.protected_tag", target, None,
                     {**want, "why": f"release tags {d.release_tags} are not protected: anyone who can push "
                                     "could create one and start an install"})
        elif now != want:
            self.add("update", "gitlab.protected_tag", target, now,
                     {**want, "why": "who may create release tags differs from the spec "
                                     "(repository.release_tags_created_by)"})

    # -- members ----------------------------------------------------------------------------
    def _resolve_users(self, project: dict[str, Any] | None) -> dict[str, int]:
        """username (lower case) -> user id for every wanted member; all unknown ones at once."""
        d, c = self.d, self.c
        known: dict[str, int] = {}
        if project is not None:
            self._all = c.list(f"/projects/{project['id']}/members/all", "members (with inherited)")
            known = {m["username"].lower(): m["id"] for m in self._all}
        problems: list[Problem] = []
        for username in sorted(d.members):
            if username.lower() in known:
                continue
            found = [u for u in c.list("/users", f"user {username}", username=username)
                     if u.get("username", "").lower() == username.lower()]
            if not found:
                problems.append(Problem(d.member_fields[username], f"no GitLab user named {username!r}"))
            elif found[0].get("state") not in (None, "active"):
                problems.append(Problem(d.member_fields[username],
                                        f"the GitLab user {username!r} is {found[0].get('state')}"))
            else:
                known[username.lower()] = found[0]["id"]
        if problems:
            raise ValidationError(problems, "members (nothing was changed)")
        return known

    def _plan_members(self, pid: int, users: dict[str, int]) -> None:
        d, c = self.d, self.c
        effective = {m["username"].lower(): m for m in self._all}
        # The direct list too: members/all does not say which roles are inherited, and a
        # person added by hand must show in the plan.
        direct = {x["username"].lower(): x for x in c.list(f"/projects/{pid}/members", "members")}
        for username, level in sorted(d.members.items()):
            m = effective.get(username.lower())
            mine = direct.get(username.lower())
            if mine is not None and mine.get("access_level") == level or mine is None and m is not None \
                    and m.get("access_level") == level:
                continue
            target = f"{d.full_path} member {username}"
            data = {"user_id": users[username.lower()], "level": level}
            if mine is not None:
                self.add("update", "gitlab.member", target, {"role": ROLE_OF.get(mine["access_level"])},
                         {"role": ROLE_OF[level]}, data)
            elif m is not None and m.get("access_level", 0) > level:
                self.plan.notes.append(f"{username} has the role {ROLE_OF.get(m['access_level'])} inherited "
                                       f"from a group, above the {ROLE_OF[level]} the spec asks for; "
                                       "change it in the group.")
            else:
                before = {"role": ROLE_OF.get(m["access_level"]), "inherited": True} if m else None
                self.add("create", "gitlab.member", target, before, {"role": ROLE_OF[level]}, data)
        wanted = {u.lower() for u in d.members}
        for name, m in sorted(direct.items()):
            if name not in wanted and m.get("access_level", 0) < 50:
                self.plan.notes.append(f"{m['username']} ({ROLE_OF.get(m['access_level'])}) is a member "
                                       "but not in the spec or the team; left as is.")

    # -- deploy key and variables --------------------------------------------------------------
    def _plan_deploy_key(self, pid: int) -> None:
        d, c = self.d, self.c
        if not d.deploy_key and not d.deploy_key_new:
            return
        keys = c.list(f"/projects/{pid}/deploy_keys", "deploy keys")
        ours = [k for k in keys if d.deploy_key and key_body(k.get("key", "")) == d.deploy_key]
        target = f"{d.full_path} deploy key {fingerprint(d.deploy_key)}" if d.deploy_key else d.new_key_target
        if not ours:
            self.add("create", "gitlab.deploy_key", target, None, {"title": d.deploy_key_title, "can_push": False})
        elif ours[0].get("can_push"):
            self.add("update", "gitlab.deploy_key", target, {"can_push": True}, {"can_push": False},
                     {"key_id": ours[0]["id"]})
        for k in keys:  # an earlier key of ours (same title, other content): the key was rotated
            if k.get("title") == d.deploy_key_title and key_body(k.get("key", "")) != d.deploy_key:
                self.add("delete", "gitlab.deploy_key", f"{d.full_path} deploy key {k.get('fingerprint_sha256') or k['id']}",
                         {"title": k["title"], "can_push": k.get("can_push")}, None, {"key_id": k["id"]})

    def _plan_variables(self, pid: int) -> None:
        d, c = self.d, self.c
        found = {v["key"]: v for v in c.list(f"/projects/{pid}/variables", "CI/CD variables")
                 if v.get("environment_scope", "*") == "*"}
        for key, var in sorted(d.variables.items()):
            target = f"{d.full_path} variable {key}"
            now = found.get(key)
            if now is None:
                self.add("create", "gitlab.variable", target, None, var.shown(), {"key": key})
                continue
            if now.get("hidden") or now.get("value") is None:
                self.plan.notes.append(f"the variable {key} is hidden; its value cannot be compared and is left as is.")
                continue
            same = (now.get("value") == var.value and bool(now.get("masked")) == var.masked
                    and not now.get("protected") and now.get("variable_type", "env_var") == "env_var")
            if not same:
                before = {"value": "[masked]" if now.get("masked") or var.masked else now.get("value"),
                          "masked": bool(now.get("masked")), "protected": bool(now.get("protected")),
                          "environment_scope": "*"}
                self.add("update", "gitlab.variable", target, before, var.shown(), {"key": key})
