"""Hostile and careless input: every case rejected with exit 2 and a message naming the
field, and nothing stored. Free text that is merely unusual (quotes, semicolons) is
kept verbatim and never interpreted."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.helpers import run_cli
from tests.test_requests import OPEN

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = yaml.safe_load((ROOT / "docs" / "examples" / "spec.yaml").read_text())

# Strings that must never reach a shell, a configuration file, a path or a query.
INJECTION = [
    "a;rm -rf /", "$(reboot)", "`id`", "a|b", "a&&b", "a>b", "a b", "a\tb", "a\nb", "a\rb",
    "a\x00b", "{{7*7}}", "{%raw%}", "${HOME}", "' OR '1'='1", "x'; DROP TABLE requests;--",
    "../../etc/passwd", "/etc/passwd", "..", "server_name x; }", "include /etc/*;",
    "!!python/object:os.system", "*alias", "%(x)s", "-rf", "",
]
UNICODE = [
    "ｄｉｓｄｉｋ",  # fullwidth
    "dіsdik",  # Cyrillic і
    "dis\u200bdik",  # zero-width space
    "dis\u202edik",  # right-to-left override
    "dis\u00addik",  # soft hyphen
    "DISDIK", "disdik-", "x" * 300,
]
NAMES = INJECTION + UNICODE  # for identifiers: all of them are wrong

# Free text: control and invisible characters, and length, are what is refused.
BAD_TEXT = ["", "   ", "a\nb", "a\rb", "a\x00b", "a\x1bb", "a\u200bb", "a\u202eb", "a\u2028b", "x" * 5000]


def snapshot(home: Path) -> dict[str, Any]:
    """Everything a command could have changed: rows of every table but `runs`, files."""
    db = home / "state" / "state.db"
    out: dict[str, Any] = {}
    if db.exists():
        eng = create_engine(f"sqlite:///{db}")
        with eng.connect() as c:
            for t in ("requests", "request_steps", "spec_versions", "step_attachments",
                      "audit_events", "lock_info"):
                out[t] = sorted(map(tuple, c.execute(text(f"SELECT * FROM {t}")).all()), key=repr)
        eng.dispose()
    files = sorted(p for p in (home / "state").rglob("*") if p.is_file() and "state.db" not in p.name
                   and p.suffix != ".lock")
    out["files"] = [(str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in files]
    return out


@pytest.fixture
def opened(provision_home: Path) -> str:
    r = run_cli(*OPEN, "--json")
    assert r.exit_code == 0, r
    return r.json["id"]


def open_args(**override: str) -> list[str]:
    base = dict(zip(OPEN[2::2], OPEN[3::2]))
    base.update(override)
    return ["request", "open", *[x for kv in base.items() for x in kv]]


CASES_OPEN = ([("--opd-code", v, "opd_code") for v in NAMES]
              + [("--id", v, "request_id") for v in NAMES + ["REQ-2026-1", "REQ-2026-0001a", "req-2026-0001"]]
              + [(f, v, fld) for f, fld in (("--opd-name", "opd_name"), ("--app", "app_name"),
                                            ("--letter-number", "letter_number")) for v in BAD_TEXT]
              + [("--letter-date", v, "--letter-date") for v in ("2026-02-30", "26-01-01", "today", "$(date)", "")])


@pytest.mark.parametrize("flag,value,field", CASES_OPEN)
def test_request_open_rejects(opened: str, provision_home: Path, flag: str, value: str, field: str) -> None:
    before = snapshot(provision_home)
    r = run_cli(*open_args(**{flag: value}))
    assert r.exit_code == 2, r
    assert field in r.stderr
    assert snapshot(provision_home) == before


ATTACH_NAMES = ["a\nb.pdf", "a\x1b[31m.pdf", "a\u202efdp.exe", "a\u200b.pdf", "-rf.pdf", "x" * 256 + ".pdf"]
CASES_STEP = ([("--note", v, "--note") for v in BAD_TEXT[2:]]
              + [("--output-ref", v, "--output-ref") for v in BAD_TEXT]
              + [("--reason", v, "--reason") for v in BAD_TEXT[2:]])


@pytest.mark.parametrize("flag,value,field", CASES_STEP)
def test_request_step_rejects(opened: str, provision_home: Path, flag: str, value: str, field: str) -> None:
    before = snapshot(provision_home)
    extra = ["--out-of-order"] if flag == "--reason" else []
    r = run_cli("request", "step", opened, "1", "--done", flag, value, *extra)
    assert r.exit_code == 2, r
    assert field in r.stderr
    assert snapshot(provision_home) == before


@pytest.mark.parametrize("name", ATTACH_NAMES)
def test_attachment_names_rejected(opened: str, provision_home: Path, name: str) -> None:
    f = provision_home / "in" / name
    f.parent.mkdir(exist_ok=True)
    try:
        f.write_bytes(b"lampiran")
    except OSError:  # over-long names cannot even exist on disk: the check is the CLI's
        f = provision_home / "in" / ("y" * 250)
        f.write_bytes(b"lampiran")
        name = f.name + "y" * 10
    before = snapshot(provision_home)
    r = run_cli("request", "step", opened, "1", "--done", "--attach", str(f.parent / name))
    assert r.exit_code == 2, r
    assert "--attach" in r.stderr
    assert snapshot(provision_home) == before


@pytest.mark.parametrize("value", ["0", "-1", "16", "1.5", "x", "1;2", "$(id)"])
def test_step_number_rejected(opened: str, provision_home: Path, value: str) -> None:
    before = snapshot(provision_home)
    r = run_cli("request", "step", opened, value, "--done")
    assert r.exit_code == 2, r
    assert "step" in r.stderr.lower() or "NUMBER" in r.stderr
    assert snapshot(provision_home) == before


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    d = copy.deepcopy(data)
    cur: Any = d
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return d


SPEC_FIELDS: list[tuple[tuple[Any, ...], str, list[Any]]] = [
    (("application", "slug"), "application.slug", NAMES + ["www", "root", "a"]),
    (("dns", "records", 0, "name"), "dns.records[0].name", INJECTION + UNICODE[:5] + ["@", "x.batam.go.id."]),
    (("repository", "members", 0, "username"), "repository.members[0].username", INJECTION[:20]),
    (("runtime", "document_root"), "runtime.document_root", ["../etc", "/srv", "a/../../b", "a\nb", "a\x00b"]),
    (("repository", "default_branch"), "repository.default_branch", ["a..b", "a b", "-x", "a~1", "a:b", "HEAD@{0}", ""]),
    (("runtime", "env"), "runtime.env", [{"A;B": "x"}, {"a": "x"}, {"APP": "a\nb"}, {"DB_PASSWORD": "x"}, {"LD_PRELOAD": "/x"}]),
    (("hosting", "host"), "hosting.host", ["web1;id", "../web1", "web 1", "", "$(id)"]),
    (("dns", "records", 0, "values"), "dns.records[0].values", [["999.1.1.1"], ["127.0.0.1; id"], [], ["1.2.3.4\n"]]),
    (("dns", "records", 0, "ttl"), "dns.records[0].ttl", [-1, 0, 10**9, "3600", True]),
    (("tests", "smoke", 0, "path"), "tests.smoke[0].path", ["http://evil.example/", "no-slash", "/a b", "/a\nb"]),
]
SPEC_CASES = [(p, f, v) for p, f, vals in SPEC_FIELDS for v in vals]


@pytest.mark.parametrize("path,field,value", SPEC_CASES, ids=[f"{f}={v!r}"[:60] for _, f, v in SPEC_CASES])
def test_spec_rejects(provision_home: Path, path: tuple[Any, ...], field: str, value: Any) -> None:
    spec = provision_home / "spec.yaml"
    spec.write_text(yaml.safe_dump(_set(EXAMPLE, path, value), allow_unicode=True))
    r = run_cli("spec", "validate", str(spec))
    assert r.exit_code == 2, r
    assert field.split("[")[0] in r.stderr


def test_spec_set_rejected_stores_nothing(opened: str, provision_home: Path) -> None:
    spec = provision_home / "spec.yaml"
    spec.write_text(yaml.safe_dump(_set(EXAMPLE, ("application", "slug"), "$(reboot)")))
    before = snapshot(provision_home)
    r = run_cli("spec", "set", opened, str(spec))
    assert r.exit_code == 2, r
    assert "application.slug" in r.stderr
    assert snapshot(provision_home) == before


def test_unusual_free_text_is_kept_verbatim(provision_home: Path) -> None:
    name = "Sistem \"Info\" $(reboot); `id` {{7*7}} ' OR 1=1 --"
    r = run_cli(*open_args(**{"--app": name}), "--json")
    assert r.exit_code == 0, r
    shown = run_cli("request", "show", r.json["id"], "--json")
    assert shown.exit_code == 0, shown
    assert shown.json["application"] == name


def test_corpus_size() -> None:
    n = len(CASES_OPEN) + len(CASES_STEP) + len(ATTACH_NAMES) + 7 + len(SPEC_CASES)
    assert n >= 200, n
