"""`provision test`: step 14's tests of the installed application."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from provision.cli.common import command, err, json_option, print_json
from provision.cli.params import OUTPUT_FILE
from provision.errors import ExitCode

_MARK = {"pass": "PASS", "fail": "FAIL", "n/a": "N/A "}


def output_printer(quiet: bool) -> Any:
    """The remote command's output, streamed live to stderr (stdout stays for --json)."""
    def show(stream: str, text: str) -> None:
        if not quiet:
            sys.stderr.write(text)
            sys.stderr.flush()
    return show


@click.command("test")
@click.argument("request_id", metavar="REQ")
@click.option("--env", "env", type=click.Choice(["staging", "production"]), default="staging", show_default=True)
@click.option("--junit", "junit", type=OUTPUT_FILE, default=None,
              help="Also write the results as JUnit XML (for CI).")
@json_option
@command(request_arg="request_id", locks=True)
def test_cmd(app: Any, request_id: str, env: str, junit: Path | None, as_json: bool) -> int:
    """Test REQ's installed application; exit 3 when a check failed.

    Smoke URLs from the spec (through the vhost, on the server), the app's own test
    command as the app user, testinfra checks of the install, and the step-13 documents
    in the release. Results are stored for the Berita Acara.

    \b
    Example:
      provision test REQ-2026-0001 --junit report.xml
    """
    from provision.install.apptest import AppTester
    from provision.install.install import load_app_inventory
    from provision.install.target import resolve_target

    inventory = load_app_inventory(app)
    target = resolve_target(app, request_id, env, inventory)  # type: ignore[arg-type]
    if not as_json:
        click.echo(f"Testing {request_id} ({env}) on {target.host}:")
    report = AppTester(app, target, inventory).run(on_output=output_printer(as_json))
    if junit:
        junit.write_text(report.junit(), encoding="utf-8")
    if as_json:
        print_json(report.as_dict())
    else:
        for c in report.checks:
            first = c.detail.splitlines()[0] if c.detail else ""
            click.echo(f"  {_MARK[c.status]}  {c.kind:<9} {c.name}" + (f"  ({first})" if first else ""))
        click.echo(f"{len(report.checks) - len(report.failed)} of {len(report.checks)} checks passed "
                   f"at commit {(report.commit or '-')[:12]} (test run {report.test_run_id}).")
    if not report.passed:
        err(f"Error: {len(report.failed)} check(s) failed: " + "; ".join(c.name for c in report.failed) + ".")
        return int(ExitCode.CHECKS_FAILED)
    return 0
