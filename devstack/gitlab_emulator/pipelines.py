"""A small pipeline simulation: which CI configuration a push would run, with which variables.

GitLab decides a pipeline's configuration from the project's `ci_config_path`: empty means the
project's own `.gitlab-ci.yml` at the pushed commit; `FILE@GROUP/PROJECT[:REF]` means FILE in
that other project (its default branch unless REF); a plain path means that file in the
project itself. The job's variables are GitLab's predefined ones, overridden by the
project's CI/CD variables (GitLab's documented precedence: project variables above
predefined ones; protected variables only on protected refs).

Nothing runs here: a test runs the configuration (`gitlab-ci-local`) with these variables.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .models import Project, User

if TYPE_CHECKING:
    from .app import App


@dataclass
class Pipeline:
    id: int
    project_path: str
    ref: str
    sha: str
    tag: bool
    protected: bool
    config_project: str  # the full path of the project whose file runs
    config_file: str
    config_ref: str
    content: str | None  # None: no such file, so no pipeline would be created
    variables: dict[str, str] = field(default_factory=dict)
    source: str = "push"
    project_id: int = 0
    job_token: str = ""  # CI_JOB_TOKEN: GET /job answers with this pipeline's job
    user: str | None = None


def config_location(app: App, project: Project, sha: str) -> tuple[Project | None, str, str, str]:
    """(project holding the file, its full path, file path, ref) for a pipeline at `sha`."""
    st = app.state
    path = project.ci_config_path or ".gitlab-ci.yml"
    if "@" not in path:
        return project, st.project_full_path(project), path, sha
    file, _, rest = path.partition("@")
    other_path, _, ref = rest.partition(":")
    other = st.project_by_path(other_path)
    if other is None:
        return None, other_path, file, ref
    return other, st.project_full_path(other), file, ref or app.repos.head_branch(other.id)


def _slug(ref: str) -> str:
    return re.sub(r"[^a-z0-9]", "-", ref.lower())[:63].strip("-")


def predefined(app: App, project: Project, ref: str, sha: str, tag: bool, protected: bool, user: User | None,
               pipeline_id: int) -> dict[str, str]:
    st = app.state
    full = st.project_full_path(project)
    ns_path = full.rpartition("/")[0]
    url = app.web_url
    values = {
        "CI": "true", "GITLAB_CI": "true", "CI_SERVER_URL": url, "CI_API_V4_URL": f"{url}/api/v4",
        "CI_PROJECT_ID": str(project.id), "CI_PROJECT_PATH": full, "CI_PROJECT_NAME": project.path,
        "CI_PROJECT_NAMESPACE": ns_path, "CI_PROJECT_URL": f"{url}/{full}", "CI_PROJECT_VISIBILITY": project.visibility,
        "CI_DEFAULT_BRANCH": app.repos.head_branch(project.id), "CI_CONFIG_PATH": project.ci_config_path or ".gitlab-ci.yml",
        "CI_COMMIT_SHA": sha, "CI_COMMIT_SHORT_SHA": sha[:8], "CI_COMMIT_REF_NAME": ref, "CI_COMMIT_REF_SLUG": _slug(ref),
        "CI_COMMIT_REF_PROTECTED": "true" if protected else "false", "CI_PIPELINE_SOURCE": "push",
        "CI_PIPELINE_ID": str(pipeline_id),
    }
    values["CI_COMMIT_TAG" if tag else "CI_COMMIT_BRANCH"] = ref
    if user is not None:
        values.update({"GITLAB_USER_LOGIN": user.username, "GITLAB_USER_ID": str(user.id), "GITLAB_USER_EMAIL": user.email})
    return values


def simulate(app: App, project: Project, ref: str, sha: str, tag: bool, user: User | None) -> Pipeline:
    """The pipeline a push of `ref` (at `sha`) to `project` would create."""
    from .api_protected import rules_for
    from .api_protected_tags import tag_is_protected

    protected = tag_is_protected(project, ref) if tag else bool(rules_for(project, ref))
    holder, holder_path, file, cref = config_location(app, project, sha)
    content = None
    if holder is not None and app.state.can_read_code(user, holder) if user is not None else holder is not None:
        entry = app.repos.entry(holder.id, cref, file) if app.repos.resolve(holder.id, cref) else None
        if entry is not None and entry[1] == "blob":
            content = app.repos.blob(holder.id, entry[2]).decode()
    pid = app.state.next_id("pipeline")
    variables = predefined(app, project, ref, sha, tag, protected, user, pid)
    job_token = "glcbt-" + secrets.token_hex(16)
    variables["CI_JOB_TOKEN"] = job_token
    for var in project.variables:  # project variables take precedence over predefined ones
        if var.environment_scope == "*" and (protected or not var.protected):
            variables[var.key] = var.value
    pipeline = Pipeline(pid, app.state.project_full_path(project), ref, sha, tag, protected, holder_path, file, cref,
                        content, variables, project_id=project.id, job_token=job_token,
                        user=user.username if user is not None else None)
    app.pipelines.append(pipeline)
    return pipeline
