"""pytest fixtures of the sandbox (loaded by tests/conftest.py as a plugin).

Databases (no root needed beyond what the daemons want):
- `postgres_server` (session): a running `PostgresServer`; `.url`, `.create_database(name)`.
- `postgres_url` (function): SQLAlchemy URL of a fresh, empty database for this test.
- `mariadb_server` (session), `mariadb_url` (function): the same for MariaDB (PyMySQL URL).

A fixture that cannot start its server fails the test with the reason; it never skips.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from tests.sandbox import SandboxError
from tests.sandbox.mariadb import MariaDBServer
from tests.sandbox.postgres import PostgresServer

_counter = itertools.count(1)


def _db_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40].strip("_") or "t"
    return f"t{next(_counter)}_{base}"


def _fail(what: str, e: Exception) -> None:
    pytest.fail(f"{what} could not start: {e}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL for the whole session."""
    server = PostgresServer()
    try:
        server.start()
    except SandboxError as e:
        _fail("PostgreSQL", e)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """`postgresql+psycopg://postgres@127.0.0.1:PORT/<fresh db>`; dropped after the test."""
    name = _db_name(request)
    try:
        url = postgres_server.create_database(name)
    except Exception as e:  # psycopg errors included: the reason is what matters
        _fail(f"PostgreSQL database {name}", e)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """A throwaway MariaDB for the whole session."""
    server = MariaDBServer()
    try:
        server.start()
    except SandboxError as e:
        _fail("MariaDB", e)
    yield server
    server.stop()


@pytest.fixture
def mariadb_url(mariadb_server: MariaDBServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """`mysql+pymysql://root@127.0.0.1:PORT/<fresh db>?charset=utf8mb4`; dropped after the test."""
    name = _db_name(request)
    try:
        url = mariadb_server.create_database(name)
    except SandboxError as e:
        _fail(f"MariaDB database {name}", e)
    yield url
    mariadb_server.drop_database(name)
