"""The `provision` command line: thin Click commands over the core.

Sub-command modules are imported only when used, so `provision --help` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from provision import __version__

# name -> (module, one-line help). A module that does not exist yet is left out.
COMMANDS: dict[str, tuple[str, str]] = {
    "request": ("provision.cli.request", "Request records for all SOP steps, with due dates."),
    "spec": ("provision.cli.spec", "The desired state of a request's application."),
    "repo": ("provision.cli.repo", "Step 11: the application's GitLab repository."),
    "install": ("provision.cli.install", "Step 14: install the application on its server."),
    "rollback": ("provision.cli.install", "Step 14: go back to an earlier release."),
    "test": ("provision.cli.apptest", "Step 14: test the installed application."),
    "exec": ("provision.cli.remote", "An audited command on the application's server."),
    "dns": ("provision.cli.dns", "Step 15: the application's subdomain records."),
    "hosting": ("provision.cli.hosting", "Step 15: the application's hosting."),
    "import": ("provision.cli.importing", "Bring existing applications in as legacy records."),
    "server": ("provision.cli.server", "The Kominfo servers' baseline (nginx, PHP, databases, firewall)."),
    "check": ("provision.cli.check", "Scheduled checks over every hosted application."),
    "report": ("provision.cli.report", "Official documents (Berita Acara, Surat Rekomendasi)."),
    "apply": ("provision.cli.applyall", "Run every automated step of a request in SOP order."),
    "audit": ("provision.cli.audit", "The audit trail: log, verify, export."),
    "config": ("provision.cli.config", "The effective configuration: show, check."),
    "db": ("provision.cli.db", "The state database: upgrade, status, copy."),
    "doctor": ("provision.cli.doctor", "Check everything the configuration depends on."),
}


def _available(name: str) -> bool:
    return importlib.util.find_spec(COMMANDS[name][0]) is not None


def _with_exit_codes(command: click.Command) -> None:
    """Every command's help ends with the exit codes (a group's with its subcommands')."""
    from provision.errors import exit_codes_help

    if command.epilog is None:
        command.epilog = exit_codes_help()
    for sub in getattr(command, "commands", {}).values():
        _with_exit_codes(sub)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n in COMMANDS if _available(n)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module = importlib.import_module(COMMANDS[name][0])
        command = getattr(module, name.replace("-", "_") + "_cmd")
        _with_exit_codes(command)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                          list[str]]:
        """As Click's, with "Did you mean" from the lazy commands (Click suggests only
        from the commands it holds, and a lazy group holds none)."""
        name = str(args[0])
        if not name.startswith("-") and not ctx.resilient_parsing and self.get_command(ctx, name) is None:
            raise click.exceptions.NoSuchCommand(name, possibilities=self.list_commands(ctx), ctx=ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="FILE", envvar="PROVISION_CONFIG",
              help="Configuration file (default: search order in docs/configuration.md).")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.version_option(__version__, prog_name="kominfo-provision")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """Run the technical steps of the SOP "Pengembangan Aplikasi oleh OPD".

    Every action is logged against the request ID (nomor permohonan). Exit codes:
    docs/cli.md; every error message and what to do: docs/troubleshooting.md.

    \b
    Example:
      provision request open --opd-code disdik --opd-name "Dinas Pendidikan" \\
          --app "Sistem Informasi Sekolah" --letter-number 005/DISDIK/2026 \\
          --letter-date 2026-11-02
    """
    from provision.cli.common import State

    if ctx.obj is None:
        ctx.obj = State()
    ctx.obj.config_path, ctx.obj.debug = config_path, debug


def main(argv: list[str] | None = None) -> int:
    from provision.cli.common import run_main

    return run_main(cli, sys.argv[1:] if argv is None else argv)
