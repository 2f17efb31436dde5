"""What later steps need to find a request's project, kept in the audit log.

`project_info(app, request_id)` reads back the newest facts (project id, path, web URL,
clone URLs, default branch, the seed files' blob ids) that `repo apply` recorded.
"""

from __future__ import annotations

import json
from typing import Any

from provision.audit import read_events

FACTS = ("project_id", "path", "web_url", "http_url", "ssh_url", "default_branch")


def project_info(app: Any, request_id: str) -> dict[str, Any] | None:
    """The request's GitLab project as last seen by `repo` commands, or None if never seen.

    Keys: project_id, path, web_url, http_url, ssh_url, default_branch; `seed_files`
    (path -> blob id seeded) when the toolkit seeded it; `archived`/`deleted` when it did that.
    """
    info: dict[str, Any] | None = None
    for ev in read_events(app.store, request_id):
        if ev.provider != "gitlab" or ev.outcome not in ("succeeded", "recorded") or not ev.after:
            continue
        after = json.loads(ev.after)
        if not isinstance(after, dict) or "project_id" not in after:
            continue
        if all(k in after for k in ("project_id", "web_url")):
            prev = info or {}
            info = {**{k: after.get(k) for k in FACTS}, **{k: prev[k] for k in ("seed_files",) if k in prev
                                                           and prev.get("project_id") == after["project_id"]}}
        elif info is not None and after["project_id"] == info.get("project_id"):
            if after.get("seeded"):
                info["seed_files"] = after.get("files", {})
            for flag in ("archived", "deleted"):
                if after.get(flag):
                    info[flag] = True
    return info


def remember_project(app: Any, request_id: str, facts: dict[str, Any] | None) -> bool:
    """Record the project's facts unless the log already holds exactly these; True if recorded."""
    if not facts or "project_id" not in facts:
        return False
    now = project_info(app, request_id) or {}
    wanted = {k: facts.get(k) for k in FACTS}
    if {k: now.get(k) for k in FACTS} == wanted and not now.get("deleted"):
        return False
    app.audit.record("gitlab", "found", str(facts.get("path")), after=wanted, request_id=request_id)
    return True


def document_status(app: Any, request_id: str, client: Any = None) -> dict[str, str]:
    """For each file the toolkit seeded: "placeholder" (still what was seeded), "changed"
    (the developer wrote it) or "missing", on the project's default branch. One HEAD call
    per file; for step 13, to see which documents the developer has delivered.
    """
    from provision.errors import NotFound
    from provision.gitlab.client import GitLabClient, enc

    info = project_info(app, request_id)
    if not info or not info.get("seed_files"):
        raise NotFound(f"no seeded GitLab project is recorded for {request_id}.",
                       f"Create it with: provision repo apply {request_id}")
    c = client or GitLabClient.from_config(app.config)
    status: dict[str, str] = {}
    for path, seeded in info["seed_files"].items():
        headers = c.head(f"/projects/{info['project_id']}/repository/files/{enc(path)}", f"file {path}",
                         ref=info.get("default_branch") or "main")
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        status[path] = ("missing" if headers is None else
                        "placeholder" if lower.get("x-gitlab-blob-id") == seeded else "changed")
    return status
