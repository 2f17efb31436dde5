"""pytest fixtures of the sandbox (loaded by tests/conftest.py as a plugin).

Databases (no root needed beyond what the daemons want):
- `postgres_server` (session): a running `PostgresServer`; `.url`, `.create_database(name)`.
- `postgres_url` (function): SQLAlchemy URL of a fresh, empty database for this test.
- `mariadb_server` (session), `mariadb_url` (function): the same for MariaDB (PyMySQL URL).

Servers (root; tests using them get the `root` and `slow` markers automatically):
- `sandbox` (session): the `Sandbox` holding this session's servers, its ssh_config,
  known_hosts and inventory.yml.
- `kominfo_server` (module): one `Server` shared by the module's tests, services active.
- `fresh_kominfo_server` (function): a new `Server` for this test, stopped after it.
- `server_factory` (function): `server_factory(n=1, wait_services=True) -> list[Server]`.

A fixture that cannot start its server fails the test with the reason; it never skips.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.sandbox import SandboxError
from devstack.sandbox.mariadb import MariaDBServer
from devstack.sandbox.postgres import PostgresServer
from devstack.sandbox.server import Sandbox, Server

SERVER_FIXTURES = {"sandbox", "kominfo_server", "fresh_kominfo_server", "server_factory"}
TEST_STATE_ROOT = Path(os.environ.get("KOMINFO_SANDBOX_STATE", "/var/lib/kominfo-provision-sandbox")) / "tests"

_counter = itertools.count(1)


def _db_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40].strip("_") or "t"
    return f"t{next(_counter)}_{base}"


def _fail(what: str, e: Exception) -> None:
    pytest.fail(f"{what} could not start: {e}", pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a sandbox server need root and are slow: say so, so `-m` can select them."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.root)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """This session's sandbox; every server it started is stopped at the end."""
    if os.geteuid() != 0:
        pytest.fail("sandbox servers need root (namespaces, mounts): run the tests as root", pytrace=False)
    for old in TEST_STATE_ROOT.glob("*"):  # sessions that died; their servers are cleaned at start
        if old.name.isdigit() and not Path(f"/proc/{old.name}").exists():
            shutil.rmtree(old, ignore_errors=True)
    sb = Sandbox(TEST_STATE_ROOT / str(os.getpid()))
    yield sb
    sb.stop_all()
    shutil.rmtree(sb.state_dir, ignore_errors=True)


def _start(sandbox: Sandbox, n: int, wait_services: bool) -> list[Server]:
    try:
        return sandbox.start_servers([sandbox._next_name_after(i) for i in range(n)], wait_services)
    except SandboxError as e:
        _fail("sandbox server", e)
        raise  # unreachable: pytest.fail raises


@pytest.fixture(scope="module")
def kominfo_server(sandbox: Sandbox) -> Iterator[Server]:
    """A Kominfo server shared by this module's tests (sshd, nginx, php-fpm, MariaDB, PostgreSQL up)."""
    server = _start(sandbox, 1, wait_services=True)[0]
    yield server
    sandbox.stop_server(server.name)


@pytest.fixture
def fresh_kominfo_server(sandbox: Sandbox) -> Iterator[Server]:
    """A Kominfo server of this test alone, stopped after it."""
    server = _start(sandbox, 1, wait_services=True)[0]
    yield server
    sandbox.stop_server(server.name)


@pytest.fixture
def server_factory(sandbox: Sandbox) -> Iterator[Callable[..., list[Server]]]:
    """`server_factory(n=1, wait_services=True)` starts n servers (in parallel); all stopped after the test."""
    started: list[Server] = []

    def make(n: int = 1, wait_services: bool = True) -> list[Server]:
        servers = _start(sandbox, n, wait_services)
        started.extend(servers)
        return servers

    yield make
    for s in started:
        if s.name in sandbox.servers:
            sandbox.stop_server(s.name)


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
