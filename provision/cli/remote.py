"""`provision exec`: an audited command on the application's server, as the app user."""

from __future__ import annotations

from typing import Any

import click

from provision.cli.common import command, err, json_option, print_json
from provision.errors import ExitCode


def _checked(words: tuple[str, ...]) -> tuple[str, ...]:
    from provision.cli.params import command_words_problem

    msg = command_words_problem(words)
    if msg:
        raise click.BadParameter(msg, param_hint="'COMMAND'")
    return words


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("request_id", metavar="REQ")
@click.argument("words", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- COMMAND",
                callback=lambda ctx, param, words: _checked(words))
@click.option("--env", "env", type=click.Choice(["staging", "production"]), default="staging", show_default=True)
@json_option
@command(request_arg="request_id", locks=True)
def exec_cmd(app: Any, request_id: str, words: tuple[str, ...], env: str, as_json: bool) -> int:
    """Run COMMAND on REQ's server as the app user, in its current release.

    The output is streamed; the audit log keeps the command, its exit code and a
    SHA-256 of the output (not the output). Exits 1 when the command fails.

    \b
    Example:
      provision exec REQ-2026-0001 -- php artisan migrate --force
    """
    import shlex

    from provision.install.install import load_app_inventory
    from provision.install.remote import exec_command
    from provision.install.target import resolve_target

    line = words[0] if len(words) == 1 else shlex.join(words)
    inventory = load_app_inventory(app)
    target = resolve_target(app, request_id, env, inventory)  # type: ignore[arg-type]

    def stream(name: str, text: str) -> None:
        if not as_json:
            click.echo(text, nl=False, err=(name == "err"))

    result = exec_command(app, target, inventory, line, stream)
    if as_json:
        print_json({"request": request_id, "host": target.host, "command": line, "exit_code": result.exit_code,
                    "output_sha256": result.digest, "stdout": result.stdout, "stderr": result.stderr})
    if result.exit_code != 0:
        err(f"Error: the command exited {result.exit_code} on {target.host} (logged).")
        return int(ExitCode.FAILURE)
    return 0
