"""Engine, sessions and schema version for the state store.

The schema version is checked on every open against HEAD_REVISION without importing
Alembic (it is slow to import); Alembic runs only when an upgrade is needed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from provision.errors import StateError
from provision.secrets import REDACTOR

HEAD_REVISION = "0005"
MIGRATIONS = Path(__file__).parent / "migrations"


class Store:
    """Opens the database, applies migrations on first use, hands out sessions.

    `write()` sessions take the database's write lock at BEGIN (SQLite: BEGIN
    IMMEDIATE), so concurrent writers queue instead of failing half-way.
    """

    def __init__(self, url: str, password: str | None = None, upgrade: bool = True) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self.shown_url = REDACTOR.text(url)
        kwargs: dict = {}
        if self.dialect == "sqlite":
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:" and not path.startswith("file:"):
                from provision.privatefiles import sqlite_files

                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                sqlite_files(Path(path))  # 0600 (and its WAL and SHM) whatever the umask
            kwargs["connect_args"] = {"timeout": 60}
        elif self.dialect == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": 10}
            if password:
                kwargs["connect_args"]["password"] = password
            kwargs["pool_pre_ping"] = True
        else:
            raise StateError(f"unsupported database URL scheme {self.dialect!r}.",
                             "Use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.")
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(self.engine.execution_options(provision_write=True),
                                    expire_on_commit=False)
        self._check_schema(upgrade)

    def _check_schema(self, upgrade: bool) -> None:
        try:
            with self.engine.connect() as conn:
                try:
                    rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                except (OperationalError, ProgrammingError):
                    conn.rollback()
                    rev = None
        except SQLAlchemyError as e:
            raise StateError(f"cannot open the state database {self.shown_url}: "
                             f"{REDACTOR.text(str(getattr(e, 'orig', None) or e)).splitlines()[0]}",
                             "Check database.url / PROVISION_DATABASE_URL and that the server is up.") from e
        if rev == HEAD_REVISION:
            return
        if rev is not None and not _known_revision(rev):
            raise StateError(
                f"the state database {self.shown_url} is at schema version {rev}, newer than "
                f"this version of kominfo-provision knows ({HEAD_REVISION}).",
                "Upgrade kominfo-provision; nothing was written.")
        if not upgrade:
            raise StateError(f"the state database {self.shown_url} needs migrating "
                             f"({rev or 'empty'} -> {HEAD_REVISION}).", "Run: provision db upgrade")
        self.upgrade()

    def upgrade(self) -> str:
        """Apply Alembic migrations up to head; returns the revision."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        # Two first runs at once: the write lock (SQLite) or an advisory lock
        # (PostgreSQL) makes the second wait and then find the schema done.
        with self.engine.execution_options(provision_write=True).begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return HEAD_REVISION

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction holding the write lock; commits on success, rolls back on error."""
        with self._writes() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def _known_revision(rev: str) -> bool:
    return any(p.name.startswith(rev + "_") for p in (MIGRATIONS / "versions").glob("*.py"))


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=60000")
        _wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        write = conn.get_execution_options().get("provision_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _wal(cur: Any, wait: float = 60.0) -> None:
    """Switch a new database to WAL. Two first runs at once can both hold a read lock
    and want the exclusive one; SQLite then answers "database is locked" at once, without
    waiting (its deadlock rule), so the loser retries until the winner has switched."""
    import sqlite3

    deadline = time.monotonic() + wait
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def sqlite_lock_dir(url: str) -> Path | None:
    """The directory for per-request lock files next to a SQLite database (None otherwise)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[1]
    d = Path(path).parent / "locks"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d
