"""`provision config show|check`: the effective configuration, secrets redacted."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import json_option, print_json, printable, table


@click.group("config")
def config_cmd() -> None:
    """The effective configuration and where each value came from.

    \b
    Example:
      provision config check && provision config show --json
    """


def _load(state: Any) -> Any:
    from provision.config import load_config

    return load_config(state.config_path)


@config_cmd.command("show")
@json_option
@click.pass_obj
def show(state: Any, as_json: bool) -> int:
    """Print every key, its value and its source (default, file, env); secrets as ****.

    \b
    Example:
      PROVISION_DNS_ZONE=batam.go.id provision config show
    """
    cfg = _load(state)
    rows = [{"key": k, "value": v, "source": src} for k, v, src in cfg.flat()]
    if as_json:
        print_json({"file": str(cfg.file) if cfg.file else None, "keys": rows})
        return 0
    click.echo(f"# configuration file: {cfg.file or 'none (defaults and environment only)'}")
    table(rows, [("key", "KEY"), ("value", "VALUE"), ("source", "SOURCE")])
    return 0


@config_cmd.command("check")
@json_option
@click.pass_obj
def check(state: Any, as_json: bool) -> int:
    """Validate the configuration and report every problem at once (exit 2 if any).

    Each command group (repo, dns, install, hosting, check) is reported: configured, not
    configured (none of its keys set: the group is not used) or partly configured (a
    warning naming every missing key; `provision doctor` fails it). The inventory is read
    with ansible-inventory: unknown host variables and host addresses outside
    checks.probe_networks are warnings too (stderr); warnings do not change the exit code.

    \b
    Example:
      provision --config /etc/kominfo-provision/provision.toml config check
    """
    from provision.config import load_config
    from provision.config_check import check_whole
    from provision.errors import ValidationError

    cfg = load_config(state.config_path, lenient=True)  # every problem, not only the first key's
    problems, groups, warnings = check_whole(cfg)
    if as_json:
        print_json({"ok": not problems, "problems": [p.as_dict() for p in problems],
                    "groups": {g.group: {"state": g.state, "missing": g.missing} for g in groups},
                    "warnings": warnings})
        return 2 if problems else 0
    for w in warnings:
        click.echo(f"Warning: {printable(w)}", err=True)
    if problems:
        raise ValidationError(problems, "configuration")
    for g in groups:
        state = "partly configured" if g.state == "partial" else g.state
        click.echo(f"{g.group}: {state}" + (f" (missing {', '.join(g.missing)})" if g.missing else ""))
    click.echo(f"Configuration OK ({cfg.file or 'defaults and environment'}).")
    return 0
