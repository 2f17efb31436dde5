"""`provision audit log|verify|checkpoint|export`: the audit trail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
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
        since = since.replace(tzinfo=dt.UTC)
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
@click.option("--against", "against", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="A checkpoint (`audit checkpoint --output`): the log must still hold "
                                   "its event with the same hash.")
@json_option
@command()
def verify(app: Any, against: Path | None, as_json: bool) -> int:
    """Check the keyed hash chain, the rows it vouches for and the run seals; name the
    first event edited, deleted, inserted or moved, and every row changed behind it.

    \b
    Example:
      provision audit verify --against /mnt/offsite/audit-checkpoint.json
    """
    from provision import audit_checkpoint
    from provision.audit import verify as verify_chain

    cp = audit_checkpoint.load(against) if against is not None else None
    key = app.audit.key
    result = (audit_checkpoint.verify_against(app.store, key, cp) if cp is not None
              else verify_chain(app.store, key))
    if as_json:
        print_json({**result.as_dict(), "checkpoint": (
            {"seq": cp["seq"], "time": cp["time"], "matches": result.ok} if cp else None)})
    elif result.ok:
        unkeyed = f" ({result.unkeyed} from before the audit key, unkeyed)" if result.unkeyed else ""
        click.echo(f"Audit chain intact: {result.checked} events verified{unkeyed}.")
        click.echo(f"Audit key {result.key_id}; the requests, steps, hosting, documents and runs "
                   "match the log.")
        if cp is not None:
            click.echo(f"Checkpoint {against} (event {cp['seq']}, {cp['time']}) matches.")
        else:
            click.echo("Without a checkpoint kept off this host, events removed from the end cannot be "
                       "told apart from events never written: see `provision audit checkpoint`.")
    elif result.first_bad is not None:
        click.echo(f"Audit chain BROKEN at event {result.first_bad}: {result.reason}. "
                   f"{result.checked} events before it verified.", err=True)
    elif not result.rows:
        click.echo(f"Audit checkpoint {against} REJECTED: {result.reason}.", err=True)
    else:
        click.echo(f"Audit chain intact ({result.checked} events), but {len(result.rows)} "
                   f"row(s) differ from the audit log:", err=True)
        for line in result.rows:
            click.echo(f"  {line}", err=True)
    return 0 if result.ok else 1


@audit_cmd.command("checkpoint")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Write the checkpoint to FILE (default: standard output).")
@click.option("--syslog", "to_syslog", is_flag=True, help="Also send it to syslog (facility auth).")
@click.option("--syslog-address", default=None, metavar="ADDR", envvar="PROVISION_SYSLOG_ADDRESS",
              help="/dev/log (default), another socket path, or HOST:PORT (UDP).")
@json_option
@command()
def checkpoint(app: Any, output: Path | None, to_syslog: bool, syslog_address: str | None,
               as_json: bool) -> int:
    """Sign the audit chain's head (event number, hash, time, key id) to keep off this host.

    The chain is verified first. Ship the checkpoint where the database's writers cannot
    reach (a file on other storage, syslog to a collector, a git repository with signed
    tags: docs/audit.md); later, `provision audit verify --against FILE` finds edits,
    deletions, truncation and a recomputed chain since.

    \b
    Example:
      provision audit checkpoint --output /mnt/offsite/audit-$(date +%F).json --syslog
    """
    from provision import audit_checkpoint

    cp = audit_checkpoint.make(app.store, app.audit.key)
    text = audit_checkpoint.dumps(cp) + "\n"
    sent = audit_checkpoint.ship_syslog(cp, syslog_address) if to_syslog else None
    if output is not None:
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    if as_json:
        print_json({**cp, "output": str(output) if output else None, "syslog": sent})
    elif output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"Checkpoint of event {cp['seq']} ({cp['time']}, key {cp['key_id']}) written to {output}"
                   + (f" and sent to syslog at {sent}" if sent else "") + ".")
    return 0


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
    from provision.privatefiles import open_private

    with open_private(output) as out:  # 0600 whatever the umask: it holds the whole log
        for chunk in export_log(app.store, fmt, request_id):
            out.write(chunk)
    return 0
