"""A throwaway PostgreSQL server in a temp dir, on a free 127.0.0.1 port.

    with PostgresServer() as pg:
        url = pg.create_database("state_test")   # postgresql+psycopg://postgres@127.0.0.1:PORT/state_test

Runs Debian's binaries (/usr/lib/postgresql/<version>/bin) as the `postgres` OS user when
we are root (PostgreSQL refuses to run as root), trust auth on loopback only, fsync off:
data is thrown away at stop, so durability buys nothing and costs seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from devstack.sandbox import SandboxError, as_user, chown_to, find_binary, free_port, pid_alive, run, tail

_PREFIX = "kp-pg-"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def pg_bindir() -> Path:
    """Debian's newest versioned bin dir; else the dir of `initdb` on PATH."""
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").is_file()),
                          key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if versions:
            return versions[-1] / "bin"
    return Path(find_binary("initdb", [], "postgresql")).resolve().parent


def clean_stale(tmp_root: Path | None = None) -> list[Path]:
    """Stop and delete servers left by test processes that died (their owner pid is gone)."""
    removed = []
    root = Path(tmp_root or tempfile.gettempdir())
    for d in root.glob(f"{_PREFIX}*"):
        m = re.match(rf"{_PREFIX}(\d+)-", d.name)
        if not m or pid_alive(int(m.group(1))):
            continue
        pidfile = d / "data" / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown; the data is discarded anyway
        except (OSError, ValueError):
            pass
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


class PostgresServer:
    """One throwaway PostgreSQL cluster. `start()` (or `with`) raises SandboxError with the reason."""

    user = "postgres"

    def __init__(self, tmp_root: Path | None = None) -> None:
        self.tmp_root = tmp_root
        self.base: Path | None = None
        self.port: int | None = None
        self.host = "127.0.0.1"
        self._bindir: Path | None = None

    @property
    def datadir(self) -> Path:
        assert self.base is not None, "server not started"
        return self.base / "data"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database (superuser, no password)."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        if self.port is None:
            raise SandboxError("PostgreSQL server not started")
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        if self.base is not None:
            return self
        clean_stale(self.tmp_root)
        self._bindir = pg_bindir()
        self.base = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=self.tmp_root))
        try:
            self.base.chmod(0o755)
            chown_to(self.base, self.user)
            self._initdb()
            self._start_on_free_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _cmd(self, name: str, *args: str) -> list[str]:
        assert self._bindir is not None
        return [*as_user(self.user), str(self._bindir / name), *args]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PGTZ": "UTC"}

    def _initdb(self) -> None:
        run(self._cmd("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                      "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"),
            "initdb (PostgreSQL)", cwd=self.base, env=self._env(), timeout=120)

    def _start_on_free_port(self) -> None:
        # The port can be taken between choosing and binding: retry with another.
        last = ""
        for _ in range(4):
            self.port = free_port(self.host)
            opts = (f"-p {self.port} -k {self.base} -c listen_addresses={self.host} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            log = self.base / "postgres.log"  # type: ignore[operator]
            proc = subprocess.run(
                self._cmd("pg_ctl", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(log), "-o", opts, "start"),
                capture_output=True, text=True, cwd=self.base, env=self._env(), timeout=90)
            if proc.returncode == 0:
                return
            last = tail(log) or proc.stderr
            if "already in use" not in last and "could not bind" not in last:
                break
        self.port = None
        raise SandboxError(f"PostgreSQL did not start: {last.strip()[-1500:]}")

    def _connect(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg  # the test extra; imported late so `import devstack.sandbox` stays light

        return psycopg.connect(host=self.host, port=self.port, user="postgres", dbname=dbname,
                               autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """Create database `name` (lowercase identifier) and return its SQLAlchemy URL."""
        if not _NAME_RE.match(name):
            raise ValueError(f"database name must match {_NAME_RE.pattern}: {name!r}")
        with self._connect() as conn:
            # CREATE DATABASE cannot run inside a transaction block: autocommit above.
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"bad database name {name!r}")
        with self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete its directory. Safe to call twice."""
        if self.base is None:
            return
        pidfile = self.datadir / "postmaster.pid"
        if pidfile.exists() and self._bindir is not None:
            try:
                subprocess.run(self._cmd("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop"),
                               capture_output=True, timeout=30, cwd=self.base)
            except subprocess.TimeoutExpired:
                pass
            self._kill_leftover(pidfile)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None
        self.port = None

    @staticmethod
    def _kill_leftover(pidfile: Path) -> None:
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PostgresServer {self.host}:{self.port} {self.base}>"
