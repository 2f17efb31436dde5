"""`provision install` and `provision rollback` (SOP step 14, and CI deploys on tags)."""

from __future__ import annotations

import sys
from typing import Any

import click

from provision.cli.common import (
    State,
    change_options,
    check_checksum,
    command,
    confirm_apply,
    print_document,
    print_json,
)
from provision.cli.params import CHECKSUM, COMMIT, REF

ENV_CHOICE = click.Choice(["staging", "production"])
_COLOURS = {"changed": "yellow", "failed": "red", "unreachable": "red", "ok": "green"}


def progress_printer(quiet: bool) -> Any:
    """One line per task result on stderr: coloured on a terminal, plain in CI logs."""
    tty = sys.stderr.isatty()

    def show(ev: Any) -> None:
        if quiet or ev.status == "skipped" or not ev.task:
            return
        status = ev.status.ljust(11)
        if tty:
            status = click.style(status, fg=_COLOURS.get(ev.status))
        line = f"  {status} {ev.host}  {ev.task}"
        if ev.message:
            line += f": {ev.message[:300]}"
        click.echo(line, err=True)

    return show


def _show_target(target: Any, what: str) -> None:
    click.echo(f"{what} {target.request_id} ({target.env}): {target.kind} application {target.slug} "
               f"as {target.instance} on {target.host}")
    click.echo(f"  root {target.app_root}, serving {', '.join(target.server_names)}")


def _request_from_ci(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """REQ, or under GitLab CI (CI=true) without REQ: the request recorded for the pipeline's project."""
    import os

    if value:
        return value
    from provision.install.ci import project_of_pipeline, request_for_project, under_ci

    if not under_ci(os.environ):
        raise click.MissingParameter(ctx=ctx, param=param)
    app = ctx.find_object(State).get_app()  # type: ignore[union-attr]
    return request_for_project(app, project_of_pipeline(app, os.environ), None)[0]


@click.command("install")
@click.argument("request_id", metavar="[REQ]", required=False, callback=_request_from_ci)
@click.option("--ref", type=REF, required=True, help="The tag, branch or commit to install.")
@click.option("--env", "env", type=ENV_CHOICE, default="staging", show_default=True,
              help="Which instance: staging (step 14 trial) or production.")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
              help="Install only if the plan is still the one reviewed (the checksum --dry-run shows).")
@click.option("--force-run", is_flag=True, default=False,
              help="Run the playbook even when the server records this very install (no-change check skipped).")
@change_options
@command(request_arg="request_id", locks=True)
def install_cmd(app: Any, request_id: str, ref: str, env: str, checksum: str | None, force_run: bool, as_json: bool,
                dry_run: bool, yes: bool) -> int:
    """Install the application of REQ at REF on its server (Ansible).

    Runs playbooks/install.yml: the app user, a new release from git, the runtime
    (php-fpm pool or app service), the nginx vhost (nginx -t first), then an atomic
    switch of `current`. A failure leaves the previous release serving.

    When the server's record of the last install (read with one SSH command) shows the
    same commit, environment, configuration, playbook and unedited files, nothing runs;
    --force-run runs the playbook anyway.

    Under GitLab CI (CI=true) REQ may be left out: it is the request recorded for the
    pipeline's project. The job must prove it is a protected release tag of that
    project (docs/ci.md), and the tag's commit is installed.

    \b
    Example:
      provision install REQ-2026-0001 --ref v1.2.0 --env staging --dry-run
      provision install REQ-2026-0001 --ref v1.2.0 --env staging --yes
    """
    import os

    from provision.install.ci import ci_job
    from provision.install.install import Installer, last_install, load_app_inventory
    from provision.install.plan import plan_install
    from provision.install.target import resolve_target
    from provision.render import plan_text

    job = ci_job(app, os.environ, request_id, ref)  # None outside CI; refuses (exit 2) what it cannot prove
    installer = Installer(app)
    inventory = load_app_inventory(app)  # read once (ansible-inventory): the target and the no-change check
    target = resolve_target(app, request_id, env, inventory)  # type: ignore[arg-type]
    last = last_install(app, request_id, env)
    installed = None
    if last is not None and not force_run:
        from provision.install.facts import read_installed

        installed = read_installed(app, target, job.sha if job else ref, inventory)
    plan = plan_install(target, ref, last, installed=installed)
    if not as_json:
        _show_target(target, f"Install {ref} of")
        if job is not None:
            click.echo(f"  GitLab CI: protected tag {job.tag} of {job.project_path} at commit {job.sha[:12]}")
        click.echo(plan_text(plan))
    check_checksum(plan, checksum)
    if dry_run:
        if as_json:
            print_document(plan)
        else:
            click.echo("Dry run: nothing installed.")
        return 0
    if plan.empty:
        if target.env == "production":  # staging was stopped before that install was recorded
            from provision.install.install import record_staging

            record_staging(app, target)
        if as_json:
            print_document(plan, {**target.as_dict(), "ref": ref, "commit": installed.commit if installed else None,
                                  "changed": 0, "playbook_run": False})
        else:
            click.echo(f"Nothing to install: {ref} is installed on {target.host} as recorded (no playbook run; "
                       "--force-run runs it anyway).")
        return 0
    confirm_apply(f"the install of {ref} on {target.host}", yes)
    # Under CI the tag's commit is installed, not whatever the tag points to by the time it is fetched.
    outcome = installer.install(target, job.sha if job else ref, on_event=progress_printer(as_json))
    if as_json:
        print_document(plan, outcome.as_dict())
    else:
        what = "no changes" if outcome.changed == 0 else f"{outcome.changed} changes"
        click.echo(f"Installed {ref} (commit {(outcome.commit or '?')[:12]}) of {request_id} on {target.host}: "
                   f"{what}, release {outcome.release}, {outcome.duration:.1f} s.")
    return 0


@click.command("rollback")
@click.argument("request_id", metavar="REQ")
@click.option("--to", "to", type=COMMIT, default=None, metavar="COMMIT",
              help="Commit (7+ characters) of an earlier install; default: the one before the current.")
@click.option("--env", "env", type=ENV_CHOICE, default="staging", show_default=True)
@change_options
@command(request_arg="request_id", locks=True)
def rollback_cmd(app: Any, request_id: str, to: str | None, env: str, as_json: bool, dry_run: bool,
                 yes: bool) -> int:
    """Switch REQ's application back to an earlier release still on its server.

    \b
    Example:
      provision rollback REQ-2026-0001 --to 3f2c1ab --yes
    """
    from provision.install.install import Installer

    installer = Installer(app)
    target = installer.target(request_id, env)  # type: ignore[arg-type]
    if not as_json:
        _show_target(target, f"Roll back{' to ' + to if to else ''}")
    if dry_run:
        if as_json:
            print_json({"dry_run": True, "target": target.as_dict(), "to": to})
        return 0
    confirm_apply(f"the rollback on {target.host}", yes)
    outcome = installer.rollback(target, to, on_event=progress_printer(as_json))
    if as_json:
        print_json(outcome.as_dict())
    else:
        click.echo(f"Rolled back {request_id} on {target.host} from release {outcome.previous} "
                   f"to {outcome.release} (commit {(outcome.commit or '?')[:12]}).")
    return 0
