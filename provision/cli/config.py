"""`provision config show|check`: the effective configuration, secrets redacted."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import json_option, print_json, table


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

    \b
    Example:
      provision --config /etc/kominfo-provision/provision.toml config check
    """
    from provision.config import check_config
    from provision.errors import ValidationError

    from provision.config import load_config

    cfg = load_config(state.config_path, lenient=True)  # every problem, not only the first key's
    problems = check_config(cfg)
    if as_json:
        print_json({"ok": not problems, "problems": [p.as_dict() for p in problems]})
        return 2 if problems else 0
    if problems:
        raise ValidationError(problems, "configuration")
    click.echo(f"Configuration OK ({cfg.file or 'defaults and environment'}).")
    return 0
