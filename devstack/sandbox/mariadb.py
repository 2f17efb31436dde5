"""A throwaway MariaDB server in a temp dir, on a free 127.0.0.1 port.

    with MariaDBServer() as db:
        url = db.create_database("state_test")   # mysql+pymysql://root@127.0.0.1:PORT/state_test

`mariadb-install-db` + `mariadbd --no-defaults` (the machine's /etc/mysql is never read),
run as the `mysql` OS user. `root` has no password and is reachable only from
127.0.0.1 and the server's own socket. SQL for set-up goes through the `mariadb` client
on the socket, so this module needs no Python driver; the URL is for PyMySQL.
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

from devstack.sandbox import SandboxError, chown_to, find_binary, free_port, pid_alive, run, tail, terminate

_PREFIX = "kp-my-"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_PKG = "mariadb-server"


def clean_stale(tmp_root: Path | None = None) -> list[Path]:
    """Kill and delete servers left by test processes that died (their owner pid is gone)."""
    removed = []
    for d in Path(tmp_root or tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        m = re.match(rf"{_PREFIX}(\d+)-", d.name)
        if not m or pid_alive(int(m.group(1))):
            continue
        try:
            os.kill(int((d / "mariadbd.pid").read_text().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


class MariaDBServer:
    """One throwaway MariaDB server. `start()` (or `with`) raises SandboxError with the reason."""

    user = "mysql"

    def __init__(self, tmp_root: Path | None = None) -> None:
        self.tmp_root = tmp_root
        self.base: Path | None = None
        self.port: int | None = None
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        assert self.base is not None, "server not started"
        return self.base / "mariadbd.sock"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (PyMySQL) of the `mysql` system database as root."""
        return self.url_for("mysql")

    def url_for(self, dbname: str) -> str:
        if self.port is None:
            raise SandboxError("MariaDB server not started")
        return f"mysql+pymysql://root@{self.host}:{self.port}/{dbname}?charset=utf8mb4"

    def start(self) -> MariaDBServer:
        if self.base is not None:
            return self
        clean_stale(self.tmp_root)
        install_db = find_binary("mariadb-install-db", ["/usr/bin"], _PKG)
        self._mariadbd = find_binary("mariadbd", ["/usr/sbin"], _PKG)
        self._client = find_binary("mariadb", ["/usr/bin"], "mariadb-client")
        self.base = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=self.tmp_root))
        try:
            # mariadbd exits silently when its directory is not writable by its user.
            self.base.chmod(0o755)
            chown_to(self.base, self.user)
            user_opt = [f"--user={self.user}"] if os.geteuid() == 0 else []
            run([install_db, "--no-defaults", f"--datadir={self.base / 'data'}", *user_opt,
                 "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
                "mariadb-install-db", cwd=self.base, timeout=120)
            self._start_on_free_port(user_opt)
            # TCP logins from 127.0.0.1 do not match 'root'@'localhost' with skip-name-resolve.
            self.sql("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';"
                     "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_on_free_port(self, user_opt: list[str]) -> None:
        assert self.base is not None
        log = self.base / "mariadbd.err"
        last = ""
        for _ in range(4):
            self.port = free_port(self.host)
            cmd = [self._mariadbd, "--no-defaults", f"--datadir={self.base / 'data'}", *user_opt,
                   f"--socket={self.socket}", f"--port={self.port}", f"--bind-address={self.host}",
                   f"--pid-file={self.base / 'mariadbd.pid'}", f"--log-error={log}", "--skip-name-resolve",
                   "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=64M",
                   "--innodb-doublewrite=0", "--character-set-server=utf8mb4", "--max-connections=200"]
            self._proc = subprocess.Popen(cmd, cwd=self.base, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)
            if self._wait_ready(timeout=60):
                return
            last = tail(log)
            self._terminate()
            if "Bind on TCP/IP port" not in last and "Address already in use" not in last:
                break
        self.port = None
        raise SandboxError(f"MariaDB did not start: {last.strip()[-1500:] or 'no log (directory not writable by mysql?)'}")

    def _wait_ready(self, timeout: float) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if self.socket.exists():
                ok = subprocess.run([self._client, "--no-defaults", f"--socket={self.socket}", "-uroot",
                                     "-e", "SELECT 1"], capture_output=True, timeout=10)
                if ok.returncode == 0:
                    return True
            time.sleep(0.1)
        return False

    def sql(self, statements: str, database: str = "mysql") -> str:
        """Run SQL as root through the socket; return the client's tab-separated output."""
        proc = run([self._client, "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B",
                    database, "-e", statements], "mariadb client", timeout=60)
        return proc.stdout

    def create_database(self, name: str) -> str:
        """Create database `name` (utf8mb4) and return its SQLAlchemy URL."""
        if not _NAME_RE.match(name):
            raise ValueError(f"database name must match {_NAME_RE.pattern}: {name!r}")
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"bad database name {name!r}")
        self.sql(f"DROP DATABASE IF EXISTS `{name}`")

    def _terminate(self) -> None:
        terminate(self._proc, timeout=20)
        self._proc = None

    def stop(self) -> None:
        """Stop the server and delete its directory. Safe to call twice."""
        self._terminate()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
        self.base = None
        self.port = None

    def __enter__(self) -> MariaDBServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<MariaDBServer {self.host}:{self.port} {self.base}>"
