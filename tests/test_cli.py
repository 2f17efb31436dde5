"""Conventions every command shares: help with examples, version, errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from provision.cli import COMMANDS, cli
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def all_commands() -> list[list[str]]:
    out: list[list[str]] = []
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        assert cmd is not None
        if isinstance(cmd, click.Group):
            out += [[name, sub] for sub in cmd.list_commands(click.Context(cmd))]
        else:
            out.append([name])
    return out


def test_version() -> None:
    r = run_cli("--version")
    assert r.exit_code == 0, r
    assert r.stdout == "kominfo-provision, version 0.1.0\n"


def test_help_lists_available_commands() -> None:
    r = run_cli("--help")
    assert r.exit_code == 0, r
    for name in ("request", "spec", "audit", "config", "db"):
        assert f"  {name} " in r.stdout
    assert set(cli.list_commands(click.Context(cli))) <= set(COMMANDS)


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_help_has_an_example(path: list[str]) -> None:
    r = run_cli(*path, "--help")
    assert r.exit_code == 0, r
    assert "Example" in r.stdout, f"provision {' '.join(path)} --help has no example"


def test_unknown_command_and_option() -> None:
    r = run_cli("frobnicate")
    assert r.exit_code == 2, r
    assert "No such command 'frobnicate'" in r.stderr
    r = run_cli("request", "list", "--bogus")
    assert r.exit_code == 2, r
    assert "No such option: --bogus" in r.stderr or "No such option '--bogus'" in r.stderr


def test_error_is_one_line_and_debug_shows_traceback(provision_home: Path) -> None:
    r = run_cli("request", "show", "REQ-2026-0404")
    assert r.exit_code == 2, r
    assert r.stderr.strip().splitlines() == [
        "Error: request REQ-2026-0404 does not exist. See `provision request list` for the request IDs."]
    r = run_cli("--debug", "request", "show", "REQ-2026-0404")
    assert r.exit_code == 2, r
    assert "Traceback" in r.stderr


def test_cli_py_runs_from_checkout() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Usage: cli.py" in r.stdout or "Usage: provision" in r.stdout


def test_confirm_refuses_without_terminal() -> None:
    from provision.cli.common import confirm_apply
    from provision.errors import UsageError

    with pytest.raises(UsageError) as e:
        confirm_apply("the DNS plan", yes=False)
    assert "Pass --yes" in str(e.value)
    confirm_apply("the DNS plan", yes=True)  # --yes: no question asked


def test_core_never_imports_click_or_prints() -> None:
    import re

    pattern = re.compile(r"^\s*(import click|from click)|(?<![\w.])print\(|\bsys\.exit\(", re.M)
    core = [p for p in (ROOT / "provision").rglob("*.py") if "cli" not in p.relative_to(ROOT / "provision").parts]
    offenders = []
    for p in core:
        if pattern.search(p.read_text()):
            offenders.append(str(p.relative_to(ROOT)))
    assert offenders == []


def test_a_typo_in_a_top_level_command_gets_a_suggestion() -> None:
    r = run_cli("reqest", "list")
    assert r.exit_code == 2, r
    assert "No such command 'reqest'. (Did you mean one of: 'request', 'test'?)" in r.stderr
    r = run_cli("auidt", "log")
    assert r.exit_code == 2 and "No such command 'auidt'. Did you mean 'audit'?" in r.stderr, r
    r = run_cli("request", "lsit")  # subcommands already did
    assert r.exit_code == 2 and "Did you mean 'list'?" in r.stderr, r


@pytest.mark.parametrize("path,option,words", [
    (["request", "list"], "--status", "Only requests in this state"),
    (["hosting", "list"], "--status", "Only applications in this state"),
    (["audit", "export"], "--format", "csv: for spreadsheets"),
    (["request", "close"], "--yes", "Close without asking"),
    (["hosting", "apply"], "--checksum", "still the one reviewed"),
    (["install"], "--checksum", "still the one reviewed"),
    (["apply"], "--checksum", "still the one reviewed"),
])
def test_options_say_what_they_do(path: list[str], option: str, words: str) -> None:
    r = run_cli(*path, "--help")
    assert r.exit_code == 0, r
    text = " ".join(r.stdout.split())
    assert option in text and words in text, r.stdout


@pytest.mark.parametrize("argv", [["install", "--help"], ["dns", "apply", "--help"], ["request", "list", "--help"],
                                  ["audit", "--help"]])
def test_every_command_help_names_the_exit_codes(argv: list[str]) -> None:
    from provision.errors import EXIT_MEANINGS, ExitCode

    assert set(EXIT_MEANINGS) == set(ExitCode)  # a new code gets its line in every help
    r = run_cli(*argv)
    assert r.exit_code == 0, r
    assert "Exit codes (docs/cli.md):" in r.stdout
    for code, meaning in EXIT_MEANINGS.items():
        assert f"{int(code):>2}  {meaning}" in r.stdout, (code, r.stdout)
