"""`provision db copy --to URL`: SQLite to PostgreSQL (a real server) and SQLite to SQLite.

A realistic state (requests with steps and attachments, spec versions, a closed request,
installs, test runs, hosting, checks, documents, a lock record, runs and audit events) is
copied; the target then answers `request list` and `audit verify` like the source, takes
new writes (the id sequences moved on) and keeps its chain intact. Each refusal is checked
for its exit code and message, and the target's password never shows.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text

from tests.helpers import run_cli
from tests.test_requests import OPEN

SPEC = 'version: 1\napplication:\n  slug: sisekolah\n  name: S\nruntime:\n  kind: php\n  version: "8.2"\nhosting:\n  host: web1\n'
PASSWORD = "Kp-c0py-Target-Pw-7781"
UTC = dt.UTC


def _ok(*args: str) -> Any:
    r = run_cli(*args)
    assert r.exit_code == 0, r
    return r


def source_url(home: Path) -> str:
    return f"sqlite:///{home / 'state' / 'state.db'}"


@pytest.fixture
def source(provision_home: Path) -> str:
    """A realistic SQLite state in the test's state directory; returns its URL."""
    letter = provision_home / "surat.pdf"
    letter.write_bytes(b"%PDF-1.4 surat permohonan")
    ids = [run_cli(*OPEN, "--json").json["id"] for _ in range(3)]
    rid = ids[0]
    _ok("request", "step", rid, "1", "--done", "--attach", str(letter), "--note", "diterima")
    _ok("request", "step", rid, "2", "--done", "--attach", str(letter))
    _ok("request", "step", rid, "3", "--start")
    spec = provision_home / "spec.yaml"
    spec.write_text(SPEC)
    _ok("spec", "set", rid, str(spec))
    spec.write_text(SPEC.replace("name: S", "name: Sistem Informasi Sekolah"))
    _ok("spec", "set", rid, str(spec))
    _ok("request", "close", ids[2], "--reason", "dibatalkan OPD", "--yes")
    url = source_url(provision_home)
    _fill_other_tables(url, rid)
    return url


def _fill_other_tables(url: str, rid: str) -> None:
    """Rows the sandbox-free commands cannot make: installs, tests, hosting, checks, documents."""
    from provision.audit import AuditLog
    from provision.context import App
    from provision.store import Store
    from provision.store.models import CheckResult, Document, Hosting, Install, LockInfo, TestRun

    now = dt.datetime(2026, 11, 2, 3, 4, 5, 123456, tzinfo=UTC)
    store = Store(url, upgrade=False)
    with store.write() as s:
        s.add_all([
            Install(request_id=rid, env="staging", ref="v1.0.0", commit="a" * 40, release="r1",
                    hosts='{"web1": "ok"}', status="succeeded", started_at=now, ended_at=now),
            Install(request_id=rid, env="production", ref="v1.0.1", status="failed", started_at=now),
            TestRun(request_id=rid, env="staging", commit="a" * 40, passed=True, results="[]", created_at=now),
            TestRun(request_id=rid, env="staging", passed=False, results='[{"kind": "http"}]', created_at=now),
            Hosting(request_id=rid, host="web1", domain="sisekolah.batam.test", runtime="php",
                    database="mariadb", tls_expiry=now + dt.timedelta(days=80), status="active",
                    created_at=now, updated_at=now),
            CheckResult(request_id=rid, check="http", name="https://sisekolah.batam.test/",
                        status="pass", message="200", duration=0.25, created_at=now),
            CheckResult(request_id=rid, check="tls", name="sisekolah", status="warn", created_at=now),
            Document(request_id=rid, kind="berita-acara", number="BA/001/2026", date=now.date(),
                     path="/x/ba.pdf", sha256="b" * 64, created_at=now),
            LockInfo(request_id="REQ-2026-0999", run_id="r", actor="ghost", since=now),
        ])
        # as hosting's register and a report's issue do: the rows and their event together
        # (a row written without one is what `audit verify` reports)
        AuditLog(store, actor="tester", key_file=App().audit_key_file).append_in(s, [dict(
            provider="test", action="fill", target=rid, outcome="recorded", request_id=rid)])
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, provision_home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{provision_home / 'moved' / 'state.db'}"
    return request.getfixturevalue("postgres_url")


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, ordered by primary key, times in UTC."""
    from provision.store.copy import tables

    eng = create_engine(url)
    out: dict[str, list[dict[str, Any]]] = {}
    with eng.connect() as c:
        for t in tables():
            rows = []
            for r in c.execute(t.select().order_by(*t.primary_key.columns)).mappings():
                row = dict(r)
                for k, v in row.items():
                    if isinstance(v, dt.datetime):
                        row[k] = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
                rows.append(row)
            out[t.name] = rows
    eng.dispose()
    return out


def _all_text(url: str) -> str:
    return json.dumps(snapshot(url), default=str)


def _write_config(home: Path, name: str, url: str) -> Path:
    cfg = home / name
    cfg.write_text(f'[general]\nstate_dir = "{home / "state"}"\n\n[database]\nurl = "{url}"\n')
    return cfg


def test_copy_then_use_the_target(source: str, target: str, provision_home: Path) -> None:
    listed = _ok("request", "list", "--json").json
    verified = _ok("audit", "verify").stdout
    before = snapshot(source)
    assert all(before[t] for t in before), [t for t in before if not before[t]]  # every table has rows

    r = run_cli("db", "copy", "--to", target, "--yes")
    assert r.exit_code == 0, r
    assert r.stdout.startswith(f"Copy the state\n  from {source} (schema 0005)\n")
    assert "(empty: the schema will be created)" in r.stdout
    n_events = len(before["audit_events"]) + 1  # the copy's own event
    total = sum(map(len, before.values())) + 2  # + that event and this run
    assert f"Copied {total} rows in 13 tables to {target}: audit_events {n_events}," in r.stdout
    assert (f"Row counts equal in source and target; audit chain intact on the target: "
            f"{n_events} events verified (event {n_events} records this copy).") in r.stdout
    assert r.stderr == ""

    # The source recorded the copy; the target holds exactly the source's rows.
    src, dst = snapshot(source), snapshot(target)
    copy_run = [run for run in src["runs"] if run["command"].startswith("provision db copy")]
    assert len(copy_run) == 1 and copy_run[0]["outcome"] == "ok" and copy_run[0]["exit_code"] == 0
    for snap in (src, dst):
        for run in snap["runs"]:
            if run["id"] == copy_run[0]["id"]:
                assert run["outcome"] == "ok" and run["ended_at"] is not None
                run["ended_at"] = run["seal"] = None  # ended (and so sealed) in each database on its own
    assert src == dst
    last = dst["audit_events"][-1]
    assert (last["provider"], last["action"], last["outcome"], last["target"]) == ("db", "copy", "recorded", target)
    assert last["run_id"] == copy_run[0]["id"]

    # The configuration pointing at the target shows the same.
    cfg = _write_config(provision_home, "target.toml", target)
    r = run_cli("--config", str(cfg), "request", "list", "--json")
    assert r.exit_code == 0, r
    assert r.json == listed
    r = run_cli("--config", str(cfg), "audit", "verify")
    assert r.exit_code == 0, r
    key_id = json.loads(run_cli("audit", "verify", "--json").stdout)["key_id"]  # the source's key
    assert r.stdout == (f"Audit chain intact: {n_events} events verified.\n"
                        f"Audit key {key_id}; the requests, steps, hosting, documents and runs match the log.\n"
                        "Without a checkpoint kept off this host, events removed from the end cannot be "
                        "told apart from events never written: see `provision audit checkpoint`.\n")
    assert verified.splitlines()[:2] == [f"Audit chain intact: {n_events - 1} events verified.",
                                         f"Audit key {key_id}; the requests, steps, hosting, documents "
                                         "and runs match the log."]
    r = run_cli("--config", str(cfg), "db", "status", "--json")
    assert r.exit_code == 0, r
    assert r.json["revision"] == "0005" and r.json["dialect"] == target.split(":")[0].split("+")[0]

    # New writes on the target: a request, an attachment, rows with generated ids.
    r = run_cli("--config", str(cfg), *OPEN)
    assert r.exit_code == 0, r
    assert r.stdout.startswith("Opened REQ-2026-0004 ")
    letter = provision_home / "surat.pdf"
    r = run_cli("--config", str(cfg), "request", "step", "REQ-2026-0001", "3", "--done", "--attach", str(letter))
    assert r.exit_code == 0, r
    assert r.stdout == "REQ-2026-0001 step 3: done.\n"
    from provision.audit import AuditLog
    from provision.context import App
    from provision.store import Store
    from provision.store.models import CheckResult, Document, Install, StepAttachment, TestRun

    store = Store(target, upgrade=False)
    now = dt.datetime.now(UTC)
    with store.write() as s:
        rows = [Install(request_id="REQ-2026-0001", env="staging", ref="v2", status="running", started_at=now),
                TestRun(request_id="REQ-2026-0001", env="staging", passed=True, results="[]", created_at=now),
                CheckResult(check="dns", name="x", status="pass", created_at=now),
                Document(request_id="REQ-2026-0001", kind="rekomendasi", number="R/002", date=now.date(),
                         path="/x", sha256="c" * 64, created_at=now)]
        s.add_all(rows)
        s.flush()
        assert [x.id for x in rows] == [3, 3, 3, 2]
        AuditLog(store, actor="tester", key_file=App().audit_key_file).append_in(s, [dict(
            provider="test", action="fill", target="REQ-2026-0001", outcome="recorded",
            request_id="REQ-2026-0001")])  # as a report's issue does, in the same transaction
    with store.read() as s:
        assert s.execute(select(StepAttachment.id).order_by(StepAttachment.id)).scalars().all() == [1, 2, 3]
    store.dispose()
    r = run_cli("--config", str(cfg), "audit", "verify")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[0] == f"Audit chain intact: {n_events + 3} events verified."  # + the row's event


def test_dry_run_and_json(source: str, target: str) -> None:
    r = run_cli("db", "copy", "--to", target, "--dry-run", "--json")
    assert r.exit_code == 0, r
    plan = r.json
    assert plan["source"] == source and plan["target"] == target and plan["applied"] is False
    assert plan["target_schema"] is None and plan["tables"]["requests"] == 3
    assert plan["tables"]["audit_events"] == len(snapshot(source)["audit_events"])
    if target.startswith("sqlite"):
        assert not Path(target.split("///", 1)[1]).exists()  # a dry run creates nothing
    else:
        eng = create_engine(target)
        assert inspect(eng).get_table_names() == []
        eng.dispose()
    r = run_cli("db", "copy", "--to", target, "--yes", "--json")
    assert r.exit_code == 0, r
    assert r.json["applied"] is True and r.json["tables"]["requests"] == 3
    assert r.json["audit_events_verified"] == r.json["recorded_event"] == r.json["tables"]["audit_events"]
    assert r.json["rows"] == sum(r.json["tables"].values())


def test_refuses_a_target_with_data(source: str, target: str) -> None:
    assert run_cli("db", "copy", "--to", target, "--yes").exit_code == 0
    kept, runs = snapshot(target), len(snapshot(source)["runs"])
    r = run_cli("db", "copy", "--to", target, "--yes")
    assert r.exit_code == 2, r
    assert r.stderr.startswith(f"Error: the target database {target} is not empty: audit_events holds ")
    assert "requests holds 3 row(s)" in r.stderr and "Copy into a new, empty database" in r.stderr
    assert r.stdout == ""
    assert snapshot(target) == kept  # nothing written there
    assert len(snapshot(source)["runs"]) == runs  # nor in the source: refused before the run


def test_refuses_a_target_with_other_tables(source: str, provision_home: Path) -> None:
    path = provision_home / "other.db"
    eng = create_engine(f"sqlite:///{path}")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    eng.dispose()
    r = run_cli("db", "copy", "--to", f"sqlite:///{path}", "--yes")
    assert r.exit_code == 2, r
    assert (f"Error: the target database sqlite:///{path} is not empty: it has tables (invoices) "
            "but no kominfo-provision schema.") in r.stderr


def test_refuses_a_target_at_an_unknown_schema(source: str, provision_home: Path) -> None:
    url = f"sqlite:///{provision_home / 'newer.db'}"
    from provision.store import Store

    Store(url).dispose()
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    eng.dispose()
    r = run_cli("db", "copy", "--to", url, "--yes")
    assert r.exit_code == 11, r
    assert (f"Error: the target database {url} is at schema version 0999, which this version of "
            "kominfo-provision does not know (its schema is 0005).") in r.stderr


def test_copies_into_a_target_with_the_schema_only(source: str, target: str) -> None:
    r = run_cli("db", "upgrade", env={"PROVISION_DATABASE_URL": target})
    assert r.exit_code == 0, r
    r = run_cli("db", "copy", "--to", target, "--yes")
    assert r.exit_code == 0, r
    assert "(schema 0005)\n" in r.stdout and "audit chain intact on the target" in r.stdout


def test_refuses_a_source_behind_head(source: str, provision_home: Path) -> None:
    eng = create_engine(source)
    with eng.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    eng.dispose()
    dest = provision_home / "moved" / "state.db"
    r = run_cli("db", "copy", "--to", f"sqlite:///{dest}", "--yes")
    assert r.exit_code == 11, r
    assert f"Error: the state database {source} needs migrating (0001 -> 0005). Run: provision db upgrade" in r.stderr
    assert not dest.exists()


def test_refuses_a_missing_source(provision_home: Path) -> None:
    r = run_cli("db", "copy", "--to", f"sqlite:///{provision_home / 'moved.db'}", "--yes")
    assert r.exit_code == 2, r
    assert (f"Error: the state database {source_url(provision_home)} does not exist: nothing to copy."
            in r.stderr)
    assert not (provision_home / "state" / "state.db").exists()


@pytest.mark.parametrize("url, message", [
    ("mysql+pymysql://u@127.0.0.1/provision", "--to: unsupported database 'mysql': the state lives in SQLite or PostgreSQL."),
    ("not a url", "--to: not a database URL (empty, or with spaces or control characters)."),
    ("nonsense", "--to: not a database URL. Use sqlite:////PATH/state.db or postgresql+psycopg://"),
    ("sqlite://", "--to: a SQLite URL needs the database file's path."),
    ("sqlite:///:memory:", "--to: a SQLite URL needs the database file's path."),
    ("postgresql+psycopg:///provision", "--to: a PostgreSQL URL needs a host and a database name."),
])
def test_refuses_a_bad_url(source: str, url: str, message: str) -> None:
    r = run_cli("db", "copy", "--to", url, "--yes")
    assert r.exit_code == 2, r
    assert r.stderr.startswith(f"Error: {message}"), r


def test_refuses_the_source_itself_and_a_missing_option(source: str) -> None:
    r = run_cli("db", "copy", "--to", source, "--yes")
    assert r.exit_code == 2, r
    assert "Error: --to: that is the source database itself. Copy into a new, empty database." in r.stderr
    r = run_cli("db", "copy", "--yes")
    assert r.exit_code == 2, r
    assert "Missing option '--to'" in r.stderr


def test_without_a_terminal_needs_yes(source: str, target: str) -> None:
    r = run_cli("db", "copy", "--to", target)
    assert r.exit_code == 2, r
    assert "no terminal to ask on" in r.stderr and "--yes" in r.stderr
    assert r.stdout.startswith("Copy the state\n")  # the plan was shown
    r = run_cli("db", "copy", "--to", target, "--dry-run", "--json")
    assert r.exit_code == 0 and r.json["target_schema"] is None, r  # still empty


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_target(source: str) -> None:
    url = f"postgresql+psycopg://provision@127.0.0.1:{_closed_port()}/provision"
    r = run_cli("db", "copy", "--to", url, "--yes")
    assert r.exit_code == 11, r
    assert r.stderr.startswith(f"Error: cannot open the target database {url}: ")
    assert "Check --to (or PROVISION_COPY_TO_URL), its password and that the server is up" in r.stderr


def test_password_never_shown(source: str, postgres_url: str, provision_home: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    with_pw = postgres_url.replace("://postgres@", f"://postgres:{PASSWORD}@")
    shown = postgres_url.replace("://postgres@", "://postgres:****@")
    # On the command line: refused, naming the option, without repeating it.
    r = run_cli("db", "copy", "--to", with_pw, "--yes")
    assert r.exit_code == 2, r
    assert "Error: --to: a password in the URL is a secret" in r.stderr and "PROVISION_COPY_TO_URL" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    r = run_cli("db", "copy", "--to", f"{postgres_url}?password={PASSWORD}", "--yes")
    assert r.exit_code == 2, r
    assert "Error: --to: a password in the URL is a secret" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    # Unreachable, with the password in the variable and given apart.
    closed = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/provision"
    r = run_cli("db", "copy", "--yes", env={"PROVISION_COPY_TO_URL": closed})
    assert r.exit_code == 11, r
    assert "cannot open the target database postgresql+psycopg://postgres:****@127.0.0.1:" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    pwfile = provision_home / "target-password"
    pwfile.write_text(PASSWORD + "\n")
    pwfile.chmod(0o644)
    r = run_cli("db", "copy", "--to", postgres_url, "--to-password-file", str(pwfile), "--yes")
    assert r.exit_code == 2, r
    assert "--to-password-file: the file" in r.stderr and "readable or writable by group or others" in r.stderr
    pwfile.chmod(0o600)
    monkeypatch.setenv("PROVISION_COPY_TO_PASSWORD_FILE", str(pwfile))
    r = run_cli("db", "copy", "--to", closed.replace(f":{PASSWORD}@", "@"), "--yes")
    assert r.exit_code == 11, r
    assert PASSWORD not in r.stdout + r.stderr
    monkeypatch.delenv("PROVISION_COPY_TO_PASSWORD_FILE")
    # Copied, from the variable (the test server trusts loopback, so any password works).
    r = run_cli("db", "copy", "--yes", env={"PROVISION_COPY_TO_URL": with_pw})
    assert r.exit_code == 0, r
    assert f"to   {shown} (empty: the schema will be created)" in r.stdout
    assert PASSWORD not in r.stdout + r.stderr
    for url in (source, postgres_url):  # not in the runs, the audit log, anything
        assert PASSWORD not in _all_text(url)
    assert shown in _all_text(source)
    r = run_cli("audit", "log", "--json")
    assert r.exit_code == 0, r
    assert r.json[-1]["target"] == shown and PASSWORD not in r.stdout


def test_source_held_still_while_copying(source: str, target: str) -> None:
    """A writer that starts during the copy waits for it: the target is one consistent
    state, and the write lands in the source after the copy."""
    from provision.audit import AuditLog, current_actor, verify
    from provision.context import App
    from provision.store import Store
    from provision.store.copy import copy_state, plan_copy

    plan = plan_copy(source, None, target, None)
    key_file = App().audit_key_file  # the key travels with the copy as a file: both sides use it
    audit = AuditLog(plan.source, actor="tester", key_file=key_file)
    audit.start_run(["provision", "db", "copy"], None, current_actor()[1])
    done: list[float] = []
    seen: list[bool] = []

    def writer() -> None:
        other = Store(source, upgrade=False)
        AuditLog(other, actor="writer", key_file=key_file).record("request", "note", "REQ-2026-0001", after={"x": 1})
        done.append(time.monotonic())
        other.dispose()

    thread = threading.Thread(target=writer)

    def on_table(name: str, n: int) -> None:
        if not thread.is_alive() and not done:
            thread.start()
            time.sleep(1.0)
            seen.append(bool(done))  # the writer has not got through

    result = copy_state(plan, audit, on_table=on_table)
    finished = time.monotonic()
    thread.join(timeout=90)
    assert seen and seen[0] is False
    assert done and done[0] >= finished - 0.5
    src, dst = snapshot(source), snapshot(target)
    assert len(src["audit_events"]) == len(dst["audit_events"]) + 1  # the write came after
    assert src["audit_events"][:-1] == dst["audit_events"]
    assert result.audit_events == len(dst["audit_events"])
    for url in (source, target):
        store = Store(url, upgrade=False)
        assert verify(store, audit.key).ok
        store.dispose()


def test_a_copy_that_does_not_match_is_reported(source: str, provision_home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from provision.audit import VerifyResult
    from provision.store import copy

    monkeypatch.setattr(copy, "verify", lambda store, key=None: VerifyResult(False, 4, 5, "its content was changed"))
    dest = f"sqlite:///{provision_home / 'moved.db'}"
    r = run_cli("db", "copy", "--to", dest, "--yes")
    assert r.exit_code == 1, r
    assert (f"Error: the copy in {dest} does not match the source: the audit chain is broken at "
            "event 5: its content was changed. Do not use the target") in r.stderr
    events = snapshot(source)["audit_events"]
    assert [(e["action"], e["outcome"]) for e in events[-2:]] == [("copy", "recorded"), ("copy", "failed")]
    assert events[-1]["ref"] == events[-2]["seq"]
    run = [x for x in snapshot(source)["runs"] if x["command"].startswith("provision db copy")][0]
    assert (run["outcome"], run["exit_code"]) == ("failed", 1)
