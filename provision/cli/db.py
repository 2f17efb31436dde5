"""`provision db upgrade|status`: the state database's schema."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import json_option, print_json


@click.group("db")
def db_cmd() -> None:
    """The state database (SQLite by default, PostgreSQL via PROVISION_DATABASE_URL).

    Backup, restore and moving to PostgreSQL: docs/operations.md.

    \b
    Example:
      provision db status && provision db upgrade
    """


def _store(state: Any, upgrade: bool) -> Any:
    from provision.context import App
    from provision.store import Store

    app = App(config_path=state.config_path)
    return Store(app.config.database_url, password=app.config.secret("database", "password"),
                 upgrade=upgrade)


@db_cmd.command("upgrade")
@click.pass_obj
def upgrade(state: Any) -> int:
    """Apply the schema migrations (also done automatically on first use).

    \b
    Example:
      PROVISION_DATABASE_URL=postgresql+psycopg://provision@db/provision provision db upgrade
    """
    store = _store(state, upgrade=True)
    click.echo(f"State database {store.shown_url} is at schema version {store.revision()}.")
    return 0


@db_cmd.command("status")
@json_option
@click.pass_obj
def status(state: Any, as_json: bool) -> int:
    """Show where the state is and its schema version.

    \b
    Example:
      provision db status --json
    """
    from provision.store import HEAD_REVISION

    store = _store(state, upgrade=False)
    data = {"url": store.shown_url, "dialect": store.dialect, "revision": store.revision(),
            "code_revision": HEAD_REVISION}
    if as_json:
        print_json(data)
    else:
        click.echo(f"{data['url']} ({data['dialect']}), schema {data['revision']} "
                   f"(this code: {HEAD_REVISION})")
    return 0
