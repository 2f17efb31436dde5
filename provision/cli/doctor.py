"""`provision doctor`: everything the configuration depends on, checked at once."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import json_option, print_json, printable, table
from provision.cli.params import OUTPUT_FILE
from provision.errors import ChecksFailed


@click.command("doctor")
@click.option("--textfile", default=None, type=OUTPUT_FILE, metavar="FILE",
              help="Also check that this Prometheus textfile (provision check --prometheus) can be written.")
@click.option("--ssh-timeout", default=15.0, show_default=True, type=click.FloatRange(1, 300),
              help="Seconds to wait for each inventory host.")
@json_option
@click.pass_obj
def doctor_cmd(state: Any, textfile: str | None, ssh_timeout: float, as_json: bool) -> int:
    """Check everything the configuration depends on: the configuration of each command
    group, the state store, GitLab and its token, the DNS primary and TSIG key, every
    inventory host (pinned key, sudo, packages), the ACME directory, output directories.

    Each item has a code (DR-..., docs/troubleshooting.md) and a hint. Changes nothing.
    Exit 0 when nothing failed (warnings and groups not configured are listed), 3 when an
    item failed.

    \b
    Example:
      provision doctor --textfile /var/lib/prometheus/node-exporter/provision.prom
      provision doctor --json
    """
    from provision.config import load_config
    from provision.doctor import run_doctor

    config = load_config(state.config_path, lenient=True)
    config.register_secrets()
    report = run_doctor(config, textfile=textfile, ssh_timeout=ssh_timeout)
    if as_json:
        print_json({"ok": report.ok, "counts": report.counts, "items": [i.as_dict() for i in report.items]})
    else:
        rows = [{"status": i.status.upper(), "code": i.code, "name": printable(i.name),
                 "message": printable(i.message + (f" -> {i.hint}" if i.hint and i.status != "pass" else ""))}
                for i in report.items]
        table(rows, [("status", "STATUS"), ("code", "CODE"), ("name", "WHAT"), ("message", "DETAIL")])
        click.echo(report.line() + ".")
    if not report.ok:
        raise ChecksFailed(f"provision doctor: {report.counts['fail']} of {len(report.items)} items failed.",
                           "Each failed item above names its code (docs/troubleshooting.md) and what to do.")
    return 0
