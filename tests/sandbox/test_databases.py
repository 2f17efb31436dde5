"""The throwaway PostgreSQL and MariaDB servers and their fixtures."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from devstack.sandbox import SandboxError, pid_alive, port_is_free
from devstack.sandbox import mariadb as mariadb_mod
from devstack.sandbox import postgres as postgres_mod
from devstack.sandbox.mariadb import MariaDBServer
from devstack.sandbox.postgres import PostgresServer

_seen_urls: list[str] = []


def _roundtrip(url: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'batam')"))
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT id, name FROM t"))]
    finally:
        engine.dispose()


@pytest.mark.parametrize("round_", [1, 2])
def test_postgres_url_is_a_fresh_database_each_test(postgres_url: str, round_: int) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_url not in _seen_urls
    _seen_urls.append(postgres_url)
    # Table `t` is created in every round: it would fail if the database were shared.
    assert _roundtrip(postgres_url) == [(1, "batam")]


@pytest.mark.parametrize("round_", [1, 2])
def test_mariadb_url_is_a_fresh_database_each_test(mariadb_url: str, round_: int) -> None:
    assert mariadb_url.startswith("mysql+pymysql://root@127.0.0.1:")
    assert mariadb_url not in _seen_urls
    _seen_urls.append(mariadb_url)
    assert _roundtrip(mariadb_url) == [(1, "batam")]


def test_postgres_runs_fsync_off_on_loopback_only(postgres_server: PostgresServer) -> None:
    engine = sa.create_engine(postgres_server.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW fsync")).scalar() == "off"
            assert conn.execute(sa.text("SHOW listen_addresses")).scalar() == "127.0.0.1"
    finally:
        engine.dispose()


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp dir the postgres and mysql users can enter (pytest's tmp_path is root-only)."""
    d = Path(tempfile.mkdtemp(prefix="kp-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _postmaster_pid(server: PostgresServer) -> int:
    return int((server.datadir / "postmaster.pid").read_text().split("\n", 1)[0])


def test_postgres_stop_leaves_nothing(open_tmp: Path) -> None:
    server = PostgresServer(tmp_root=open_tmp).start()
    pid, port, base = _postmaster_pid(server), server.port, server.base
    assert pid_alive(pid) and not port_is_free(port)
    server.stop()
    server.stop()  # idempotent
    assert base is not None and not base.exists()
    assert port_is_free(port)
    # Reaped or gone: a zombie has no command line.
    assert not pid_alive(pid) or Path(f"/proc/{pid}/cmdline").read_bytes() == b""


def test_mariadb_stop_leaves_nothing(open_tmp: Path) -> None:
    server = MariaDBServer(tmp_root=open_tmp).start()
    assert server._proc is not None
    pid, port, base = server._proc.pid, server.port, server.base
    assert server.sql("SELECT 1").strip() == "1"
    server.stop()
    assert base is not None and not base.exists()
    assert port_is_free(port) and not pid_alive(pid)


def test_postgres_missing_binaries_fail_with_reason_and_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setattr(postgres_mod, "pg_bindir", lambda: empty)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(SandboxError, match="initdb"):
        PostgresServer(tmp_root=root).start()
    assert list(root.iterdir()) == []


def test_mariadb_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(mariadb_mod, "find_binary", _no_binary)
    with pytest.raises(SandboxError, match="mariadb-server"):
        MariaDBServer().start()


def _no_binary(name: str, dirs: object, package: str) -> str:
    raise SandboxError(f"{name} not found; install the Debian package {package}")


def test_stale_servers_of_dead_processes_are_cleaned(tmp_path: Path) -> None:
    # A process that has exited gives a pid that is certainly not alive (barring reuse).
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale_pg = tmp_path / f"kp-pg-{dead.pid}-abc"
    stale_my = tmp_path / f"kp-my-{dead.pid}-abc"
    live = tmp_path / "kp-pg-1-live"  # pid 1 is alive: never touched
    for d in (stale_pg, stale_my, live):
        d.mkdir()
    assert postgres_mod.clean_stale(tmp_path) == [stale_pg]
    assert mariadb_mod.clean_stale(tmp_path) == [stale_my]
    assert live.exists() and not stale_pg.exists() and not stale_my.exists()


def test_create_database_refuses_unsafe_names(postgres_server: PostgresServer) -> None:
    with pytest.raises(ValueError):
        postgres_server.create_database('x"; DROP DATABASE postgres; --')
