"""`provision repo ...`: SOP step 11, the application's source repository on GitLab."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import (
    change_options,
    check_checksum,
    command,
    confirm_apply,
    json_option,
    print_document,
    print_json,
    render_plan,
)
from provision.cli.params import CHECKSUM, REASON
from provision.errors import RequestClosed, UsageError


@click.group("repo")
def repo_cmd() -> None:
    """Step 11: the application's GitLab repository (plan, apply, show, archive, delete).

    \b
    Example:
      provision repo plan REQ-2026-0001
      provision repo apply REQ-2026-0001 --yes
    """


def _load(app: Any, request_id: str, writing: bool) -> tuple[Any, Any, Any]:
    from provision.gitlab import GitLabProvider

    request = app.requests.get(request_id)
    if writing and request.status != "open":
        raise RequestClosed(f"request {request_id} is closed; it refuses changes.")
    spec = app.specs.get(request_id)
    return GitLabProvider.from_config(app.config), request, spec


def _show(plan: Any, as_json: bool) -> None:
    if not as_json:
        click.echo(render_plan(plan))


def _apply(app: Any, provider: Any, plan: Any, what: str, as_json: bool, dry_run: bool, yes: bool,
           remember: bool = False, checksum: str | None = None) -> int:
    from provision.gitlab.info import remember_project

    check_checksum(plan, checksum)
    facts = plan.meta.get("project")
    if dry_run or plan.empty:
        if as_json:
            print_document(plan)
        if remember and plan.empty and facts and not dry_run:
            remember_project(app, plan.request_id, facts)
        return 0
    confirm_apply(what, yes)
    report = provider.apply(plan, app.audit)
    if remember:  # what later steps need to find the project
        remember_project(app, plan.request_id, report.details.get("project") or facts)
    if as_json:
        print_document(plan, report.as_dict())
    else:
        url = (report.details.get("project") or facts or {}).get("web_url")
        click.echo(f"Applied {len(report.applied)} changes." + (f" Project: {url}" if url else ""))
    return 0


@repo_cmd.command("plan")
@click.argument("request_id", metavar="REQ")
@json_option
@command(request_arg="request_id")
def plan_(app: Any, request_id: str, as_json: bool) -> int:
    """Show what `repo apply` would change on GitLab; changes nothing.

    \b
    Example:
      provision repo plan REQ-2026-0001 --json
    """
    provider, request, spec = _load(app, request_id, writing=False)
    plan = provider.plan(request, spec)
    if as_json:
        print_json(plan.as_dict())
    else:
        _show(plan, False)
    return 0


@repo_cmd.command("apply")
@click.argument("request_id", metavar="REQ")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
              help="Apply only if the plan is still the one reviewed (the checksum `repo plan` shows).")
@change_options
@command(request_arg="request_id", locks=True)
def apply(app: Any, request_id: str, checksum: str | None, as_json: bool, dry_run: bool, yes: bool) -> int:
    """Create or repair the request's repository: group, project, seed files, protected
    default branch, members, read-only deploy key, CI/CD variables.

    \b
    Example:
      provision repo apply REQ-2026-0001 --yes
      provision repo apply REQ-2026-0001 --checksum 3f2a9c0d1e4b5a69 --yes
    """
    provider, request, spec = _load(app, request_id, writing=True)
    plan = provider.plan(request, spec)
    _show(plan, as_json)
    return _apply(app, provider, plan, "the GitLab plan", as_json, dry_run, yes, remember=True,
                  checksum=checksum)


@repo_cmd.command("show")
@click.argument("request_id", metavar="REQ")
@click.option("--documents", is_flag=True,
              help="Also ask GitLab which seeded files are still placeholders (step 13).")
@json_option
@command(request_arg="request_id")
def show(app: Any, request_id: str, documents: bool, as_json: bool) -> int:
    """Where the request's project is, as recorded by `repo apply` (no GitLab call
    unless --documents).

    \b
    Example:
      provision repo show REQ-2026-0001 --documents
    """
    from provision.errors import NotFound
    from provision.gitlab.info import document_status, project_info

    app.requests.get(request_id)
    info = project_info(app, request_id)
    if info is None:
        raise NotFound(f"no GitLab project is recorded for {request_id}.",
                       f"Create it with: provision repo apply {request_id}")
    if documents:
        info["documents"] = document_status(app, request_id)
    if as_json:
        print_json(info)
    else:
        for key in ("path", "web_url", "http_url", "ssh_url", "default_branch", "project_id"):
            click.echo(f"{key}: {info.get(key)}")
        for flag in ("archived", "deleted"):
            if info.get(flag):
                click.echo(f"{flag}: yes")
        for path, state in (info.get("documents") or {}).items():
            click.echo(f"document {path}: {state}")
    return 0


_CHECKSUM_HELP = "Apply only if the plan is still the one reviewed (the checksum --dry-run shows)."


@repo_cmd.command("archive")
@click.argument("request_id", metavar="REQ")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX", help=_CHECKSUM_HELP)
@change_options
@command(request_arg="request_id", locks=True)
def archive(app: Any, request_id: str, checksum: str | None, as_json: bool, dry_run: bool, yes: bool) -> int:
    """Archive the request's project (read-only on GitLab; kept for the record).

    \b
    Example:
      provision repo archive REQ-2026-0001 --yes
    """
    provider, request, spec = _load(app, request_id, writing=False)
    plan = provider.plan_archive(request, spec)
    _show(plan, as_json)
    return _apply(app, provider, plan, "the archive", as_json, dry_run, yes, checksum=checksum)


@repo_cmd.command("rotate-key")
@click.argument("request_id", metavar="REQ")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX", help=_CHECKSUM_HELP)
@change_options
@command(request_arg="request_id", locks=True)
def rotate_key(app: Any, request_id: str, checksum: str | None, as_json: bool, dry_run: bool, yes: bool) -> int:
    """Replace the project's own deploy key: add a new one (read-only), remove the old one
    from GitLab. The servers get the new key at their next install.

    
    Example:
      provision repo rotate-key REQ-2026-0001 --dry-run
      provision repo rotate-key REQ-2026-0001 --yes
    """
    from provision import deploy_keys
    from provision.gitlab.desired import fingerprint

    provider, request, spec = _load(app, request_id, writing=False)
    plan = provider.plan_key_rotation(request, spec)
    _show(plan, as_json)
    code = _apply(app, provider, plan, "the key rotation", as_json, dry_run, yes, checksum=checksum)
    state = app.config.state_dir
    following = deploy_keys.pending_next(state, request_id)
    if not dry_run and following is not None:
        deploy_keys.promote_next(state, request_id)
        app.audit.record("gitlab", "rotate-key", f"{request_id} deploy key", {"fingerprint": fingerprint(following)})
        if not as_json:
            click.echo(f"The deploy key of {request_id} is now {fingerprint(following)}; the old one is "
                       "removed from GitLab. Each server gets the new key at its next install "
                       f"(provision install {request_id} --env ENV).")
    return code


@repo_cmd.command("delete")
@click.argument("request_id", metavar="REQ")
@click.option("--purge", is_flag=True, help="Really delete the project (archive keeps it).")
@click.option("--force", is_flag=True, help="Confirm that deleting is intended.")
@click.option("--reason", type=REASON, default=None, help="Why (required; logged).")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX", help=_CHECKSUM_HELP)
@change_options
@command(request_arg="request_id", locks=True)
def delete(app: Any, request_id: str, purge: bool, force: bool, reason: str | None, checksum: str | None,
           as_json: bool, dry_run: bool, yes: bool) -> int:
    """Delete the request's project from GitLab: needs --purge --force --reason.

    \b
    Example:
      provision repo delete REQ-2026-0001 --purge --force --reason "Permohonan dibatalkan"
    """
    missing = [flag for flag, given in (("--purge", purge), ("--force", force),
                                        ("--reason TEXT", bool(reason and reason.strip()))) if not given]
    if missing:
        raise UsageError(f"deleting a repository needs {', '.join(missing)}; nothing was deleted.",
                         f"To keep it read-only instead: provision repo archive {request_id}")
    provider, request, spec = _load(app, request_id, writing=False)
    plan = provider.plan_delete(request, spec, str(reason))
    _show(plan, as_json)
    return _apply(app, provider, plan, "the deletion", as_json, dry_run, yes, checksum=checksum)
