"""Who may push to a branch: GitLab's protected-branch rules, shared by the files API and git pushes."""

from __future__ import annotations

from .api_protected import rules_for
from .app import App
from .models import ADMIN, DEVELOPER, NO_ACCESS, AccessLevel, Project, User


def _entry_allows(entry: AccessLevel, level: int, user: User | None, deploy_key_id: int | None) -> bool:
    if entry.deploy_key_id is not None:
        return deploy_key_id == entry.deploy_key_id
    if entry.user_id is not None:
        return user is not None and user.id == entry.user_id
    if entry.access_level == NO_ACCESS:
        return False
    if entry.access_level == ADMIN:
        return level >= ADMIN
    return level >= entry.access_level


def push_denied(app: App, project: Project, branch: str, user: User | None, deploy_key_id: int | None = None,
                force: bool = False, delete: bool = False) -> str | None:
    """The reason a push to `branch` is refused, or None if it is allowed."""
    level = app.state.project_level(user, project) if user is not None else 0
    rules = rules_for(project, branch)
    if not rules:
        if deploy_key_id is not None:
            return None
        return None if level >= DEVELOPER else "You are not allowed to push code to this project."
    if delete:
        return "You can only delete protected branches using the web interface."
    if force and not any(r.allow_force_push for r in rules):
        return "You are not allowed to force push code to a protected branch on this project."
    for rule in rules:
        if any(_entry_allows(e, level, user, deploy_key_id) for e in rule.push_access_levels):
            return None
    if deploy_key_id is not None:
        return f"You are not allowed to push code to protected branches on this project. ({branch})"
    return "You are not allowed to push into this branch"
