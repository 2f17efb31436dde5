"""`provision db upgrade|status|copy`: the state database's schema, and moving it."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import State, change_options, confirm_apply, json_option, print_json
from provision.errors import ExitCode, ProvisionError


@click.group("db")
def db_cmd() -> None:
    """The state database (SQLite by default, PostgreSQL via PROVISION_DATABASE_URL).

    Backup, restore and moving to PostgreSQL (`provision db copy`): docs/operations.md.

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


@db_cmd.command("copy")
@click.option("--to", "to", required=True, metavar="URL", envvar="PROVISION_COPY_TO_URL",
              help="The new, empty database: postgresql+psycopg://USER@HOST:5432/DB or "
                   "sqlite:////PATH/state.db. A URL with a password only from PROVISION_COPY_TO_URL.")
@click.option("--to-password-file", metavar="FILE", envvar="PROVISION_COPY_TO_PASSWORD_FILE",
              default=None, help="The target's password, from a file of mode 0600 "
                                 "(or PROVISION_COPY_TO_PASSWORD).")
@change_options
@click.pass_context
def copy(ctx: click.Context, to: str, to_password_file: str | None, dry_run: bool, yes: bool,
         as_json: bool) -> int:
    """Copy the whole state into a new, empty database (SQLite to PostgreSQL for a team).

    The source is the configured database (database.url / PROVISION_DATABASE_URL), at this
    version's schema. The target gets the schema, then every table in one transaction, ids
    and the audit chain as they are; the source is held still meanwhile. Then the row
    counts are compared and the audit chain verified on the target. The copy is recorded
    in the source's audit log, as its last event in the target. Files (attachments/,
    reports/, secrets/) stay where they are. Steps: docs/operations.md.

    \b
    Example:
      export PROVISION_COPY_TO_PASSWORD_FILE=/etc/kominfo-provision/db-password
      provision db copy --to postgresql+psycopg://provision@db.kominfo.example/provision
    """
    from click.core import ParameterSource

    from provision.audit import AuditLog, current_actor
    from provision.context import App
    from provision.secrets import read_secret_file, secret_from_env
    from provision.store import HEAD_REVISION
    from provision.store.copy import copy_state, plan_copy

    state: State = ctx.obj
    on_command_line = ctx.get_parameter_source("to") != ParameterSource.ENVIRONMENT
    password = secret_from_env("PROVISION_COPY_TO_PASSWORD")
    if password is None and to_password_file:
        password = read_secret_file(to_password_file, "--to-password-file")
    app = App(config_path=state.config_path)
    plan = plan_copy(app.config.database_url, app.config.secret("database", "password"), to,
                     password, url_on_command_line=on_command_line)
    if as_json and dry_run:
        print_json({**plan.as_dict(), "applied": False})
    elif not as_json:
        schema = (f"schema {plan.target_revision}" if plan.target_revision
                  else "empty: the schema will be created")
        click.echo(f"Copy the state\n  from {plan.source_shown} (schema {HEAD_REVISION})\n"
                   f"  to   {plan.target_shown} ({schema})")
        width = max(map(len, plan.counts))
        for name, n in plan.counts.items():
            click.echo(f"  {name:<{width}}  {n} row{'' if n == 1 else 's'}")
    if dry_run:
        return 0
    confirm_apply(f"the copy to {plan.target_shown}", yes)
    actor, origin = current_actor()
    audit = AuditLog(plan.source, actor=actor, key_file=app.audit_key_file)
    audit.start_run(["provision", *state.argv], None, origin)
    try:
        result = copy_state(plan, audit)
    except ProvisionError as e:
        audit.end_run("failed", int(e.exit_code))
        raise
    except (KeyboardInterrupt, click.exceptions.Abort):
        audit.end_run("interrupted", int(ExitCode.ABORTED))
        raise
    except BaseException:
        audit.end_run("failed", int(ExitCode.FAILURE))
        raise
    audit.end_run("ok", 0)
    if as_json:
        print_json({**result.as_dict(), "applied": True})
        return 0
    total = sum(result.counts.values())
    click.echo(f"Copied {total} rows in {len(result.counts)} tables to {result.target}: "
               + ", ".join(f"{k} {v}" for k, v in result.counts.items()) + ".")
    click.echo(f"Row counts equal in source and target; audit chain intact on the target: "
               f"{result.audit_events} events verified (event {result.event_seq} records this copy).")
    click.echo("Next: point database.url or PROVISION_DATABASE_URL at the target "
               "(docs/operations.md).")
    return 0
