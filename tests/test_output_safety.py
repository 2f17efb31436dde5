"""What the toolkit shows never acts on the reader (issue 13, lower findings): free text is
not Rich markup and sends no control characters to a terminal, PROVISION_ACTOR is checked,
CSV cells are not spreadsheet formulas, Markdown letters hold no raw HTML from the data,
and an argument that is not UTF-8 is refused, named, with exit 2."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.test_requests import open_request

ROOT = Path(__file__).resolve().parents[1]

MARKUP = "[link=https://evil.example/]klik[/link] [bold red]X[/] [blink]"
ESCAPES = "a\x1b]0;owned\x07b\x1b[2Jc"


def _rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def test_rich_table_shows_markup_as_text_and_escapes_control_characters(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from provision.cli import common

    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # the Rich path, as on a terminal
    common.table([{"a": MARKUP, "b": ESCAPES}], [("a", "A"), ("b", "B")])
    out = capsys.readouterr().out
    assert "[link=https://evil.example/]klik[/link]" in out  # shown, not interpreted
    assert "\x1b]8;" not in out  # no OSC 8 hyperlink
    assert "\x07" not in out and "\x1b]0;" not in out and "\x1b[2J" not in out
    assert "\\x1b]0;owned\\x07b\\x1b[2Jc" in out  # the reader sees what is there
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)  # plain columns: the same escapes
    common.table([{"a": MARKUP, "b": ESCAPES}], [("a", "A"), ("b", "B")])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b]0;owned" in out and MARKUP in out


@pytest.mark.parametrize("actor,why", [
    ("tester\x1b]0;pwned\x07", "contains a control or invisible character (U+001B)"),
    ("tes\u202eter", "contains a control or invisible character (U+202E)"),
    ("a\nb", "contains a control or invisible character (U+000A)"),
    ("x" * 201, "is longer than 200 characters"),
    ("   ", "is blank"),
])
def test_provision_actor_is_checked(provision_home: Path, monkeypatch: pytest.MonkeyPatch,
                                    actor: str, why: str) -> None:
    rid = open_request()
    db = provision_home / "state" / "state.db"
    before = _rows(db, "SELECT * FROM runs"), _rows(db, "SELECT * FROM request_steps")
    monkeypatch.setenv("PROVISION_ACTOR", actor)
    r = run_cli("request", "step", rid, "1", "--done")
    assert r.exit_code == 2, r
    assert f"Error: PROVISION_ACTOR {why}: nothing was done." in r.stderr
    assert (_rows(db, "SELECT * FROM runs"), _rows(db, "SELECT * FROM request_steps")) == before


@pytest.mark.parametrize("formula", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0",
                                     "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"])
def test_csv_export_neutralises_formulas(provision_home: Path, monkeypatch: pytest.MonkeyPatch,
                                         formula: str) -> None:
    actor = formula if formula[0] not in "\t\r" else "ok"  # an actor cannot hold TAB or CR
    monkeypatch.setenv("PROVISION_ACTOR", actor)
    rid = open_request()
    note = formula if formula[0] not in "\t\r" else "ok"
    assert run_cli("request", "step", rid, "1", "--done", "--note", note).exit_code == 0
    r = run_cli("audit", "export", "--format", "csv")
    assert r.exit_code == 0, r
    rows = list(csv.reader(io.StringIO(r.stdout)))
    cells = [c for row in rows[1:] for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert f"'{actor}" in cells if actor != "ok" else True
    # The value itself is kept (after the apostrophe) and the JSON export is unchanged.
    r = run_cli("audit", "export")
    assert r.exit_code == 0, r
    assert {json.loads(line)["actor"] for line in r.stdout.splitlines()} == {actor}


def test_csv_cells_rule() -> None:
    from provision.textcheck import spreadsheet_safe

    assert [spreadsheet_safe(v) for v in ("=1+1", "+x", "-x", "@x", "\tx", "\rx", "x=1", None, 5, -3)] == \
        ["'=1+1", "'+x", "'-x", "'@x", "'\tx", "'\rx", "x=1", "", "5", "-3"]


def test_markdown_letters_hold_no_raw_html() -> None:
    from jinja2 import DictLoader

    from provision.reports.engine import _env

    env = _env()
    env.loader = DictLoader({"x.md.j2": "| {{ name }} | {{ name | replace('|', '/') }} |\n",
                             "x.html.j2": "<p>{{ name }}</p>"})
    name = "Dinas <script>alert(1)</script> & <img src=x onerror=alert(2)>"
    md = env.get_template("x.md.j2").render(name=name)
    assert "<script" not in md and "<img" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt;" in md
    html = env.get_template("x.html.j2").render(name=name)
    assert "<script" not in html and "&lt;script&gt;" in html and "&amp;lt;" not in html


@pytest.mark.parametrize("argv,name", [
    ([b"request", b"step", b"REQ-2026-0001", b"1", b"--note", b"caf\xe9 \xff"], "--note"),
    ([b"request", b"step", b"REQ-2026-0001", b"1", b"--note=\xc3\x28"], "--note"),
    ([b"request", b"show", b"REQ-\xff"], "argument 3"),
])
def test_invalid_utf8_argument_is_refused(provision_home: Path, argv: list[bytes], name: str) -> None:
    """Python keeps undecodable bytes as lone surrogates: refused before parsing (exit 2,
    naming the argument), never an "Internal error"."""
    rid = open_request()
    assert rid == "REQ-2026-0001"
    db = provision_home / "state" / "state.db"
    before = _rows(db, "SELECT count(*) FROM runs")
    env = {k: v for k, v in os.environ.items()}
    env.pop("PYTHONIOENCODING", None)
    env["LC_ALL"] = "C.UTF-8"
    r = subprocess.run([sys.executable.encode(), str(ROOT / "cli.py").encode(), *argv], capture_output=True,
                       timeout=60, env=env)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert f"Error: the value of {name} is not valid UTF-8 text." in err, err
    assert "Internal error" not in err
    assert _rows(db, "SELECT count(*) FROM runs") == before
