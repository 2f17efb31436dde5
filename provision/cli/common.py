"""What every command shares: the error boundary, runs and locks, output, confirmation.

A command module defines `<name>_cmd` (a Click command or group). Each command that
touches the state is wrapped by `@command(...)`, which records the run (including
failed and dry-run ones), holds the request's lock for commands that change its
resources, and maps outcomes to exit codes at one place.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from provision.errors import Aborted, ExitCode, ProvisionError, UsageError, ValidationError
from provision.secrets import REDACTOR
from provision.textcheck import visible


@dataclass
class State:
    argv: list[str] = field(default_factory=list)
    config_path: str | None = None
    debug: bool = False
    app: Any = None
    outcome: str = "ok"

    def get_app(self) -> Any:
        if self.app is None:
            from provision.context import App

            self.app = App(config_path=self.config_path)
        return self.app


def err(message: str) -> None:
    click.echo(message, err=True)


#: The longest command-line argument taken: longer ones are refused before anything reads
#: them (the longest free text, a note, is far shorter; a file's content goes in a file).
MAX_ARG = 16384


def check_arguments(argv: list[str]) -> None:
    """Refuse the first argument that is too long or not valid UTF-8 (Python keeps
    undecodable bytes as lone surrogates), named by its option (UsageError). Checked
    before Click parses anything and before the redactor reads the command line."""
    for i, arg in enumerate(argv):
        too_long = len(arg) > MAX_ARG
        if not too_long and not any("\udc80" <= ch <= "\udcff" for ch in arg):
            continue
        if arg.startswith("--") and "=" in arg[:64]:
            name = arg.split("=", 1)[0]
        elif i > 0 and argv[i - 1].startswith("-") and len(argv[i - 1]) <= 64:
            name = argv[i - 1]
        else:
            name = f"argument {i + 1}"
        if too_long:
            raise UsageError(f"the value of {name} is {len(arg)} characters long; the limit is {MAX_ARG}.",
                             "Put long text in a file (an attachment), not on the command line.")
        raise UsageError(f"the value of {name} is not valid UTF-8 text.",
                         "Write arguments in UTF-8 (check the terminal's and the script's encoding).")


def run_main(group: click.Group, argv: list[str]) -> int:
    """Run the CLI; turn every outcome into an exit code. Never raises."""
    try:
        check_arguments(argv)  # nothing parsed, loaded, stored or logged before this
    except UsageError as e:
        _print_error(e)
        return int(e.exit_code)
    debug = "--debug" in argv
    if any(v.startswith("PROVISION_") for v in os.environ) and argv and not {"-h", "--help", "--version"} & set(argv):
        # The settings are known once the configuration module is loaded, which every
        # command does anyway; help and --version stay fast.
        from provision.config import unknown_variables

        for warning in unknown_variables(os.environ):
            err(f"Warning: {warning}")
    try:
        rv = group.main(args=argv, prog_name="provision", standalone_mode=False,
                        obj=State(argv=list(argv)))
        return int(rv) if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        err("Interrupted: nothing more was done (see `provision audit log` for what was).")
        return int(ExitCode.ABORTED)
    except click.ClickException as e:
        e.show()
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        err("Interrupted: nothing more was done (see `provision audit log` for what was).")
        return int(ExitCode.ABORTED)
    except ProvisionError as e:
        if debug:
            traceback.print_exc()
        _print_error(e)
        return int(e.exit_code)
    except BrokenPipeError:
        return 0
    except Exception:  # noqa: BLE001 - the one place unexpected errors are reported
        if debug:
            traceback.print_exc()
        else:
            err(f"Internal error: {sys.exc_info()[1]!r}. Run again with --debug for the "
                "traceback, and report it with that output.")
        return int(ExitCode.FAILURE)


def _print_error(e: ProvisionError) -> None:
    if isinstance(e, ValidationError):
        err(REDACTOR.text(f"Error: {e.message.split(':', 1)[0]}:"))
        for p in e.problems:
            err(REDACTOR.text(f"  - {p}"))
        if e.hint:
            err(e.hint)
        return
    err(REDACTOR.text(f"Error: {e}"))


class _Seconds(click.FloatRange):
    """0 to one day; not NaN (which every range comparison lets through) nor infinity."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return rv


LOCK_TIMEOUT = _Seconds(0, 86400)


def command(request_arg: str | None = None, locks: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a command body `f(app, **kwargs)` in a recorded run.

    `request_arg` names the parameter holding the request ID (the run is logged
    against it); `locks` holds that request's lock for the whole command.
    """

    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        @click.pass_obj
        def wrapper(state: State, **kwargs: Any) -> int:
            rid = kwargs.get(request_arg) if request_arg else None
            if rid is not None:
                from provision.cli.params import request_id_problem

                msg = request_id_problem(rid)
                if msg:  # before anything is loaded, stored or logged
                    raise click.BadParameter(msg, param_hint="'REQ'")
            app = state.get_app()
            lock_timeout = kwargs.pop("lock_timeout", None)
            app.actor  # noqa: B018 - PROVISION_ACTOR checked before anything is written
            app.config.register_secrets(rid)  # every secret known before the run row is written
            audit = app.audit
            audit.start_run(["provision", *state.argv], rid, app.actor[1])
            code, outcome = ExitCode.OK, "ok"
            try:
                if locks and rid:
                    app.requests.get(rid)
                    with app.lock(rid, lock_timeout):
                        rv = f(app, **kwargs)
                else:
                    rv = f(app, **kwargs)
                code = ExitCode(rv) if isinstance(rv, int) else ExitCode.OK
                outcome = state.outcome if code == ExitCode.OK else "failed"
            except ProvisionError as e:
                code, outcome = e.exit_code, "failed"
                _notify_ci_failure(app, state.argv, rid, e)
                raise
            except (KeyboardInterrupt, click.exceptions.Abort):
                code, outcome = ExitCode.ABORTED, "interrupted"
                raise
            except BaseException:
                code, outcome = ExitCode.FAILURE, "failed"
                raise
            finally:
                audit.end_run(outcome, int(code))
            return int(code)

        if locks:
            wrapper = click.option(
                "--lock-timeout", type=LOCK_TIMEOUT, default=None, metavar="SECONDS",
                help="Wait this long for another run on the same request "
                     "(default: database.lock_timeout).")(wrapper)
        return wrapper

    return deco


def _notify_ci_failure(app: Any, argv: list[str], rid: str | None, e: ProvisionError) -> None:
    """A failed `apply` or `install` in a CI job tells the operators (notify.urls), since
    nobody watches the job's log; a notification that fails is only a warning."""
    words = [w for i, w in enumerate(argv) if not w.startswith("-") and (i == 0 or argv[i - 1] != "--config")]
    if os.environ.get("CI") != "true" or not rid or not words or words[0] not in ("apply", "install"):
        return
    from provision.notify import notify_failed_run

    try:
        sent = notify_failed_run(app, words[0], rid, int(e.exit_code), str(e))
    except ProvisionError as ne:  # e.g. an unreadable notify.urls_file: never hide the real error
        click.echo(f"Warning: the failure notification was not sent: {ne}", err=True)
        return
    if sent.error:
        click.echo(f"Warning: the failure notification was not sent: {sent.error}", err=True)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(f)


def change_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--dry-run, --yes and --json for every command that changes something
    (`@command(locks=True)` adds --lock-timeout)."""
    f = click.option("--yes", "-y", is_flag=True, help="Apply without asking.")(f)
    f = click.option("--dry-run", is_flag=True, help="Show the plan and stop.")(f)
    return json_option(f)


def print_json(data: Any) -> None:
    # Redacted when shown too: text stored before a secret was known is masked now.
    click.echo(json.dumps(REDACTOR.value(data), indent=2, ensure_ascii=False, default=str))


def printable(value: Any) -> str:
    """A value as one line of text for a terminal: known secrets masked, and control and
    invisible characters (escape sequences, bidi overrides) shown as \\xNN / \\uNNNN,
    never sent to the terminal."""
    return visible(REDACTOR.text("" if value is None else str(value)))


def is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def confirm_apply(what: str, yes: bool) -> None:
    """Ask on a terminal unless --yes; refuse without --yes when there is no terminal."""
    if yes:
        return
    if not is_terminal():
        raise UsageError(f"not applying {what}: no terminal to ask on.",
                         "Pass --yes to apply without asking (as CI jobs do).")
    if not click.confirm(f"Apply {what}?", default=False):
        raise Aborted(f"{what} not applied: declined at the prompt.")


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Rows as aligned columns (a rich table on a terminal)."""
    if sys.stdout.isatty() and os.environ.get("TERM") != "dumb" and len(rows) < 2000:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        t = Table(show_edge=False, header_style="bold")
        for _, title in columns:
            t.add_column(title)
        for r in rows:  # Text cells: data is never read as Rich markup ([link=...], [bold])
            t.add_row(*(Text(printable(r.get(k))) for k, _ in columns))
        Console(markup=False, emoji=False, highlight=False).print(t)
        return
    cells = [[title for _, title in columns]] + [
        [printable(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    click.echo("\n".join("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip() for c in cells))


def check_checksum(plans: Any, checksum: str | None) -> None:
    """--checksum: refuse to apply a plan other than the one reviewed (exit 7). `plans` is
    one Plan or a list (one checksum over all: `provision.plan.checksum_of`)."""
    from provision.plan import checksum_of

    now = checksum_of(plans if isinstance(plans, list) else [plans])
    if checksum and checksum != now:
        from provision.errors import Conflict

        raise Conflict(f"the plan is not the one reviewed (checksum {checksum}, now {now}): "
                       "nothing was applied.", "Review the new plan and apply with its checksum.")


def print_document(plans: Any, result: Any = None) -> None:
    """The JSON of every changing command: {"plans": [...], "checksum": ..., "result": ...}."""
    from provision.render import document

    print_json(document(plans if isinstance(plans, list) else [plans], result))


def stop_before_apply(plan: Any, as_json: bool, dry_run: bool, nothing: str, empty: bool | None = None) -> bool:
    """True when there is nothing to apply (--dry-run, or an empty plan); says so."""
    if not (dry_run or (plan.empty if empty is None else empty)):
        return False
    if as_json:
        print_document(plan)
    else:
        click.echo("Dry run: nothing applied." if dry_run else nothing)
    return True


def render_plan(plan: Any) -> str:
    """A Plan as text (provision.render.plan_text, the one renderer)."""
    from provision.render import plan_text

    return plan_text(plan)
