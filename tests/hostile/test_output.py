"""Hostile text the toolkit shows or exports, and configuration files planted for it
(issue 13): Rich markup is shown as written on a terminal, spreadsheet formulas are
exported as text, arguments that are not UTF-8 are refused (exit 2, naming them), and a
configuration file owned by someone else or writable by others is never read."""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.hostile.corpus import CSV_VALUES, PLANTED, RICH_VALUES, UTF8_VALUES, register
from tests.hostile.test_records import open_args, rejected

NOBODY = 65534

RICH = register("argument", "Rich markup in free text", RICH_VALUES)


def test_rich_markup_is_shown_as_written(provision_home: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    for _, value in RICH:
        r = run_cli(*open_args(**{"--opd-name": value}))
        assert r.exit_code == 0, (value, r)
    from provision.cli import common

    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # the Rich table, as on a terminal
    rows = [{"opd": v} for _, v in RICH]
    common.table(rows, [("opd", "OPD")])
    out = capfd.readouterr().out
    assert "\x1b]8;" not in out  # no hyperlink
    missing = [v for _, v in RICH if v not in out]
    assert missing == [], out


CSV = register("argument", "spreadsheet formulas", CSV_VALUES)


def test_formulas_are_exported_as_text(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for _, value in CSV:
        monkeypatch.setenv("PROVISION_ACTOR", value)
        r = run_cli(*open_args(**{"--opd-name": value}))
        assert r.exit_code == 0, (value, r)
    r = run_cli("audit", "export", "--format", "csv")
    assert r.exit_code == 0, r
    rows = list(csv.reader(io.StringIO(r.stdout)))
    cells = [c for row in rows[1:] for c in row]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    actors = {row[rows[0].index("actor")] for row in rows[1:]}
    assert actors == {"'" + v for _, v in CSV}


UTF8 = register("argument", "invalid UTF-8", [
    (c, flag, v) for c, v in UTF8_VALUES for flag in ("--note", "--output-ref")]
    + [(c, "--opd-name", v) for c, v in UTF8_VALUES], category_of=lambda c: c[0])


def test_invalid_utf8_is_refused_and_named(provision_home: Path) -> None:
    r = run_cli(*open_args(), "--json")
    assert r.exit_code == 0, r
    rid = r.json["id"]

    def invoke(category: str, flag: str, value: str) -> Any:
        if flag == "--opd-name":
            args = open_args(**{flag: value})
        else:
            args = ["request", "step", rid, "1", "--done", flag, value]
        return run_cli(*args), f"the value of {flag} is not valid UTF-8 text."

    rejected(UTF8, invoke, provision_home)


def _owned_by_nobody(home: Path, text: str) -> Path:
    p = home / "provision.toml"
    p.write_text(text)
    os.chown(p, NOBODY, NOBODY)
    return p


def _mode(mode: int) -> Any:
    def make(home: Path, text: str) -> Path:
        p = home / "provision.toml"
        p.write_text(text)
        os.chmod(p, mode)
        return p
    return make


def _symlink_to_nobodys(home: Path, text: str) -> Path:
    target = home / "elsewhere.toml"
    target.write_text(text)
    os.chown(target, NOBODY, NOBODY)
    p = home / "provision.toml"
    p.symlink_to(target)
    return p


PLANTED_FILES = register("config", "planted configuration files", [
    (PLANTED, "another user's file in the working directory", _owned_by_nobody, "belongs to another user"),
    (PLANTED, "group-writable", _mode(0o664), "is writable by group or others (mode 0664)"),
    (PLANTED, "world-writable", _mode(0o666), "is writable by group or others (mode 0666)"),
    (PLANTED, "writable by others only", _mode(0o646), "is writable by group or others (mode 0646)"),
    (PLANTED, "a symlink to another user's file", _symlink_to_nobodys, "belongs to another user"),
    (PLANTED, "group-writable and sticky", _mode(0o1664), "is writable by group or others"),
], category_of=lambda c: c[0])


@pytest.mark.parametrize("how", ["implicit", "--config"])
def test_planted_configuration_files_are_not_read(provision_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                   how: str) -> None:
    """Each planted file would move the state and pick an ssh_config with a ProxyCommand;
    none is read, the message names the file and the fix, and nothing is created."""
    evil = provision_home / "evil-state"
    text = (f'[general]\nstate_dir = "{evil}"\n[hosting]\nssh_config = "{provision_home / "evil_ssh_config"}"\n')
    (provision_home / "evil_ssh_config").write_text("Host *\n  ProxyCommand touch /tmp/kp-planted-marker\n")
    monkeypatch.delenv("PROVISION_CONFIG")

    def invoke(category: str, what: str, make: Any, message: str) -> Any:
        for p in (provision_home / "provision.toml", provision_home / "elsewhere.toml"):
            if p.is_symlink() or p.exists():
                p.unlink()
        path = make(provision_home, text)
        args = ["--config", str(path)] if how == "--config" else []
        r = run_cli(*args, "request", "list")
        assert str(path) in r.stderr and ("chown" in r.stderr or "chmod go-w" in r.stderr), (what, r)
        return r, message

    rejected(PLANTED_FILES, invoke, provision_home)
    assert not evil.exists()
