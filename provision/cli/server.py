"""`provision server prepare HOST|--all`: the baseline of application servers (docs/servers.md)."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import change_options, check_checksum, command, confirm_apply, render_plan, stop_before_apply
from provision.cli.params import CHECKSUM
from provision.errors import UsageError


@click.group("server")
def server_cmd() -> None:
    """The Kominfo servers themselves: their baseline.

    \b
    Example:
      provision server prepare web1.srv.batam.go.id --dry-run
      provision server prepare --all --yes
    """


@server_cmd.command("prepare")
@click.argument("host", required=False, metavar="HOST")
@click.option("--all", "every", is_flag=True, help="Every host of the inventory.")
@click.option("--reconcile", is_flag=True,
              help="Run the playbook even when the plan is empty (repairs drift; reports Ansible's changes).")
@click.option("--checksum", type=CHECKSUM, default=None, metavar="HEX",
              help="Apply only if the plan is still the one reviewed (the checksum the plan shows).")
@change_options
@command()
def prepare_(app: Any, host: str | None, every: bool, reconcile: bool, checksum: str | None,
             dry_run: bool, yes: bool, as_json: bool) -> int:
    """Make a bare Debian 12 server an application server (audited).

    Installs nginx, php-fpm for the host's php_versions, MariaDB and/or PostgreSQL for
    its db_engines (with the Python drivers Ansible needs), certbot with its RFC 2136
    plugin, git, acl, unattended security upgrades, nftables letting in only 22/80/443,
    systemd-timesyncd, and the deploy identity. Shows the plan first; running it again
    changes nothing.

    \b
    Example:
      provision server prepare web1.srv.batam.go.id --dry-run
      provision server prepare --all --yes
    """
    from provision.server import ServerProvider

    if bool(host) == every:
        raise UsageError("HOST: name one inventory host, or pass --all (not both).")
    provider = ServerProvider(app)
    plan = provider.plan(provider.hosts(host, every))
    if not as_json:
        click.echo(render_plan(plan))
    check_checksum(plan, checksum)
    if stop_before_apply(plan, as_json, dry_run, "Nothing to do: every host has its baseline.",
                         empty=plan.empty and not reconcile):
        return 0
    confirm_apply(f"the baseline of {', '.join(plan.meta['hosts'])} ({plan.summary()})", yes)
    from provision.cli.hosting import _progress, _run

    return _run(lambda: provider.apply(plan, app.audit, on_event=_progress(as_json), reconcile=reconcile),
                "Applied", as_json)
