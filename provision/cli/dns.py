"""`provision dns plan|apply|delete|list`: step 15's subdomain records (docs/dns.md)."""

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
from provision.cli.params import CHECKSUM, HOSTNAME, REASON
from provision.errors import UsageError


def _provider(app: Any, zone: str | None = None) -> Any:
    from provision.dns import DnsProvider

    settings = app.config.dns
    if zone:
        settings = settings.model_copy(update={"zone": zone})
    return DnsProvider(settings, reserved=app.config.names.reserved)


def _takeover_options(f: Any) -> Any:
    f = click.option("--reason", type=REASON, default=None, metavar="TEXT",
                     help="Why (required with --adopt or --force; goes to the audit log).")(f)
    f = click.option("--force", is_flag=True,
                     help="Take names owned by another request, and pass the safety thresholds.")(f)
    return click.option("--adopt", is_flag=True, help="Take over names made by hand (no owner).")(f)


def _check_reason(adopt: bool, force: bool, reason: str | None) -> None:
    if (adopt or force) and not (reason and reason.strip()):
        raise UsageError("--adopt and --force need --reason TEXT: the reason goes to the audit log.")


def _plan(app: Any, request_id: str, adopt: bool = False, force: bool = False,
          reason: str | None = None) -> tuple[Any, Any]:
    req = app.requests.get(request_id)
    spec = app.specs.get(request_id)
    provider = _provider(app)
    return provider, provider.plan(spec, request_id, req.opd_name, adopt=adopt, force=force, reason=reason)


def _show_plan(plan: Any, as_json: bool) -> None:
    if not as_json:
        click.echo(render_plan(plan))


def _apply(app: Any, provider: Any, plan: Any, replan: Any, what: str, dry_run: bool, yes: bool, as_json: bool,
           takeover: tuple[bool, bool, str | None] = (False, False, None), checksum: str | None = None) -> int:
    _show_plan(plan, as_json)
    check_checksum(plan, checksum)
    if stop_before_apply(plan, as_json, dry_run, "Nothing to do: the zone already holds this request's records."):
        return 0
    confirm_apply(f"{what} ({plan.summary()}) in {plan.meta['zone']}", yes)
    adopt, force, reason = takeover
    if adopt or force:
        app.audit.record("dns", "force" if force else "adopt", f"{plan.request_id} {plan.meta['zone']}",
                         after={"reason": reason, "notes": plan.notes}, request_id=plan.request_id)

    def progress(line: str) -> None:
        if not as_json:
            click.echo(f"  ... {line}", err=True)

    from provision.dns import DnsPartialApply, VerificationFailed

    try:
        report = provider.apply_replanning(plan, replan, app.audit, progress=progress)
    except (DnsPartialApply, VerificationFailed) as e:
        _show_report(plan, e.report, as_json)
        raise
    _show_report(plan, report, as_json)
    return 0


def _show_report(shown: Any, report: Any, as_json: bool) -> None:
    if as_json:  # the plan shown; the report's own may be a re-plan with the same changes
        print_document(shown, report.as_dict())
        return
    parts = report.details.get("parts", [])
    click.echo(f"Applied {len(report.applied)} of {len(report.plan.changes)} changes in "
               f"{sum(1 for p in parts if p['status'] == 'sent')} UPDATE message(s)"
               + (f"; the primary serves serial {report.details['serial']}." if "serial" in report.details else "."))
    for p in parts:
        if p["status"] != "sent":
            click.echo(f"  part {p['part']}: {p['status']}" + (f" ({p['error']})" if p.get("error") else "")
                       + f": {len(p['changes'])} changes")
    for c, reason in report.failed:
        click.echo(f"  failed: {c.target}: {reason}")
    for v in report.details.get("verification", []):
        state = "ok" if v["ok"] else f"NOT VERIFIED ({v['error']})"
        click.echo(f"  {v['server']}: serial {v['serial']}, {state}, {v['seconds']:.2f} s")


@click.group("dns")
def dns_cmd() -> None:
    """Step 15: the application's subdomain records (RFC 2136 updates with TSIG).

    Plans are made against a signed zone transfer; every update carries prerequisites
    and is read back and verified on every authoritative server. docs/dns.md explains
    ownership, safety and exit codes.

    \b
    Example:
      provision dns plan REQ-2026-0001 && provision dns apply REQ-2026-0001 --yes
    """


@dns_cmd.command("plan")
@click.argument("request_id", metavar="REQ")
@_takeover_options
@json_option
@command(request_arg="request_id")
def plan_(app: Any, request_id: str, adopt: bool, force: bool, reason: str | None, as_json: bool) -> int:
    """Show what `dns apply` would change (reads the zone; changes nothing).

    \b
    Example:
      provision dns plan REQ-2026-0001
    """
    _check_reason(adopt, force, reason)
    _, plan = _plan(app, request_id, adopt, force, reason)
    if as_json:
        print_json(plan.as_dict())
    else:
        _show_plan(plan, False)
    return 0


@dns_cmd.command("apply")
@click.argument("request_id", metavar="REQ")
@_takeover_options
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
              help="Apply only if the plan is still the one reviewed (the checksum `dns plan` shows).")
@change_options
@command(request_arg="request_id", locks=True)
def apply_(app: Any, request_id: str, adopt: bool, force: bool, reason: str | None,
           checksum: str | None, dry_run: bool, yes: bool, as_json: bool) -> int:
    """Issue or change the request's subdomain records as its spec says.

    \b
    Example:
      provision dns apply REQ-2026-0001 --yes
      provision dns apply REQ-2026-0001 --checksum 3f2a9c0d1e4b5a69 --yes
      provision dns apply REQ-2026-0001 --adopt --reason "SK 12/2026: portal lama" --yes
    """
    _check_reason(adopt, force, reason)
    if app.config.dns.require_passing_test and not dry_run:
        from provision.hosting.gate import require_passing_test

        # The zone is production: records go live only for a tested release (docs/hosting.md).
        require_passing_test(app, request_id, "production", force=force, reason=reason, provider="dns")
    provider, plan = _plan(app, request_id, adopt, force, reason)
    return _apply(app, provider, plan, lambda: _plan(app, request_id, adopt, force, reason)[1],
                  f"the DNS records of {request_id}", dry_run, yes, as_json,
                  (adopt, force, reason), checksum)


@dns_cmd.command("delete")
@click.argument("request_id", metavar="REQ")
@click.option("--force", is_flag=True, help="Pass the safety thresholds (needs --reason).")
@click.option("--reason", type=REASON, default=None, metavar="TEXT", help="Why (required with --force).")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
              help="Apply only if the plan is still the one reviewed (the checksum --dry-run shows).")
@change_options
@command(request_arg="request_id", locks=True)
def delete_(app: Any, request_id: str, force: bool, reason: str | None, checksum: str | None, dry_run: bool,
            yes: bool, as_json: bool) -> int:
    """Withdraw the request's subdomain: remove its records and ownership records.

    Only what this request made is removed, with the exact values read from the zone.

    \b
    Example:
      provision dns delete REQ-2026-0001 --yes
    """
    _check_reason(False, force, reason)
    app.requests.get(request_id)
    provider = _provider(app)
    plan = provider.plan_delete(request_id, force=force)
    return _apply(app, provider, plan, lambda: provider.plan_delete(request_id, force=force),
                  f"the removal of {request_id}'s DNS records", dry_run, yes,
                  as_json, (False, force, reason), checksum)


@dns_cmd.command("list")
@click.option("--zone", type=HOSTNAME, default=None, help="Another zone on the same primary (default: dns.zone).")
@json_option
@command()
def list_(app: Any, zone: str | None, as_json: bool) -> int:
    """Every name in the zone with its record types and owner (request, OPD).

    \b
    Example:
      provision dns list
    """
    rows = _provider(app, zone).list_names()
    if as_json:
        print_json(rows)
        return 0
    for r in rows:
        r["types"] = ",".join(r["types"])
        r["owner"] = r["owner"] or "(made by hand)"
    table(rows, [("name", "NAME"), ("types", "TYPES"), ("owner", "OWNER"), ("opd", "OPD")])
    return 0
