"""What the CI trust checks read: repository tags (with their commit), project runners, and
the job a CI job token belongs to (`GET /job`)."""

from __future__ import annotations

import secrets
from typing import Any

from .api_protected_tags import tag_is_protected
from .app import App
from .errors import ApiError, forbidden, not_found
from .models import MAINTAINER, Runner
from .routing import ROUTER, Paged, Request


def _tag_json(app: App, project_id: int, name: str, protected: bool) -> dict[str, Any] | None:
    repos = app.repos
    target = repos.git(project_id, "rev-parse", "--verify", "-q", f"refs/tags/{name}", check=False).decode().strip()
    sha = repos.resolve(project_id, f"refs/tags/{name}")
    if not target or not sha:
        return None
    commit = repos.commit(project_id, sha) or {"id": sha}
    return {"name": name, "target": target, "message": "", "protected": protected, "commit": commit}


@ROUTER.route("GET", "/projects/:id/repository/tags")
def list_tags(app: App, req: Request, id: str) -> Paged:
    project = app.find_project(req, id)
    if not app.state.can_read_code(req.user, project):
        raise forbidden()
    names = app.repos.git(project.id, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags").decode().split()
    found = [_tag_json(app, project.id, n, tag_is_protected(project, n)) for n in sorted(names, reverse=True)]
    return Paged([t for t in found if t is not None])


@ROUTER.route("GET", "/projects/:id/repository/tags/:name")
def get_tag(app: App, req: Request, id: str, name: str) -> dict[str, Any]:
    project = app.find_project(req, id)
    if not app.state.can_read_code(req.user, project):
        raise forbidden()
    found = _tag_json(app, project.id, name, tag_is_protected(project, name))
    if found is None:
        raise not_found("Tag")
    return found


def runner_json(runner: Runner, detail: bool = False, app: App | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": runner.id, "description": runner.description, "active": runner.active,
                            "paused": not runner.active, "is_shared": False, "runner_type": "project_type",
                            "name": "gitlab-runner", "online": True, "status": "online"}
    if detail and app is not None:
        st = app.state
        data.update({"tag_list": list(runner.tag_list), "access_level": runner.access_level, "locked": runner.locked,
                     "run_untagged": runner.run_untagged,
                     "projects": [{"id": pid, "path_with_namespace": st.project_full_path(st.projects[pid])}
                                  for pid in runner.project_ids if pid in st.projects]})
    return data


@ROUTER.route("GET", "/projects/:id/runners")
def project_runners(app: App, req: Request, id: str) -> Paged:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=False)
    runners = [r for r in app.state.runners.values() if project.id in r.project_ids]
    wanted = [t for t in req.query.get("tag_list", "").split(",") if t]
    runners = [r for r in runners if all(t in r.tag_list for t in wanted)]
    return Paged([runner_json(r) for r in runners])


@ROUTER.route("GET", "/runners/:rid")
def get_runner(app: App, req: Request, rid: str) -> dict[str, Any]:
    runner = app.state.runners.get(int(rid)) if rid.isdigit() else None
    if runner is None:
        raise not_found("Runner")
    is_admin = req.user is not None and req.user.is_admin
    owns = any(app.state.project_level(req.user, app.state.projects[p]) >= MAINTAINER
               for p in runner.project_ids if p in app.state.projects)
    if not (is_admin or owns):
        raise forbidden()
    return runner_json(runner, detail=True, app=app)



@ROUTER.route("GET", "/job")
def current_job(app: App, req: Request) -> dict[str, Any]:
    """The job a CI_JOB_TOKEN belongs to (`JOB-TOKEN` header), as GitLab's Jobs API answers it."""
    token = req.headers.get("job-token") or req.query.get("job_token") or ""
    found = next((p for p in app.pipelines if token and secrets.compare_digest(p.job_token, token)), None)
    if found is None:
        raise ApiError(401, {"message": "401 Unauthorized"})
    commit = app.repos.commit(found.project_id, found.sha) or {"id": found.sha}
    user = app.state.user_by_username(found.user) if found.user else None
    return {"id": found.id, "name": "deploy-staging", "stage": "deploy", "status": "running", "ref": found.ref,
            "tag": found.tag, "commit": commit, "web_url": f"{app.web_url}/{found.project_path}/-/jobs/{found.id}",
            "pipeline": {"id": found.id, "project_id": found.project_id, "ref": found.ref, "sha": found.sha,
                         "status": "running", "source": found.source},
            "user": {"id": user.id, "username": user.username} if user else None}
