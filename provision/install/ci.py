"""Who a CI install is for: what `provision install` checks when it runs in GitLab CI (CI=true).

A job's predefined variables (CI_PROJECT_PATH, CI_COMMIT_TAG, ...) can be overridden by the
project's own CI/CD variables (GitLab's variable precedence), and the project's maintainers
are the vendor. So no variable is believed on its own (docs/ci.md):

1. GitLab is asked which job this is, with the job's CI_JOB_TOKEN (`GET /job`): the
   project its pipeline belongs to, the ref, whether it is a tag, the commit. Every
   predefined variable that names one of them must agree.
2. The request is the one whose recorded GitLab project (the audit log of
   `provision repo apply`) is that project: never PROVISION_REQUEST or another variable.
   REQ on the command line and PROVISION_REQUEST are refused when they name another request.
3. The ref is a tag, protected (CI_COMMIT_REF_PROTECTED, and the project's protected-tag
   rules read with the toolkit's own token), its commit is the pipeline's, and --ref is it.
4. With gitlab.ci_mode = config_path, the project's CI configuration path is still
   Kominfo's file (a maintainer who changed it runs their own file, not this one; the check
   is for the record, and `provision check` reports the change).

With gitlab.ci_mode = trigger the job runs in the operations project: the project, tag and
commit are the trigger's KOMINFO_UPSTREAM_* variables, which the vendor's job sets, so only
GitLab's answers to the toolkit's token count (3) and the job must come from a trigger.

`ci_job(app, environ, request_id, ref)` returns None outside CI and a CiJob otherwise;
every refusal is a CiRefused (exit 2) before anything is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provision.errors import Unreachable, UsageError


class CiRefused(UsageError):
    """A CI job that cannot prove which project and protected tag it installs."""


@dataclass(frozen=True)
class CiJob:
    request_id: str
    project_path: str
    project_id: int
    tag: str
    sha: str
    mode: str

    def as_dict(self) -> dict[str, Any]:
        return {"request": self.request_id, "project": self.project_path, "project_id": self.project_id,
                "tag": self.tag, "commit": self.sha, "mode": self.mode}


def _refuse(what: str, hint: str | None = None) -> CiRefused:
    return CiRefused(f"CI install refused: {what}", hint or "The install pipeline runs only for a protected release "
                     "tag of the project recorded for the request; see docs/ci.md.")


def under_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").lower() == "true"


def request_for_project(app: Any, project_path: str, project_id: int | None) -> tuple[str, dict[str, Any]]:
    """The one request whose recorded GitLab project is `project_path` (and id, when known)."""
    from provision.gitlab.info import project_info

    found = []
    for row in app.requests.list():
        info = project_info(app, row["id"])
        if info and not info.get("deleted") and str(info.get("path") or "").lower() == project_path.lower():
            found.append((row["id"], info))
    if not found:
        raise _refuse(f"no request has the GitLab project {project_path} recorded.",
                      "Run `provision repo apply REQ` for the request first; only projects the toolkit "
                      "manages can install.")
    if len(found) > 1:
        raise _refuse(f"several requests record the GitLab project {project_path}: "
                      f"{', '.join(r for r, _ in found)}.", "Close the stale request(s).")
    rid, info = found[0]
    if project_id is not None and int(info["project_id"]) != project_id:
        raise _refuse(f"the pipeline's project id {project_id} is not the recorded project "
                      f"{info['project_id']} of {rid} ({project_path}).")
    return rid, info


def _job_identity(app: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    """GitLab's own answer to "which job is this" for the job's CI_JOB_TOKEN."""
    import gitlab
    import requests

    from provision.secrets import REDACTOR

    token = environ.get("CI_JOB_TOKEN", "")
    if not token:
        raise _refuse("CI_JOB_TOKEN is not set, so GitLab cannot say which job this is.")
    REDACTOR.add(token)
    s = app.config.gitlab
    gl = gitlab.Gitlab(s.url.rstrip("/"), job_token=token, timeout=s.timeout, ssl_verify=s.ca_bundle or True,
                       keep_base_url=True)
    try:
        job = gl.http_get("/job")
    except gitlab.exceptions.GitlabAuthenticationError:
        raise _refuse("GitLab does not recognise the job's CI_JOB_TOKEN (a variable may have replaced it).") from None
    except gitlab.exceptions.GitlabError as e:
        raise _refuse(f"GitLab answered {e.response_code} for the job's CI_JOB_TOKEN.") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
        raise Unreachable(f"GitLab at {s.url} could not be reached to identify the job ({type(e).__name__}).",
                          "Check gitlab.url from the runner; nothing was installed.") from e
    if not isinstance(job, dict) or not isinstance(job.get("pipeline"), dict):
        raise _refuse("GitLab's answer for the job has no pipeline.")
    return job


def _agree(environ: Mapping[str, str], name: str, truth: str) -> None:
    value = environ.get(name)
    if value is not None and value != truth:
        raise _refuse(f"{name} is {value!r} but GitLab says the job's is {truth!r} "
                      "(a project variable overrides it).")


def ci_job(app: Any, environ: Mapping[str, str], request_id: str | None, ref: str) -> CiJob | None:
    """The checked identity of a CI install, or None when not under CI. Raises CiRefused."""
    if not under_ci(environ):
        return None
    from provision.gitlab.client import GitLabClient, enc

    s = app.config.gitlab
    ops_file, _, ops_project = (s.ci_config or f"install.yml@{s.root_group.strip('/')}/ops/ci").partition("@")
    job = _job_identity(app, environ)
    pipeline = job["pipeline"]
    client = GitLabClient.from_config(app.config)
    job_project = client.get(f"/projects/{int(pipeline['project_id'])}", "the job's project")
    if job_project is None:
        raise _refuse(f"the job's project {pipeline['project_id']} cannot be read with the toolkit's token.")
    job_path = str(job_project.get("path_with_namespace"))
    _agree(environ, "CI_PROJECT_PATH", job_path)
    _agree(environ, "CI_PROJECT_ID", str(job_project["id"]))
    if s.ci_mode == "trigger" and job_path.lower() == ops_project.lower():
        if pipeline.get("source") != "pipeline":
            raise _refuse(f"a job of the operations project {ops_project} installs only when a release tag "
                          f"triggered it (its pipeline source is {pipeline.get('source')!r}).")
        project_path = environ.get("KOMINFO_UPSTREAM_PROJECT", "")
        tag = environ.get("KOMINFO_UPSTREAM_TAG", "")
        sha = environ.get("KOMINFO_UPSTREAM_SHA", "")
        if not (project_path and tag and sha):
            raise _refuse("a triggered install needs KOMINFO_UPSTREAM_PROJECT, _TAG and _SHA.")
        project_id = None
    else:
        if not job.get("tag"):
            raise _refuse(f"the job runs for the branch {job.get('ref')!r}, not for a release tag.")
        project_path, tag, sha = job_path, str(job.get("ref")), str(pipeline.get("sha"))
        project_id = int(job_project["id"])
        _agree(environ, "CI_COMMIT_TAG", tag)
        _agree(environ, "CI_COMMIT_SHA", sha)
        if environ.get("CI_COMMIT_REF_PROTECTED") != "true":
            raise _refuse(f"the tag {tag} is not protected (CI_COMMIT_REF_PROTECTED is "
                          f"{environ.get('CI_COMMIT_REF_PROTECTED')!r}).",
                          f"Release tags must match the protected pattern {s.release_tags}; "
                          "`provision repo apply` protects it.")
        wanted = f"{ops_file}@{ops_project}"
        if s.ci_mode == "config_path" and (job_project.get("ci_config_path") or "") != wanted:
            raise _refuse(f"the CI configuration path of {job_path} is "
                          f"{job_project.get('ci_config_path') or '.gitlab-ci.yml'!r}, not Kominfo's {wanted}.",
                          "Run `provision repo apply REQ` to restore it, and find out who changed it.")
    rid, info = request_for_project(app, project_path, project_id)
    for what, claimed in (("REQ", request_id), ("PROVISION_REQUEST", environ.get("PROVISION_REQUEST"))):
        if claimed and claimed != rid:
            raise _refuse(f"{what} is {claimed} but the pipeline's project {project_path} is recorded for {rid}.",
                          "The request is found from the project; the install never takes it from a variable.")
    if ref != tag:
        raise _refuse(f"--ref {ref!r} is not the pipeline's tag {tag!r}.")
    pid = int(info["project_id"])
    found = client.get(f"/projects/{pid}/repository/tags/{enc(tag)}", f"tag {tag}")
    if found is None or str((found.get("commit") or {}).get("id")) != sha:
        raise _refuse(f"the tag {tag} of {project_path} is not at the pipeline's commit {sha[:12]} "
                      f"(GitLab has {((found or {}).get('commit') or {}).get('id', 'no such tag')}).")
    from provision.gitlab.planner import tag_matches

    rules = [r.get("name", "") for r in client.list(f"/projects/{pid}/protected_tags", "protected tags")]
    if not any(tag_matches(rule, tag) for rule in rules):
        raise _refuse(f"GitLab does not protect the tag {tag} of {project_path} "
                      f"(protected tag rules: {', '.join(rules) or 'none'}).",
                      f"Run `provision repo apply {rid}` to protect {s.release_tags}.")
    return CiJob(rid, project_path, pid, tag, sha, s.ci_mode)


def project_of_pipeline(app: Any, environ: Mapping[str, str]) -> str:
    """The project a pipeline says it is for (only to find the request; `ci_job` then proves it)."""
    s = app.config.gitlab
    ops_project = (s.ci_config or f"install.yml@{s.root_group.strip('/')}/ops/ci").partition("@")[2]
    path = environ.get("CI_PROJECT_PATH", "")
    if s.ci_mode == "trigger" and path.lower() == ops_project.lower():
        path = environ.get("KOMINFO_UPSTREAM_PROJECT", "")
    if not path:
        raise _refuse("CI_PROJECT_PATH is not set, so the request cannot be found from the project.")
    return path
