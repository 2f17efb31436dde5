"""The state store: migrations, a newer schema, an unreachable server."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import run_cli
from tests.test_requests import open_request


def test_created_on_first_use_and_db_commands(store_url: str) -> None:
    r = run_cli("db", "status", "--json")
    assert r.exit_code == 11, r  # an empty database needs migrating: `db status` never migrates
    assert "provision db upgrade" in r.stderr
    r = run_cli("db", "upgrade")
    assert r.exit_code == 0, r
    assert "schema version 0005" in r.stdout
    r = run_cli("db", "status", "--json")
    assert r.exit_code == 0, r
    assert r.json["revision"] == r.json["code_revision"] == "0005"


def test_newer_schema_refused_nothing_written(store_url: str) -> None:
    open_request()
    eng = create_engine(store_url)
    with eng.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        before = c.execute(text("SELECT count(*) FROM runs")).scalar()
    r = run_cli("request", "list")
    assert r.exit_code == 11, r
    assert "schema version 0999, newer than" in r.stderr and "Upgrade kominfo-provision" in r.stderr
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM runs")).scalar() == before
    eng.dispose()


def test_unreachable_database(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a closed port on loopback: nothing listens there
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("PROVISION_DATABASE_URL",
                       f"postgresql+psycopg://prov:secretpw99@127.0.0.1:{port}/provision")
    r = run_cli("request", "list")
    assert r.exit_code == 11, r
    assert "cannot open the state database" in r.stderr and "PROVISION_DATABASE_URL" in r.stderr
    assert "secretpw99" not in r.stderr


def test_sqlite_is_wal(provision_home: Path) -> None:
    open_request()
    eng = create_engine(f"sqlite:///{provision_home / 'state' / 'state.db'}")
    with eng.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    eng.dispose()


def test_migration_head_matches_code() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from provision.store.db import HEAD_REVISION, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_a_first_open_waits_for_another_first_run_switching_to_wal(tmp_path: Path) -> None:
    """Two first runs at once (the crash-safety test's two requests, or two CI jobs): one
    holds the write lock on the still rollback-mode file; SQLite's deadlock rule answers
    the other's switch to WAL "database is locked" at once, whatever the busy timeout.
    The store waits for the first and opens."""
    import sqlite3
    import threading
    import time

    from provision.store import Store

    path = tmp_path / "state.db"
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("CREATE TABLE early (x)")
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO early VALUES (1)")
    timer = threading.Timer(0.5, lambda: first.execute("COMMIT"))
    timer.start()
    t0 = time.monotonic()
    store = Store(f"sqlite:///{path}")
    waited = time.monotonic() - t0
    timer.join()
    try:
        assert waited >= 0.4  # it did wait for the first run's commit, not fail or skip past it
        with store.read() as s:
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert store.revision() == "0005"
    finally:
        store.dispose()
        first.close()
