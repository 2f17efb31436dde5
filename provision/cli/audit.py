"""`provision audit log|verify|export`: the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from provision.cli.common import command, json_option, print_json, table


@click.group("audit")
def audit_cmd() -> None:
    """The append-only, hash-chained audit trail.

    \b
    Example:
      provision audit log REQ-2026-0001 && provision audit verify
    """


@audit_cmd.command("log")
@click.argument("request_id", metavar="[REQ]", required=False)
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Only events from this date or time (UTC).")
@json_option
@command()
def log(app: Any, request_id: str | None, since: dt.datetime | None, as_json: bool) -> int:
    """Show audit events, all or for one request.

    \b
    Example:
      provision audit log REQ-2026-0001 --since 2026-11-01
    """
    from provision.audit import event_dict, read_events

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    events = [event_dict(e) for e in read_events(app.store, request_id, since)]
    if as_json:
        print_json(events)
        return 0
    for e in events:
        e["when"] = e["ts"][:19].replace("T", " ")
        e["what"] = f"{e['provider']}.{e['action']}"
        e["detail"] = e["reason"] or (str(e["after"]) if e["after"] is not None else "")
        if len(e["detail"]) > 80:
            e["detail"] = e["detail"][:77] + "..."
    table(events, [("seq", "#"), ("when", "WHEN (UTC)"), ("request_id", "REQUEST"),
                   ("actor", "ACTOR"), ("what", "ACTION"), ("target", "TARGET"),
                   ("outcome", "OUTCOME"), ("detail", "DETAIL")])
    return 0


@audit_cmd.command("verify")
@json_option
@command()
def verify(app: Any, as_json: bool) -> int:
    """Check the hash chain; name the first event edited, deleted, inserted or moved.

    \b
    Example:
      provision audit verify
    """
    from provision.audit import verify as verify_chain

    result = verify_chain(app.store)
    if as_json:
        print_json(result.as_dict())
    elif result.ok:
        click.echo(f"Audit chain intact: {result.checked} events verified.")
    else:
        click.echo(f"Audit chain BROKEN at event {result.first_bad}: {result.reason}. "
                   f"{result.checked} events before it verified.", err=True)
    return 0 if result.ok else 1


@audit_cmd.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
              help="jsonl: one event per line (for tools and archives); csv: for spreadsheets. Both carry the chain hashes.")
@click.option("--request", "request_id", default=None, metavar="REQ", help="Only this request.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to FILE instead of standard output.")
@command()
def export(app: Any, fmt: str, request_id: str | None, output: str | None) -> int:
    """Export the audit log (with its chain hashes) as JSON lines or CSV.

    \b
    Example:
      provision audit export --format csv -o audit-2026.csv
    """
    from provision.audit import export as export_log

    if not output:
        for chunk in export_log(app.store, fmt, request_id):
            click.echo(chunk, nl=False)
        return 0
    with open(output, "w", encoding="utf-8") as out:
        for chunk in export_log(app.store, fmt, request_id):
            out.write(chunk)
    return 0
