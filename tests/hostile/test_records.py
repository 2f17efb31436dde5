"""Hostile and careless input in request records, attachments and specs: every case
rejected with exit 2 and a message naming the field, and nothing stored. Free text that is
merely unusual (quotes, semicolons) is kept verbatim and never interpreted.

The values and their categories are in tests/hostile/corpus.py."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.helpers import run_cli
from tests.hostile.corpus import (
    BAD_TEXT,
    FORMAT,
    IDNA_VALUES,
    INVISIBLE,
    INVISIBLE_VALUES,
    JINJA_TEXT_VALUES,
    NAMES,
    NEWLINE_NUL,
    OVERLONG,
    SHELL,
    TRAVERSAL,
    WRONG_TYPE,
    YAML,
    Case,
    register,
)
from tests.test_requests import OPEN

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "docs" / "examples" / "spec.yaml").read_text())
# Names that are wrong for their form alone: upper case, a trailing '-', empty.
FORMAT_NAMES: list[Case] = [(FORMAT, "DISDIK"), (FORMAT, "disdik-"), (FORMAT, "")]
IDENTIFIERS = NAMES + FORMAT_NAMES


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


CASES_OPEN = register("argument", "request open", (
    [("--opd-code", c, v, "opd_code") for c, v in IDENTIFIERS]
    + [("--id", c, v, "request_id") for c, v in IDENTIFIERS + [(FORMAT, "REQ-2026-1"), (FORMAT, "REQ-2026-0001a"),
                                                                (FORMAT, "req-2026-0001")]]
    + [(f, c, v, fld) for f, fld in (("--opd-name", "opd_name"), ("--app", "app_name"),
                                     ("--letter-number", "letter_number")) for c, v in BAD_TEXT]
    + [("--letter-date", c, v, "--letter-date") for c, v in ((FORMAT, "2026-02-30"), (FORMAT, "26-01-01"),
                                                             (WRONG_TYPE, "today"), (SHELL, "$(date)"),
                                                             (FORMAT, ""))]),
    category_of=lambda c: c[1])


def rejected(cases: list[Any], invoke: Any, home: Path) -> None:
    """Run every case of a group against one state: each must exit 2, name its field and
    leave the state as it was (compared after each case). All failures are reported."""
    before = snapshot(home)
    failures = []
    for case in cases:
        r, field = invoke(*case)
        after = snapshot(home)
        if r.exit_code != 2 or field not in r.stderr or after != before:
            failures.append(f"{case!r:.120}: {r!r:.600}" + ("" if after == before else " (the state changed)"))
            before = after
    assert not failures, f"{len(failures)} of {len(cases)} cases not rejected properly:\n" + "\n".join(failures)


def by_flag(cases: list[Any]) -> list[Any]:
    flags = sorted({c[0] for c in cases})
    return [pytest.param(f, [c for c in cases if c[0] == f], id=f) for f in flags]


@pytest.mark.parametrize("flag,cases", by_flag(CASES_OPEN))
def test_request_open_rejects(opened: str, provision_home: Path, flag: str, cases: list[Any]) -> None:
    rejected(cases, lambda f, category, value, field: (run_cli(*open_args(**{f: value})), field), provision_home)


ATTACH_NAMES = register("attachment", "names", [
    (NEWLINE_NUL, "a\nb.pdf"), (INVISIBLE, "a\x1b[31m.pdf"), (INVISIBLE, "a\u202efdp.exe"), (INVISIBLE, "a\u200b.pdf"),
    (SHELL, "-rf.pdf"), (OVERLONG, "x" * 256 + ".pdf"), (INVISIBLE, "a\u2028b.pdf"), (NEWLINE_NUL, "a\rb.pdf"),
])
CASES_STEP = register("argument", "request step", (
    [("--note", c, v, "--note") for c, v in BAD_TEXT[2:]]
    + [("--output-ref", c, v, "--output-ref") for c, v in BAD_TEXT]
    + [("--reason", c, v, "--reason") for c, v in BAD_TEXT[2:]]), category_of=lambda c: c[1])


def test_request_step_rejects(opened: str, provision_home: Path) -> None:
    def invoke(flag: str, category: str, value: str, field: str) -> Any:
        extra = ["--out-of-order"] if flag == "--reason" else []
        return run_cli("request", "step", opened, "1", "--done", flag, value, *extra), field

    rejected(CASES_STEP, invoke, provision_home)


def test_attachment_names_rejected(opened: str, provision_home: Path) -> None:
    def invoke(category: str, name: str) -> Any:
        f = provision_home / "in" / name
        f.parent.mkdir(exist_ok=True)
        try:
            f.write_bytes(b"lampiran")
        except OSError:  # over-long names cannot even exist on disk: the check is the CLI's
            f = provision_home / "in" / ("y" * 250)
            f.write_bytes(b"lampiran")
            name = f.name + "y" * 10
        return run_cli("request", "step", opened, "1", "--done", "--attach", str(f.parent / name)), "--attach"

    rejected(ATTACH_NAMES, invoke, provision_home)


STEP_NUMBERS = register("argument", "step number", [
    (FORMAT, "0"), (FORMAT, "-1"), (FORMAT, "16"), (WRONG_TYPE, "1.5"), (WRONG_TYPE, "x"), (SHELL, "1;2"),
    (SHELL, "$(id)")])


def test_step_number_rejected(opened: str, provision_home: Path) -> None:
    def invoke(category: str, value: str) -> Any:
        r = run_cli("request", "step", opened, value, "--done")
        return r, "step" if "step" in r.stderr else "NUMBER"

    rejected(STEP_NUMBERS, invoke, provision_home)


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    d = copy.deepcopy(data)
    cur: Any = d
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return d


WRONG_TYPES: list[Case] = [(WRONG_TYPE, v) for v in (5, 8.2, True, None, ["x"], {"a": 1})]
SPEC_FIELDS: list[tuple[tuple[Any, ...], str, list[Case]]] = [
    (("application", "slug"), "application.slug",
     IDENTIFIERS + IDNA_VALUES + [(FORMAT, "www"), (FORMAT, "root"), (FORMAT, "a")] + WRONG_TYPES),
    (("application", "subdomain"), "application.subdomain", IDNA_VALUES + NAMES[:12] + [(FORMAT, "www")]),
    (("application", "name"), "application.name", [c for c in BAD_TEXT if c[0] != INVISIBLE] + WRONG_TYPES[:2]),
    (("dns", "records", 0, "name"), "dns.records[0].name",
     NAMES + IDNA_VALUES + [(FORMAT, "@"), (FORMAT, "x.batam.go.id.")]),
    (("repository", "members", 0, "username"), "repository.members[0].username", NAMES),
    (("repository", "group"), "repository.group",
     [c for c in NAMES if c[1] not in ("a b",)] + [(TRAVERSAL, "/abs"), (TRAVERSAL, "a//b")]),
    (("runtime", "document_root"), "runtime.document_root",
     [(TRAVERSAL, "../etc"), (TRAVERSAL, "/srv"), (TRAVERSAL, "a/../../b"), (NEWLINE_NUL, "a\nb"),
      (NEWLINE_NUL, "a\x00b"), (TRAVERSAL, "~root"), (TRAVERSAL, "C:/x"), (TRAVERSAL, "a\\..\\b")]),
    (("repository", "default_branch"), "repository.default_branch",
     [(FORMAT, "a..b"), (SHELL, "a b"), (SHELL, "-x"), (FORMAT, "a~1"), (FORMAT, "a:b"), (FORMAT, "HEAD@{0}"),
      (FORMAT, ""), (SHELL, "a;b"), (NEWLINE_NUL, "a\nb"), (TRAVERSAL, "refs/../x"), (OVERLONG, "b" * 300),
      (INVISIBLE, "ma\u200bin")]),
    (("runtime", "env"), "runtime.env", [(SHELL, {"A;B": "x"}), (FORMAT, {"a": "x"}), (NEWLINE_NUL, {"APP": "a\nb"}),
                                         (FORMAT, {"DB_PASSWORD": "x"}), (SHELL, {"LD_PRELOAD": "/x"}),
                                         (NEWLINE_NUL, {"APP": "a\x00b"}), (SHELL, {"PATH": "/tmp"})]),
    (("hosting", "host"), "hosting.host", [(SHELL, "web1;id"), (TRAVERSAL, "../web1"), (SHELL, "web 1"),
                                           (FORMAT, ""), (SHELL, "$(id)"), (NEWLINE_NUL, "web1\n"),
                                           (OVERLONG, "w" * 64)] + WRONG_TYPES[:1]),
    (("hosting", "aliases"), "hosting.aliases", [(c, [v]) for c, v in IDNA_VALUES + NAMES[:10]]),
    (("dns", "records", 0, "values"), "dns.records[0].values",
     [(FORMAT, ["999.1.1.1"]), (SHELL, ["127.0.0.1; id"]), (FORMAT, []), (NEWLINE_NUL, ["1.2.3.4\n"])]),
    (("dns", "records", 0, "ttl"), "dns.records[0].ttl",
     [(FORMAT, -1), (FORMAT, 0), (FORMAT, 10**9), (WRONG_TYPE, "3600"), (WRONG_TYPE, True)]),
    (("tests", "smoke", 0, "path"), "tests.smoke[0].path",
     [(FORMAT, "http://evil.example/"), (FORMAT, "no-slash"), (SHELL, "/a b"), (NEWLINE_NUL, "/a\nb"),
      (OVERLONG, "/" + "p" * 3000)]),
    (("tests", "command"), "tests.command", [(NEWLINE_NUL, "phpunit\nrm -rf /"), (NEWLINE_NUL, "a\x00b")]),
    (("hosting", "tls"), "hosting.tls", [(WRONG_TYPE, "yes"), (WRONG_TYPE, 1)]),
    (("runtime", "version"), "runtime.version", [(WRONG_TYPE, 8.2), (SHELL, "8.2; id")]),
    (("version",), "version", [(WRONG_TYPE, "1"), (WRONG_TYPE, 2)]),
    # issue 13: text that would reach Ansible, and the invisible characters --app refuses
    (("application", "name"), "application.name",
     JINJA_TEXT_VALUES + [c for c in BAD_TEXT if c[0] == INVISIBLE] + INVISIBLE_VALUES + [(NEWLINE_NUL, "a\tb")]),
    (("application", "description"), "application.description", JINJA_TEXT_VALUES + INVISIBLE_VALUES),
    (("runtime", "env"), "runtime.env", [(c, {"APP_X": v}) for c, v in JINJA_TEXT_VALUES + INVISIBLE_VALUES]),
    (("runtime", "document_root"), "runtime.document_root",
     JINJA_TEXT_VALUES + INVISIBLE_VALUES + [(SHELL, "public;$(id)"), (SHELL, "public html"), (SHELL, "-x"),
                                             (SHELL, "web/-rf"), (SHELL, "a*b")]),
    (("tests", "command"), "tests.command", JINJA_TEXT_VALUES + INVISIBLE_VALUES),
    (("tests", "smoke", 0, "contains"), "tests.smoke[0].contains", JINJA_TEXT_VALUES),
    (("documents", "user_guide"), "documents.user_guide", JINJA_TEXT_VALUES + [(SHELL, "docs/a b.md")]),
    (("dns", "records", 4, "values"), "dns.records[4].values", [(c, [v]) for c, v in JINJA_TEXT_VALUES]),
]
SPEC_CASES = register("spec", "fields", [(p, f, c, v) for p, f, vals in SPEC_FIELDS for c, v in vals],
                      category_of=lambda c: c[2])


@pytest.mark.parametrize("field,cases", [pytest.param(f, [c for c in SPEC_CASES if c[1] == f], id=f)
                                         for f in dict.fromkeys(c[1] for c in SPEC_CASES)])
def test_spec_rejects(provision_home: Path, field: str, cases: list[Any]) -> None:
    spec = provision_home / "spec.yaml"

    def invoke(path: tuple[Any, ...], field: str, category: str, value: Any) -> Any:
        spec.write_text(yaml.safe_dump(_set(EXAMPLE, path, value), allow_unicode=True))
        return run_cli("spec", "validate", str(spec)), field.split("[")[0]

    rejected(cases, invoke, provision_home)


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


# Whole spec documents: YAML features a spec never needs, refused before anything is read.
SPEC_DOCUMENTS = register("spec", "documents", [
    (YAML, "version: &v 1\nx: *v\n", "spec.yaml>"),
    (YAML, "version: !!python/object/apply:os.system ['id']\n", "spec.yaml>"),
    (YAML, "version: 1\n<<: {a: 1}\n", "spec.yaml>"),
    (YAML, "version: 1\nversion: 1\n", "version"),
    (YAML, "version: 1\n---\nversion: 1\n", "spec.yaml>"),
    (YAML, "on: 1\n", "spec.yaml>"),
    (YAML, "version: 1\napplication: !custom x\n", "spec.yaml>"),
    (WRONG_TYPE, "- version: 1\n", "spec.yaml>"),
    (WRONG_TYPE, "just text\n", "spec.yaml>"),
    (NEWLINE_NUL, "version: 1\x00\n", "spec.yaml>"),
    (INVISIBLE, b"version: \xff\xfe\n", "spec.yaml>"),
])


def test_spec_documents_rejected(provision_home: Path) -> None:
    spec = provision_home / "spec.yaml"

    def invoke(category: str, text: str | bytes, field: str) -> Any:
        spec.write_bytes(text if isinstance(text, bytes) else text.encode())
        return run_cli("spec", "validate", str(spec)), field

    rejected(SPEC_DOCUMENTS, invoke, provision_home)
