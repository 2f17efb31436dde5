"""`provision check`: the nightly infrastructure check over every hosted application."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import command, json_option, print_json, table
from provision.cli.params import OUTPUT_FILE
from provision.errors import ChecksFailed


@click.group("check", invoke_without_command=True)
@click.option("--only", default=None, metavar="KINDS",
              help="Comma-separated checks to run: dns,http,tls,host,gitlab (default: all).")
@click.option("--request", "request_id", default=None, metavar="REQ", help="Only this request's application.")
@click.option("--junit", "junit_file", type=OUTPUT_FILE, default=None, metavar="FILE", help="Also write a JUnit XML report.")
@click.option("--prometheus", "prom_file", type=OUTPUT_FILE, default=None, metavar="FILE",
              help="Also write a Prometheus textfile (node_exporter's textfile collector).")
@click.option("--all", "show_all", is_flag=True, help="List passing checks too, not only problems.")
@click.option("--allow-empty", is_flag=True,
              help="Pass when no application is registered (a new installation); otherwise that exits 12.")
@json_option
@click.pass_context
def check_cmd(ctx: click.Context, only: str | None, request_id: str | None, junit_file: str | None,
              prom_file: str | None, show_all: bool, allow_empty: bool, as_json: bool) -> int:
    """Check that every hosted application is still as recorded.

    Exit 0 when nothing failed (warnings allowed), 3 when a check failed, 12 when no
    application is registered (an empty or wrong state store; --allow-empty accepts it),
    2 when an output file's directory is not writable (found before any check runs).
    Every run is stored (`provision check history`) and each failure is logged against
    its request. With notify.urls configured, failures and warnings are sent there.

    \b
    Example:
      provision check --junit check.xml --prometheus /var/lib/node_exporter/provision.prom
      provision check --only dns,tls --request REQ-2026-0001
      provision check history --request REQ-2026-0001
    """
    if ctx.invoked_subcommand is not None:
        return 0
    from provision.checks.output import check_writable

    # Before the state store is opened or any check runs: a run that could not write its
    # report at the end would hide what it found (and a service user's first run shows it).
    for path, option in ((junit_file, "--junit"), (prom_file, "--prometheus")):
        if path:
            check_writable(path, option)
    return ctx.invoke(_run, only=only, request_id=request_id, junit_file=junit_file, prom_file=prom_file,
                      show_all=show_all, allow_empty=allow_empty, as_json=as_json)


@command(request_arg="request_id")
def _run(app: Any, only: str | None, request_id: str | None, junit_file: str | None, prom_file: str | None,
         show_all: bool, allow_empty: bool, as_json: bool) -> int:
    from provision.checks.checker import parse_only, run_checks
    from provision.checks.output import as_json as to_json
    from provision.checks.output import junit, prometheus, write_atomic
    from provision.checks.results import sort_results
    from provision.notify import notify_checks

    kinds = parse_only(only)
    summary = run_checks(app, kinds, request_id, allow_empty=allow_empty)
    if junit_file:
        write_atomic(junit_file, junit(summary))
    if prom_file:
        write_atomic(prom_file, prometheus(summary))
    if as_json:
        print_json(to_json(summary, app.audit.run_id))
    else:
        rows = [r.as_dict() for r in sort_results(summary.results) if show_all or r.status != "pass"]
        for r in rows:
            r["status"] = r["status"].upper()
            r["request"] = r["request"] or "-"
        if rows:
            table(rows, [("status", "STATUS"), ("check", "CHECK"), ("request", "REQUEST"), ("name", "WHAT"),
                         ("message", "DETAIL")])
        click.echo(summary.line() + ".")
    sent = notify_checks(app, summary)
    if sent.error:
        click.echo(f"Warning: the notification was not sent: {sent.error}", err=True)
    if not summary.ok:  # stderr, so --json output on stdout stays clean
        raise ChecksFailed(f"{summary.counts['fail']} of {len(summary.results)} checks failed.",
                           "The table above says what differs; `provision check history` keeps past runs.")
    return 0


@check_cmd.command("history")
@click.option("--request", "request_id", default=None, metavar="REQ", help="Only this request's results.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000), help="At most this many results.")
@click.option("--failures", is_flag=True, help="Only warnings and failures.")
@json_option
@command(request_arg="request_id")
def history(app: Any, request_id: str | None, limit: int, failures: bool, as_json: bool) -> int:
    """Past check results, newest first.

    \b
    Example:
      provision check history --request REQ-2026-0001 --failures
    """
    from provision.checks.checker import history as read_history

    rows = read_history(app, request_id, limit if not failures else 100000)
    if failures:
        rows = [r for r in rows if r["status"] != "pass"][:limit]
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        click.echo("No check results stored" + (f" for {request_id}." if request_id else "."))
        return 0
    for r in rows:
        r["status"] = r["status"].upper()
        r["request"] = r["request"] or "-"
        r["at"] = (r["at"] or "")[:19].replace("T", " ")
    table(rows, [("at", "WHEN"), ("status", "STATUS"), ("check", "CHECK"), ("request", "REQUEST"),
                 ("name", "WHAT"), ("message", "DETAIL")])
    return 0
