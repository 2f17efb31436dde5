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
    assert "schema version 0004" in r.stdout
    r = run_cli("db", "status", "--json")
    assert r.exit_code == 0, r
    assert r.json["revision"] == r.json["code_revision"] == "0004"


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
