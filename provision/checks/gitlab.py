"""GitLab checks: the request's project exists, is not archived unexpectedly, its default
branch is still protected (maintainers only, no force push), the deploy key is present
and read-only, and the members are as recorded.

The comparison is the GitLab provider's own plan (read-only: `Planner.make` never
writes): what `provision repo apply` would change is exactly what drifted. Each aspect
becomes one Result, so a JUnit report shows which one failed.
"""

from __future__ import annotations

from typing import Any

from provision.checks.results import Result, failed, passed, warned
from provision.checks.runner import Deadline, Unit
from provision.checks.targets import AppTarget
from provision.errors import ProvisionError

KIND = "gitlab"
ASPECTS = {
    "gitlab.group": "project", "gitlab.project": "project", "gitlab.seed": "project",
    "gitlab.default_branch": "default branch", "gitlab.protected_branch": "default branch protected",
    "gitlab.deploy_key": "deploy key", "gitlab.member": "members", "gitlab.variable": "CI/CD variables",
}
ORDER = ["project", "default branch", "default branch protected", "deploy key", "members", "CI/CD variables"]
WARN_ONLY = {"CI/CD variables"}


def _describe(change: Any) -> str:
    kind, action = change.kind, change.action
    if kind in ("gitlab.project", "gitlab.group") and action == "create":
        return f"{change.target} does not exist"
    if kind == "gitlab.project":
        return f"settings changed: {change.before} (recorded {change.after})"
    if kind == "gitlab.seed":
        return f"{change.target}: the repository is empty"
    if kind == "gitlab.protected_branch":
        branch = change.target.rsplit(" ", 1)[-1]
        if change.before is None:
            return f"branch {branch} is not protected"
        return f"branch {branch} protection is {change.before}, expected maintainers only and no force push"
    if kind == "gitlab.default_branch":
        return f"the default branch is {change.before.get('default_branch')}, expected {change.after.get('default_branch')}"
    if kind == "gitlab.deploy_key":
        if action == "create":
            return f"{change.target.split(' deploy key ')[-1]} is missing"
        if action == "update":
            return "the deploy key can push (expected read-only)"
        return f"an old deploy key is still there ({change.target.split(' deploy key ')[-1]})"
    if kind == "gitlab.member":
        user = change.target.rsplit(" ", 1)[-1]
        now = (change.before or {}).get("role")
        return f"{user} is {now or 'not a member'}, expected {change.after.get('role')}"
    if kind == "gitlab.variable":
        return f"{change.target.rsplit(' ', 1)[-1]} differs"
    return f"{change.action} {change.target}"


def check_project(app: Any, client: Any, target: AppTarget) -> list[Result]:
    from provision.gitlab.desired import desired_state
    from provision.gitlab.info import project_info
    from provision.gitlab.planner import Planner, ProjectArchived

    rid = target.request_id
    if target.spec is None:
        return [failed(KIND, rid, "project", f"cannot check: no valid spec ({target.spec_error or 'none set'})")]
    d = desired_state(target.request, target.spec, app.config)
    try:
        plan = Planner(client, d).make()
    except ProjectArchived as e:
        info = project_info(app, rid) or {}
        if info.get("archived") or info.get("deleted"):
            return [passed(KIND, rid, "project", f"{d.full_path} is archived, as recorded")]
        return [failed(KIND, rid, "project", f"{e.message.rstrip('.')} but the records say it is active")]
    found: dict[str, list[str]] = {}
    for c in plan.changes:
        found.setdefault(ASPECTS.get(c.kind, c.kind), []).append(_describe(c))
    out: list[Result] = []
    if "project" in found and any("does not exist" in m for m in found["project"]):
        return [failed(KIND, rid, "project", f"{d.full_path} does not exist on GitLab")]
    for aspect in ORDER:
        if aspect == "deploy key" and not d.deploy_key:
            continue
        msgs = found.get(aspect)
        if not msgs:
            ok = {"project": f"{d.full_path} exists", "default branch": f"{d.default_branch}",
                  "default branch protected": f"{d.default_branch}: maintainers only, no force push",
                  "deploy key": "present, read-only", "members": f"{len(d.members)} members as recorded",
                  "CI/CD variables": f"{len(d.variables)} as recorded"}[aspect]
            out.append(passed(KIND, rid, aspect, ok))
        elif aspect in WARN_ONLY:
            out.append(warned(KIND, rid, aspect, "; ".join(msgs)))
        else:
            out.append(failed(KIND, rid, aspect, "; ".join(msgs)))
    return out


def gitlab_units(app: Any, targets: list[AppTarget], timeout: float) -> list[Unit]:
    from provision.gitlab.client import GitLabClient

    try:
        client = GitLabClient.from_config(app.config)
        client.gl.timeout = min(app.config.gitlab.timeout, timeout)
        client.max_retries = min(client.max_retries, 1)
        # requests keeps 10 connections per host by default: with more workers than that,
        # every extra call would open (and drop) a connection of its own.
        import requests.adapters

        size = max(10, app.config.checks.concurrency)
        for prefix in ("http://", "https://"):
            client.gl.session.mount(prefix, requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=size))
    except ProvisionError as e:
        msg = str(e)

        def broken(d: Deadline) -> list[Result]:
            raise ProvisionError(msg)
        return [Unit(KIND, "GitLab", [t.request_id for t in targets], broken, timeout, name="project")]
    return [Unit(KIND, f"GitLab project of {t.request_id}", [t.request_id],
                 lambda d, t=t: check_project(app, client, t), timeout, name="project") for t in targets]
