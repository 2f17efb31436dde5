"""GitLabProvider: a request's source repository on GitLab (SOP step 11).

    provider = GitLabProvider.from_config(config)
    plan = provider.plan(request, spec)          # token check, reads by full path, diff
    report = provider.apply(plan, app.audit)     # one write per change at most

Contract:
- `plan` checks everything it can before any network call (ValidationError, exit 2), then
  checks the token (AuthError, exit 9), then reads; it never writes. Unknown users are all
  reported together before any change. An archived project raises ProjectArchived (exit 4).
- `apply` is idempotent: an empty plan sends nothing, and every change is an "ensure": a
  create that finds the thing already there (GitLab's automatic default-branch protection,
  a concurrent run: 409 or "has already been taken") re-reads and only writes what still
  differs. Each change is recorded (`recorder.attempt`) before its first write and its
  outcome after, with the project id and URL in the record of the project (the loop is
  `provision.provider.Provider.apply`; each change is one batch).
- On the first failing change the rest are not attempted: the error itself is raised if
  nothing was applied, else GitLabPartialApply (exit 5, `.report`). The next apply picks up
  from what GitLab then holds (a half-configured project is completed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provision.errors import PartialApply, ProvisionError
from provision.gitlab.client import GitLabClient, GitLabError, enc
from provision.gitlab.desired import Desired, desired_state
from provision.gitlab.planner import PROVIDER, Planner, project_facts, project_url, protection_patch, refuse_if_archived
from provision.gitlab.seed import SEED_MESSAGE, blob_id, commit_actions, seed_files
from provision.plan import ApplyReport, Change, Plan
from provision.provider import Outcome, Provider


class GitLabPartialApply(PartialApply):
    def __init__(self, message: str, report: ApplyReport, hint: str | None = None) -> None:
        super().__init__(message, [c.target for c in report.applied],
                         [c.target for c, _ in report.failed] + [c.target for c in report.not_attempted], hint)
        self.report = report


class GitLabProvider(Provider):
    """Plans and applies one request's repository under the configured root group."""

    name = PROVIDER

    def __init__(self, client: GitLabClient, config: Any) -> None:
        self.client = client
        self.config = config
        self.token: dict[str, Any] | None = None

    @classmethod
    def from_config(cls, config: Any, per_page: int = 100) -> GitLabProvider:
        return cls(GitLabClient.from_config(config, per_page=per_page), config)

    def check_token(self) -> dict[str, Any]:
        """Once per provider: the token works and has the api scope (AuthError otherwise)."""
        if self.token is None:
            self.token = self.client.check_token()
        return self.token

    def desired(self, request: Any, spec: Any) -> Desired:
        return desired_state(request, spec, self.config)

    # -- plans ------------------------------------------------------------------------------
    def plan(self, request: Any, spec: Any) -> Plan:
        """The changes that give the request's repository the spec's settings."""
        d = self.desired(request, spec)  # before any network I/O
        token = self.check_token()
        plan = Planner(self.client, d).make()
        expires = token.get("expires_at")
        if expires:
            import datetime as dt

            left = (dt.date.fromisoformat(str(expires)[:10]) - dt.date.today()).days
            if left <= 14:
                plan.notes.append(f"the GitLab token expires on {expires} ({left} days): renew it.")
        return plan

    def plan_key_rotation(self, request: Any, spec: Any) -> Plan:
        """Replace the project's own deploy key: add the next key (made at apply, or the one
        a rotation cut short left, provision/deploy_keys.py) and remove the old one."""
        from dataclasses import replace

        from provision import deploy_keys
        from provision.errors import NotFound, UsageError

        if self.config.gitlab.deploy_key_file:
            raise UsageError("the deploy key is the shared gitlab.deploy_key_file: there is no project key to rotate.",
                             "Replace that key pair (gitlab.deploy_key_file, hosting.deploy_key_file), then run "
                             "`provision repo apply` for every request; or remove both keys to give each "
                             "project its own.")
        d = self.desired(request, spec)
        if d.deploy_key is None:
            raise NotFound(f"{d.request_id} has no deploy key yet, so none to rotate.",
                           f"Make it with: provision repo apply {d.request_id}")
        state = self.config.state_dir
        following = deploy_keys.pending_next(state, d.request_id)
        d = replace(d, deploy_key=following,
                    deploy_key_new="" if following else str(deploy_keys.next_path(state, d.request_id)))
        self.check_token()
        return Planner(self.client, d).make_deploy_key(self._project_or_fail(d))

    def plan_archive(self, request: Any, spec: Any) -> Plan:
        d = self.desired(request, spec)
        self.check_token()
        plan = Plan(PROVIDER, d.request_id)
        project = self._project_or_fail(d)
        plan.meta["project"] = project_facts(project)
        if not project.get("archived"):
            plan.changes.append(Change("update", "gitlab.archive", d.full_path, {"archived": False},
                                       {"archived": True}, {"project_id": project["id"]}))
        return plan

    def plan_delete(self, request: Any, spec: Any, reason: str) -> Plan:
        d = self.desired(request, spec)
        self.check_token()
        plan = Plan(PROVIDER, d.request_id)
        project = self._project_or_fail(d)
        plan.meta["project"] = project_facts(project)
        if project.get("marked_for_deletion_at") or project.get("marked_for_deletion_on"):
            plan.notes.append(f"{d.full_path} is already scheduled for deletion.")
            return plan
        plan.changes.append(Change("delete", "gitlab.project", d.full_path,
                                   {"project_id": project["id"], "archived": bool(project.get("archived"))},
                                   {"reason": reason}, {"project_id": project["id"]}))
        return plan

    def _project_or_fail(self, d: Desired) -> dict[str, Any]:
        from provision.errors import NotFound

        project = self.client.get(project_url(d), f"project {d.full_path}")
        if project is None:
            raise NotFound(f"the GitLab project {d.full_path} does not exist.",
                           f"Create it with: provision repo apply {d.request_id}")
        return project

    # -- apply --------------------------------------------------------------------------------
    # The loop is Provider.apply: each change is one batch, recorded before its first write.
    def _start(self, plan: Plan, report: ApplyReport, **options: Any) -> dict[str, Any]:
        return {"group_id": plan.meta.get("group_id"), "project": dict(plan.meta.get("project") or {}),
                "desired": getattr(plan, "desired", None)}

    def _apply_batch(self, batch: list[Change], run: dict[str, Any]) -> Outcome:
        (change,) = batch
        try:
            return Outcome(done=[(change, self._apply_one(change, run["desired"], run))])
        except ProvisionError as e:  # the rest is not attempted
            return Outcome(failed=[(change, str(e))], stop=e)

    def _finish(self, report: ApplyReport, run: dict[str, Any], stop: ProvisionError | None) -> ApplyReport:
        if stop is not None:
            if not report.applied:
                raise stop
            change = report.failed[-1][0]
            raise GitLabPartialApply(
                f"the GitLab apply for {report.plan.request_id} was partial: {len(report.applied)} changes "
                f"applied, then {change.kind} {change.target} failed ({stop}); "
                f"{len(report.not_attempted)} not attempted.", report,
                f"Fix the cause and run `provision repo apply {report.plan.request_id}` again: "
                "it completes what is missing.") from stop
        if not report.plan.empty:
            report.details["project"] = run["project"]
        return report

    def _apply_one(self, change: Change, d: Desired | None, ctx: dict[str, Any]) -> dict[str, Any]:
        handler: Callable[..., dict[str, Any]] = getattr(self, "_" + change.kind.replace("gitlab.", ""))
        return handler(change, d, ctx)

    def _pid(self, ctx: dict[str, Any]) -> int:
        return int(ctx["project"]["project_id"])

    def _group(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        body = {**change.after, "parent_id": change.data["parent_id"]}
        try:
            group = c.post("/groups", f"group {d.group_full_path}", body)
            ctx["group_id"] = group["id"]
            return {"group_id": group["id"], "web_url": group.get("web_url")}
        except GitLabError as e:
            if not e.taken:
                raise
        group = c.get(f"/groups/{enc(d.group_full_path)}", f"group {d.group_full_path}", with_projects="false")
        if group is None:  # taken by a project or by something the token cannot see
            raise GitLabError(f"the path {d.group_full_path} is taken but no group can be read there.", 400)
        ctx["group_id"] = group["id"]
        return {"group_id": group["id"], "web_url": group.get("web_url"), "found": "created meanwhile"}

    def _project(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        if change.action == "delete":
            c.delete(f"/projects/{change.data['project_id']}", f"deletion of {change.target}")
            return {"project_id": change.data["project_id"], "deleted": True}
        if change.action == "update":
            project = c.put(f"/projects/{self._pid(ctx)}", f"settings of {d.full_path}", dict(change.after))
            ctx["project"] = project_facts(project)
            return ctx["project"]
        body = {"name": d.project_name, "path": d.project_path, "namespace_id": ctx["group_id"],
                "description": d.description, "visibility": d.visibility}
        try:
            project = c.post("/projects", f"project {d.full_path}", body)
            ctx["project"] = project_facts(project)
            return {**ctx["project"], "created": True}
        except GitLabError as e:
            if not e.taken:
                raise
            refused = str(e.body)
        project = c.get(project_url(d), f"project {d.full_path}")
        if project is None:
            if "name" in refused and "path" not in refused:
                raise GitLabError(
                    f"another project in {d.group_full_path} is already named {d.project_name!r}; GitLab "
                    "needs project names unique within a group.", 400,
                    hint="Give the application another name (application.name) and run `provision spec set` again.")
            raise GitLabError(f"the project path {d.full_path} is taken but the project cannot be read.", 400)
        refuse_if_archived(project)
        want = {"name": d.project_name, "description": d.description, "visibility": d.visibility}
        diff = {k: v for k, v in want.items() if (project.get(k) or "") != v}
        if diff:
            project = c.put(f"/projects/{project['id']}", f"settings of {d.full_path}", diff)
        ctx["project"] = project_facts(project)
        ctx["project"]["empty"] = bool(project.get("empty_repo"))
        return {**ctx["project"], "found": "created meanwhile", "updated": sorted(diff)}

    def _seed(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        pid = self._pid(ctx)
        if ctx["project"].get("empty") is False:
            return {"project_id": pid, "seeded": False, "why": "the repository is not empty"}
        files = seed_files(d, self.config.general.organisation_short)
        body = {"branch": d.default_branch, "commit_message": SEED_MESSAGE.format(request_id=d.request_id),
                "actions": commit_actions(files)}
        try:
            commit = c.post(f"/projects/{pid}/repository/commits", f"seed files of {d.full_path}", body)
        except GitLabError as e:
            if e.status == 400 and ("already exists" in str(e.body) or "on a branch" in str(e.body)):
                return {"project_id": pid, "seeded": False, "why": "someone pushed first"}
            raise
        ctx["project"]["default_branch"] = d.default_branch
        return {"project_id": pid, "seeded": True, "commit": commit.get("id"), "branch": d.default_branch,
                "files": {path: blob_id(content) for path, content in files.items()}}

    def _default_branch(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        pid = self._pid(ctx)
        source = change.data.get("create_from")
        if source:
            try:
                c.post(f"/projects/{pid}/repository/branches", f"branch {d.default_branch}",
                       {"branch": d.default_branch, "ref": source})
            except GitLabError as e:
                if not (e.status == 400 and "already exists" in str(e.body)):
                    raise
        c.put(f"/projects/{pid}", f"default branch of {d.full_path}", {"default_branch": d.default_branch})
        return {"default_branch": d.default_branch, "created_from": source}

    def _protected_branch(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        pid = self._pid(ctx)
        path = f"/projects/{pid}/protected_branches"
        what = f"protection of {d.default_branch}"
        rule = c.get(f"{path}/{enc(d.default_branch)}", what)
        if rule is None:
            try:
                c.post(path, what, {"name": d.default_branch, "push_access_level": 40,
                                    "merge_access_level": 40, "allow_force_push": False})
                return {"protected": True}
            except GitLabError as e:
                if not e.taken:
                    raise
            rule = c.get(f"{path}/{enc(d.default_branch)}", what)
            if rule is None:
                raise GitLabError(f"{what}: GitLab said it exists but it cannot be read.", 409)
        patch = protection_patch(rule)
        if patch:
            try:
                after = c.patch(f"{path}/{enc(d.default_branch)}", what, patch)
                refused = not isinstance(after, dict) or bool(protection_patch(after))
            except GitLabError as e:
                if e.status not in (400, 422):
                    raise
                refused = True
            if refused:  # GitLab Free may refuse (or ignore) access-level lists in a PATCH: protect again
                c.delete(f"{path}/{enc(d.default_branch)}", what)
                c.post(path, what, {"name": d.default_branch, "push_access_level": 40,
                                    "merge_access_level": 40, "allow_force_push": False})
        return {"protected": True, "changed": bool(patch), "found": "already protected" if not patch else None}

    def _ci_config(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        """Point the project's CI configuration at Kominfo's install pipeline (or back to the default)."""
        pid = self._pid(ctx)
        path = change.after["ci_config_path"]
        project = self.client.put(f"/projects/{pid}", f"CI configuration path of {d.full_path}",
                                  {"ci_config_path": path})
        if (project.get("ci_config_path") or "") != path:
            raise GitLabError(f"GitLab did not keep the CI configuration path {path!r} of {d.full_path} "
                              f"(it answered {project.get('ci_config_path')!r}).", 400,
                              hint="Check that the token's user is a Maintainer of the project.")
        return {"project_id": pid, "ci_config_path": path}

    def _protected_tag(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        """Protect the release-tag pattern; a rule with other creators is removed and made again
        (GitLab has no PATCH for protected tags)."""
        from provision.gitlab.planner import tag_rule_view, wanted_tag_rule

        c = self.client
        pid = self._pid(ctx)
        path = f"/projects/{pid}/protected_tags"
        what = f"protection of tags {d.release_tags}"
        body = {"name": d.release_tags, "create_access_level": d.tag_create_level}
        rule = c.get(f"{path}/{enc(d.release_tags)}", what)
        if rule is not None and tag_rule_view(rule) == wanted_tag_rule(d):
            return {"protected": d.release_tags, "found": "already protected"}
        if rule is not None:
            c.delete(f"{path}/{enc(d.release_tags)}", what)
        try:
            c.post(path, what, body)
        except GitLabError as e:
            if not (e.taken or e.status == 422 and "taken" in str(e.body)):
                raise
            rule = c.get(f"{path}/{enc(d.release_tags)}", what)
            if rule is None or tag_rule_view(rule) != wanted_tag_rule(d):
                raise
        return {"protected": d.release_tags, "create_access_level": d.tag_create_level}

    def _member(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        pid = self._pid(ctx)
        uid, level = change.data["user_id"], change.data["level"]
        what = change.target.split(" ", 1)[1]
        if change.action == "create":
            try:
                c.post(f"/projects/{pid}/members", what, {"user_id": uid, "access_level": level})
                return {"user_id": uid, "access_level": level}
            except GitLabError as e:
                if not e.taken:
                    raise
            now = c.get(f"/projects/{pid}/members/{uid}", what)
            if now is not None and now.get("access_level") == level:
                return {"user_id": uid, "access_level": level, "found": "added meanwhile"}
        c.put(f"/projects/{pid}/members/{uid}", what, {"access_level": level})
        return {"user_id": uid, "access_level": level}

    def _deploy_key(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        pid = self._pid(ctx)
        if change.action == "delete":
            c.delete(f"/projects/{pid}/deploy_keys/{change.data['key_id']}", change.target)
            return {"key_id": change.data["key_id"], "removed": True}
        if change.action == "update":
            c.put(f"/projects/{pid}/deploy_keys/{change.data['key_id']}", change.target, {"can_push": False})
            return {"key_id": change.data["key_id"], "can_push": False}
        body = d.deploy_key
        if body is None:  # the project's own key, made now (provision/deploy_keys.py)
            from pathlib import Path

            from provision import deploy_keys

            body = deploy_keys.ensure(Path(d.deploy_key_new))
        key = c.post(f"/projects/{pid}/deploy_keys", change.target,
                     {"title": d.deploy_key_title, "key": body, "can_push": False})
        if key.get("can_push"):  # GitLab reused a key known elsewhere with its old setting
            c.put(f"/projects/{pid}/deploy_keys/{key['id']}", change.target, {"can_push": False})
        return {"key_id": key["id"], "fingerprint": key.get("fingerprint_sha256")}

    def _variable(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        c = self.client
        pid = self._pid(ctx)
        var = d.variables[change.data["key"]]
        body = {"value": var.value, "masked": var.masked, "protected": False, "variable_type": "env_var"}
        what = f"CI/CD variable {var.key}"
        if change.action == "create":
            try:
                c.post(f"/projects/{pid}/variables", what, {"key": var.key, "environment_scope": "*", **body})
                return {"key": var.key}
            except GitLabError as e:
                if not e.taken:
                    raise
        c.put(f"/projects/{pid}/variables/{enc(var.key)}", what, body, **{"filter[environment_scope]": "*"})
        return {"key": var.key}

    def _archive(self, change: Change, d: Desired, ctx: dict[str, Any]) -> dict[str, Any]:
        self.client.post(f"/projects/{change.data['project_id']}/archive", f"archiving {change.target}")
        return {"project_id": change.data["project_id"], "archived": True}
