"""`provision request ...`: the records of a request through all SOP steps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from provision.cli.common import command, json_option, print_json, printable, table
from provision.errors import UsageError
from provision.words import word


@click.group("request")
def request_cmd() -> None:
    """Request records (permohonan): open, list, show, step, close.

    \b
    Example:
      provision request step REQ-2026-0001 1 --done --output-ref 005/DISDIK/2026 \\
          --attach surat-permohonan.pdf
    """


@request_cmd.command("open")
@click.option("--opd-code", required=True, help="Short code of the requesting agency (e.g. disdik).")
@click.option("--opd-name", required=True, help="Full name of the agency (e.g. Dinas Pendidikan).")
@click.option("--app", "app_name", required=True, help="Name of the application.")
@click.option("--letter-number", required=True, help="Number of the request letter (Surat Permohonan).")
@click.option("--letter-date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Date of the letter, YYYY-MM-DD.")
@click.option("--id", "request_id", default=None, help="Explicit request ID (default: next REQ-YYYY-NNNN).")
@json_option
@command()
def open_(app: Any, opd_code: str, opd_name: str, app_name: str, letter_number: str,
          letter_date: dt.datetime, request_id: str | None, as_json: bool) -> int:
    """Open a request (SOP step 1 is the letter that starts it).

    \b
    Example:
      provision request open --opd-code disdik --opd-name "Dinas Pendidikan" \\
          --app "Sistem Informasi Sekolah" --letter-number 005/DISDIK/2026 --letter-date 2026-11-02
    """
    req = app.requests.open(opd_code=opd_code, opd_name=opd_name, app_name=app_name,
                            letter_number=letter_number, letter_date=letter_date.date(),
                            request_id=request_id)
    app.audit.request_id = req.id
    if as_json:
        print_json({"id": req.id, "status": req.status, "current_step": req.current_step,
                    "due": req.current_due.isoformat() if req.current_due else None})
    else:
        due = f", step {req.current_step} due {req.current_due}" if req.current_due else ""
        click.echo(f"Opened {req.id} for {opd_name} ({app_name}){due}.")
    return 0


@request_cmd.command("list")
@click.option("--opd", default=None, help="Only this OPD code.")
@click.option("--status", type=click.Choice(["open", "closed"]), default=None,
              help="Only requests in this state (default: all).")
@click.option("--overdue", is_flag=True, help="Only open requests whose current step is past due.")
@json_option
@command()
def list_(app: Any, opd: str | None, status: str | None, overdue: bool, as_json: bool) -> int:
    """List requests with their current step and its due date.

    \b
    Example:
      provision request list --overdue
    """
    rows = app.requests.list(opd=opd, status=status, overdue=overdue)
    if as_json:
        print_json(rows)
        return 0
    lang = app.config.general.language
    for r in rows:
        r["overdue"] = word("OVERDUE", lang) if r["overdue"] else ""
        r["status"] = word(r["status"], lang)
    table(rows, [("id", word("REQUEST", lang)), ("opd", "OPD"), ("application", word("APPLICATION", lang)),
                 ("status", word("STATUS", lang)), ("current_step", word("STEP", lang)), ("due", word("DUE", lang)),
                 ("overdue", "")])
    return 0


@request_cmd.command("show")
@click.argument("request_id", metavar="REQ")
@json_option
@command(request_arg="request_id")
def show(app: Any, request_id: str, as_json: bool) -> int:
    """Show a request and every SOP step: status, who, when, due, attachments.

    \b
    Example:
      provision request show REQ-2026-0001
    """
    data = app.requests.show(request_id)
    if as_json:
        print_json(data)
        return 0
    lang = app.config.general.language
    click.echo(f"{data['id']}  {data['opd_name']} ({data['opd_code']})  {data['application']}")
    if data.get("kind") == "legacy":  # imported by `provision import`: no SOP steps
        facts = data["imported"] or {}
        click.echo(f"legacy application, imported {data['opened_at'][:10]} by {data['opened_by']}; no SOP steps")
        for k, src in sorted((facts.get("sources") or {}).items()):
            click.echo(f"  {k}: {printable(facts.get(k, facts.get('opd', {}).get(k)))}  (from {printable(src)})")
        return 0
    click.echo(f"{word('letter', lang)} {data['letter_number']} {word('of', lang)} {data['letter_date']}; "
               f"{word(data['status'], lang)}" + (f" ({data['close_reason']})" if data["close_reason"] else ""))
    rows = []
    moved: list[str] = []
    for s in data["steps"]:
        who = s["done_by"] or s["started_by"] or ""
        when = (s["done_at"] or s["started_at"] or "")[:16].replace("T", " ")
        extra = "; ".join(x for x in (s["output_ref"] or "", s["note"] or "") if x)
        for a in s["attachments"]:
            extra += f"{'; ' if extra else ''}{a['name']} ({a['sha256'][:12]}{'' if a['intact'] else ' CHANGED ON DISK'})"
        full = s["title_id"] if lang == "id" else s["title"]
        title = full if len(full) <= 48 else full[:47] + "…"
        actors = ", ".join(s["actors_id"] if lang == "id" else s["actors"])
        due = s["due"] or ""
        if s["due_moved_by"]:
            due += " *"
            moved.append(f"  * {word('step', lang)} {s['number']}, {s['due']}: {word('holiday', lang)} "
                         + ", ".join(f"{h['date']} {h['name']}".strip() for h in s["due_moved_by"]))
        rows.append({"n": s["number"], "title": title, "actors": actors if len(actors) <= 40 else actors[:39] + "…",
                     "status": word(s["status"], lang),
                     "due": due + (" " + word("OVERDUE", lang) if s["overdue"] else ""),
                     "who": who, "when": when, "record": extra})
    table(rows, [("n", "#"), ("title", word("STEP", lang)), ("actors", word("ACTORS", lang)),
                 ("status", word("STATUS", lang)), ("due", word("DUE", lang)),
                 ("who", word("BY", lang)), ("when", word("WHEN", lang)), ("record", word("RECORD", lang))])
    for line in moved:
        click.echo(line)
    return 0


@request_cmd.command("step")
@click.argument("request_id", metavar="REQ")
@click.argument("number", type=int)
@click.option("--start", "action", flag_value="start", help="The step has started.")
@click.option("--done", "action", flag_value="done", help="The step is done.")
@click.option("--note", default=None, help="What happened (free text).")
@click.option("--output-ref", default=None, help="Reference of the step's output (letter number, URL...).")
@click.option("--attach", "attach", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="A file to attach (repeatable); stored by its SHA-256.")
@click.option("--out-of-order", is_flag=True, help="Record this step before earlier ones are done.")
@click.option("--reason", default=None, help="Why (required with --out-of-order).")
@click.option("--member", "members", multiple=True, metavar="NAME|NIP|PANGKAT|JABATAN",
              help="A person the step's output names (repeatable): steps 2 and 3 name the technical "
                   "teams that sign the Berita Acara.")
@json_option
@command(request_arg="request_id")
def step(app: Any, request_id: str, number: int, action: str | None, note: str | None,
         output_ref: str | None, attach: tuple[Path, ...], out_of_order: bool,
         reason: str | None, members: tuple[str, ...], as_json: bool) -> int:
    """Record that an SOP step started or is done.

    \b
    Example:
      provision request step REQ-2026-0001 2 --done --output-ref 800/123/KOMINFO/2026 \\
          --member "Rina Wati, S.Kom.|198703152010012003|Penata (III/c)|Pranata Komputer Ahli Muda"
    """
    if action is None:
        raise UsageError("say --start or --done.")
    if out_of_order and not reason:
        raise UsageError("--out-of-order needs --reason TEXT (it is logged).")
    row = app.requests.step(request_id, number, action, note=note, output_ref=output_ref,
                            attach=list(attach), out_of_order_reason=reason if out_of_order else None,
                            members=list(members))
    if as_json:
        print_json({"request": request_id, "step": number, "status": row.status,
                    "due": row.due_date.isoformat() if row.due_date else None})
    else:
        click.echo(f"{request_id} step {number}: {row.status}.")
    return 0


def confirm_close(request_id: str, yes: bool) -> None:
    from provision.cli.common import is_terminal
    from provision.errors import Aborted, UsageError

    if yes:
        return
    if not is_terminal():
        raise UsageError(f"not closing {request_id}: closing cannot be undone and there is no terminal to ask on.",
                         "Pass --yes to close without asking.")
    if not click.confirm(f"Close {request_id}? A closed request cannot be reopened", default=False):
        raise Aborted(f"{request_id} not closed: declined at the prompt.")


@request_cmd.command("close")
@click.argument("request_id", metavar="REQ")
@click.option("--reason", required=True, help="Why the request is closed (logged).")
@click.option("--yes", "-y", is_flag=True, help="Close without asking (needed without a terminal).")
@json_option
@command(request_arg="request_id")
def close(app: Any, request_id: str, reason: str, yes: bool, as_json: bool) -> int:
    """Close a request; a closed request refuses changes. It cannot be reopened, so it
    asks first on a terminal; elsewhere it needs --yes.

    \b
    Example:
      provision request close REQ-2026-0001 --reason "Rekomendasi diterbitkan" --yes
    """
    app.requests.get(request_id)  # a request that does not exist: say so before asking
    confirm_close(request_id, yes)
    req = app.requests.close(request_id, reason)
    if as_json:
        print_json({"id": req.id, "status": req.status})
    else:
        click.echo(f"Closed {req.id}.")
    return 0


@request_cmd.command("remind")
@click.option("--dry-run", is_flag=True, help="List the reminders; send nothing and record nothing.")
@json_option
@command()
def remind(app: Any, dry_run: bool, as_json: bool) -> int:
    """Send a reminder for every SOP step past its due date (run it daily).

    One message per request to the targets in notify.urls; a step is reminded at most
    once a calendar day (the audit log records each reminder sent). Exit 0 when every
    reminder was sent (or none was due), 1 when a target refused one (tried again on the
    next run), 2 when notify.urls is not configured.

    \b
    Example:
      provision request remind --dry-run
      provision request remind          # e.g. from a daily timer at 07:30
    """
    from provision.errors import ProvisionError
    from provision.notify import _urls, overdue_reminders, send_reminders

    today = app.requests.today()
    due = overdue_reminders(app, today)
    rows = [{"request": r.request_id, "step": n, "title": title, "due": d.isoformat()}
            for r in due for n, title, d in r.steps]
    if dry_run or not due:
        if as_json:
            print_json({"reminders": rows, "sent": 0, "dry_run": dry_run})
        elif rows:
            table(rows, [("request", "REQUEST"), ("step", "STEP"), ("due", "DUE"), ("title", "TITLE")])
            click.echo(f"{len(due)} reminder(s) would be sent (dry run).")
        else:
            click.echo("No SOP step is past its due date, or each was reminded today.")
        return 0
    if not _urls(app):
        raise UsageError("notify.urls is not configured: there is nowhere to send the reminders.",
                         "Set PROVISION_NOTIFY_URLS or notify.urls_file (0600; docs/operations.md).")
    sent = send_reminders(app, due, today)
    if as_json:
        print_json({"reminders": rows, "sent": sent.messages, "failed": sent.skipped})
    else:
        click.echo(f"Sent {sent.messages} of {len(due)} reminder(s).")
    if sent.skipped:
        raise ProvisionError(f"The reminders for {', '.join(sent.skipped)} were not sent: {sent.error}.",
                             "They are tried again on the next run; `provision doctor` checks the targets.")
    return 0
