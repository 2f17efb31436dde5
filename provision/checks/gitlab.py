"""GitLab checks: the request's project exists, is not archived unexpectedly, its default
branch is still protected (maintainers only, no force push), its CI configuration path is
still Kominfo's install pipeline, its release tags are protected, the deploy key is present
and read-only, and the members are as recorded. One more unit checks the installing runner
(protected, tagged, locked, no untagged jobs) where the token can see it.

The comparison is the GitLab provider's own plan (read-only: `Planner.make` never
writes): what `provision repo apply` would change is exactly what drifted. Each aspect
becomes one Result, so a JUnit report shows which one failed.
"""

from __future__ import annotations

import functools
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
    "gitlab.ci_config": "CI configuration path", "gitlab.protected_tag": "release tags protected",
}
ORDER = ["project", "default branch", "default branch protected", "CI configuration path", "release tags protected",
         "deploy key", "members", "CI/CD variables"]
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
        if action == "create" and change.target.endswith("(new, this project's own)"):
            return "the project has no deploy key of its own yet (`provision repo apply` makes it)"
        if action == "create":
            return f"{change.target.split(' deploy key ')[-1]} is missing"
        if action == "update":
            return "the deploy key can push (expected read-only)"
        return f"an old deploy key is still there ({change.target.split(' deploy key ')[-1]})"
    if kind == "gitlab.member":
        user = change.target.rsplit(" ", 1)[-1]
        now = (change.before or {}).get("role")
        return f"{user} is {now or 'not a member'}, expected {change.after.get('role')}"
    if kind == "gitlab.ci_config":
        now = (change.before or {}).get("ci_config_path") or ".gitlab-ci.yml (the project's own)"
        return f"the CI configuration path is {now}, expected {change.after.get('ci_config_path') or '.gitlab-ci.yml'}"
    if kind == "gitlab.protected_tag":
        pattern = change.target.rsplit(" ", 1)[-1]
        if change.before is None:
            return f"tags {pattern} are not protected"
        return f"tags {pattern} may be created by {change.before.get('create')}, expected {change.after.get('create')}"
    if kind == "gitlab.variable":
        return f"{change.target.rsplit(' ', 1)[-1]} differs"
    return f"{change.action} {change.target}"


def _project_unit(app: Any, client: Any, target: AppTarget, deadline: Deadline) -> list[Result]:
    return check_project(app, client, target)


def check_project(app: Any, client: Any, target: AppTarget) -> list[Result]:
    from provision.gitlab.desired import ROLE_OF, desired_state
    from provision.gitlab.info import project_info
    from provision.gitlab.planner import Planner, ProjectArchived

    rid = target.request_id
    if target.spec is None and target.legacy:
        return []  # an imported application: no project recorded to compare
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
        if aspect == "deploy key" and not (d.deploy_key or d.deploy_key_new):
            continue
        msgs = found.get(aspect)
        if not msgs:
            ok = {"project": f"{d.full_path} exists", "default branch": f"{d.default_branch}",
                  "default branch protected": f"{d.default_branch}: maintainers only, no force push",
                  "deploy key": "present, read-only", "members": f"{len(d.members)} members as recorded",
                  "CI configuration path": d.ci_config_path or ".gitlab-ci.yml (gitlab.ci_mode trigger)",
                  "release tags protected": f"{d.release_tags}: created by {ROLE_OF.get(d.tag_create_level, 'no one')}",
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
    units = [Unit(KIND, f"GitLab project of {t.request_id}", [t.request_id],
                  functools.partial(_project_unit, app, client, t), timeout, name="project") for t in targets]
    if targets:
        units.append(Unit(KIND, "GitLab installing runner", [t.request_id for t in targets],
                          lambda d: check_runners(app, client, targets), timeout, name="runner"))
    return units


def runner_problems(runner: dict[str, Any]) -> list[str]:
    """What makes a runner unfit to hold Kominfo's keys: it must run only protected refs,
    be locked, take no untagged jobs."""
    found = []
    if runner.get("access_level") != "ref_protected":
        found.append("not protected (it runs jobs of unprotected branches and tags)")
    if runner.get("is_shared") or runner.get("runner_type") == "instance_type":
        found.append("shared with every project")
    elif not runner.get("locked", True):
        found.append("not locked (other projects can enable it)")
    if runner.get("run_untagged"):
        found.append("runs untagged jobs")
    return found


def check_runners(app: Any, client: Any, targets: list[AppTarget]) -> list[Result]:
    """The runners tagged gitlab.runner_tag that the checked projects can use, as far as
    the token can see them (GET /projects/:id/runners needs Maintainer, GET /runners/:id
    the runner's owner or an admin)."""
    from provision.errors import AuthError
    from provision.gitlab.client import GitLabError, enc

    s = app.config.gitlab
    rid = targets[0].request_id if len(targets) == 1 else None
    ops = (s.ci_config or f"install.yml@{s.root_group.strip('/')}/ops/ci").partition("@")[2]
    where = [ops] if s.ci_mode == "trigger" else sorted(_project_paths(app, targets))
    seen: dict[int, dict[str, Any]] = {}
    unseen: list[str] = []
    for path in where:
        try:
            listed = client.list(f"/projects/{enc(path)}/runners", f"runners of {path}", tag_list=s.runner_tag)
        except (AuthError, GitLabError) as e:  # 403/404: the token cannot see them (unreachable: raised)
            if isinstance(e, GitLabError) and e.status not in (403, 404):
                raise
            unseen.append(path)
            continue
        for r in listed:
            if r["id"] not in seen:
                seen[r["id"]] = client.get(f"/runners/{r['id']}", f"runner {r['id']}") or r
    if not seen:
        why = f"the token cannot list the runners of {', '.join(unseen)}" if unseen else \
            f"no runner tagged {s.runner_tag} is visible to {', '.join(where) or 'the checked projects'}"
        return [warned(KIND, rid, "installing runner", why)]
    bad = {i: runner_problems(r) for i, r in seen.items()}
    msgs = [f"runner #{i} ({seen[i].get('description') or 'no description'}): {', '.join(p)}"
            for i, p in sorted(bad.items()) if p]
    if msgs:
        return [failed(KIND, rid, "installing runner", "; ".join(msgs))]
    return [passed(KIND, rid, "installing runner",
                   f"{len(seen)} runner(s) tagged {s.runner_tag}: protected, locked, tagged jobs only")]


def _project_paths(app: Any, targets: list[AppTarget]) -> list[str]:
    from provision.gitlab.info import project_info

    paths = []
    for t in targets:
        info = project_info(app, t.request_id) or {}
        if info.get("path") and not info.get("deleted") and not info.get("archived"):
            paths.append(str(info["path"]))
    return paths
