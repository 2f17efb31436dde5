"""`provision hosting plan|apply|renew|delete|list`: step 15's hosting (docs/hosting.md)."""

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
    stop_before_apply,
    table,
)
from provision.cli.params import CHECKSUM, REASON
from provision.errors import UsageError


def _provider(app: Any) -> Any:
    from provision.hosting import HostingProvider

    return HostingProvider(app)


def _force_options(f: Any) -> Any:
    f = click.option("--reason", type=REASON, default=None, metavar="TEXT",
                     help="Why (required with --force; goes to the audit log).")(f)
    return click.option("--force", is_flag=True, help="Override a refusal (the production test gate, "
                        "or for delete: allow --purge).")(f)


def _checksum_option(f: Any) -> Any:
    return click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
                        help="Apply only if the plan is still the one reviewed (the checksum the plan shows).")(f)


def _need_reason(force: bool, reason: str | None) -> None:
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT: the reason goes to the audit log.")


def _progress(as_json: bool) -> Any:
    from provision.cli.install import progress_printer

    return progress_printer(as_json)


def _show_report(report: Any, as_json: bool, verb: str) -> None:
    if as_json:
        print_document(report.plan, report.as_dict())
        return
    d = report.details
    click.echo(f"{verb} {len(report.applied)} of {len(report.plan.changes)} changes "
               f"(Ansible: {d.get('changed', 0)} changed, {d.get('duration', 0)} s).")
    for c, reason in report.failed:
        click.echo(f"  failed: {c.kind} {c.target}: {reason}")
    for inst, path in (d.get("dumps") or {}).items():
        click.echo(f"  database of {inst} dumped to {path}")


def _run(apply: Any, report_verb: str, as_json: bool) -> int:
    try:
        report = apply()
    except Exception as e:
        rep = getattr(e, "report", None)
        if rep is not None and (rep.applied or rep.failed):
            _show_report(rep, as_json, report_verb)
        raise
    _show_report(report, as_json, report_verb)
    return 0


@click.group("hosting")
def hosting_cmd() -> None:
    """Step 15: the application's hosting on its Kominfo server.

    An account and home, an nginx vhost for <subdomain>.<zone> (and aliases) with TLS,
    HTTP redirected to HTTPS and HSTS, the php-fpm pool, and an isolated MariaDB or
    PostgreSQL database whose generated password is written only to the app's
    environment file on the server. docs/hosting.md explains plans, the production
    gate, failures and exit codes.

    \b
    Example:
      provision hosting plan REQ-2026-0001
      provision hosting apply REQ-2026-0001 --yes
    """


@hosting_cmd.command("plan")
@click.argument("request_id", metavar="REQ")
@json_option
@command(request_arg="request_id")
def plan_(app: Any, request_id: str, as_json: bool) -> int:
    """Show what `hosting apply` would change (reads the server; changes nothing).

    \b
    Example:
      provision hosting plan REQ-2026-0001
    """
    plan = _provider(app).plan([request_id])
    if as_json:
        print_json(plan.as_dict())
    else:
        click.echo(render_plan(plan))
    return 0


@hosting_cmd.command("apply")
@click.argument("request_id", metavar="REQ")
@_force_options
@click.option("--reconcile", is_flag=True,
              help="Run the playbook even when the plan is empty (repairs drift; reports Ansible's changes).")
@_checksum_option
@change_options
@command(request_arg="request_id", locks=True)
def apply_(app: Any, request_id: str, force: bool, reason: str | None, reconcile: bool, checksum: str | None,
           dry_run: bool, yes: bool, as_json: bool) -> int:
    """Give the application its production hosting as its spec says.

    Needs a passing `provision test` on the commit to be installed (or --force --reason).

    \b
    Example:
      provision hosting apply REQ-2026-0001 --yes
    """
    from provision.hosting.gate import require_passing_test

    _need_reason(force, reason)
    provider = _provider(app)
    plan = provider.plan([request_id])
    if not as_json:
        click.echo(render_plan(plan))
    check_checksum(plan, checksum)
    if stop_before_apply(plan, as_json, dry_run, "Nothing to do: the server already hosts this application "
                         "as its spec says.", empty=plan.empty and not reconcile):
        return 0
    gate = require_passing_test(app, request_id, "production", force=force, reason=reason)
    if not as_json:
        click.echo(f"Gate: {gate.message}.")
    confirm_apply(f"the hosting of {request_id} ({plan.summary()}) on {', '.join(plan.meta['hosts'])}", yes)
    return _run(lambda: provider.apply(plan, app.audit, on_event=_progress(as_json), reconcile=reconcile),
                "Applied", as_json)


@hosting_cmd.command("renew")
@click.argument("request_id", metavar="REQ")
@_checksum_option
@change_options
@command(request_arg="request_id", locks=True)
def renew_(app: Any, request_id: str, checksum: str | None, dry_run: bool, yes: bool, as_json: bool) -> int:
    """Renew the application's certificate now, whatever its expiry (audited).

    With ACME, certbot on the server asks the CA again (--force-renewal) and nginx is
    checked and reloaded; if the CA refuses, the previous certificate keeps serving.
    Other drift the plan shows is applied in the same run.

    \b
    Example:
      provision hosting renew REQ-2026-0001 --yes
    """
    provider = _provider(app)
    plan = provider.plan_renew([request_id])
    if not as_json:
        click.echo(render_plan(plan))
    check_checksum(plan, checksum)
    if stop_before_apply(plan, as_json, dry_run, "Nothing to renew.", empty=plan.empty):
        return 0
    confirm_apply(f"the renewal of the certificate of {request_id} on {', '.join(plan.meta['hosts'])}", yes)
    return _run(lambda: provider.apply(plan, app.audit, on_event=_progress(as_json)), "Applied", as_json)


@hosting_cmd.command("delete")
@click.argument("request_id", metavar="REQ")
@click.option("--purge", is_flag=True, help="Also drop the database and remove the user, files and "
              "certificate (needs --force --reason; a dump is kept).")
@_force_options
@_checksum_option
@change_options
@command(request_arg="request_id", locks=True)
def delete_(app: Any, request_id: str, purge: bool, force: bool, reason: str | None, checksum: str | None,
            dry_run: bool, yes: bool, as_json: bool) -> int:
    """Withdraw the hosting: disable the vhost and runtime, keep the data with a dump.

    \b
    Example:
      provision hosting delete REQ-2026-0001 --yes
      provision hosting delete REQ-2026-0001 --purge --force --reason "ND 12/2026" --yes
    """
    _need_reason(force, reason)
    if purge and not force:
        raise UsageError("--purge removes the application's data: it needs --force --reason TEXT.")
    provider = _provider(app)
    plan = provider.plan_delete([request_id], purge=purge)
    if not as_json:
        click.echo(render_plan(plan))
    check_checksum(plan, checksum)
    if stop_before_apply(plan, as_json, dry_run, "Nothing to do: the hosting is already withdrawn."):
        return 0
    confirm_apply(f"the {'purge' if purge else 'withdrawal'} of {request_id}'s hosting ({plan.summary()})", yes)
    if purge:
        app.audit.append("hosting", "purge", request_id, outcome="recorded", reason=reason,
                         after={"changes": len(plan.changes)}, request_id=request_id)
    return _run(lambda: provider.delete(plan, app.audit, on_event=_progress(as_json)), "Withdrew", as_json)


@hosting_cmd.command("list")
@click.option("--status", type=click.Choice(["active", "disabled", "purged"]), default=None,
              help="Only applications in this state (default: all).")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv"]), default="table",
              show_default=True, help="markdown: for the wiki; csv: for spreadsheets.")
@json_option
@command()
def list_(app: Any, status: str | None, fmt: str, as_json: bool) -> int:
    """Every hosted application: request, OPD, host, domain, runtime, database, TLS expiry,
    and its staging instance (serving, stopped by the production install, or kept).

    The list SOP step 5 needs ("daftar aplikasi"), from the hosting registry.

    \b
    Example:
      provision hosting list --format markdown > daftar-aplikasi.md
    """
    from provision.hosting import registry

    rows = registry.rows(app.store, status)
    if as_json:
        print_json(rows)
    elif fmt == "markdown":
        click.echo(registry.to_markdown(rows), nl=False)
    elif fmt == "csv":
        click.echo(registry.to_csv(rows), nl=False)
    else:
        table(rows, [("request", "REQUEST"), ("opd", "OPD"), ("host", "HOST"), ("domain", "DOMAIN"),
                     ("runtime", "RUNTIME"), ("database", "DATABASE"), ("tls_expiry", "TLS EXPIRES"),
                     ("created", "CREATED"), ("status", "STATUS"), ("staging", "STAGING")])
    return 0
