"""Per-request locks: one changing run per request at a time, on SQLite and PostgreSQL.

SQLite: an flock on a file next to the database. PostgreSQL: a session advisory lock
on a dedicated connection. Both are released by the OS or the server when the holder
dies, so a crashed run never leaves a request locked. Who holds it is written to
`lock_info` for the message the waiting run shows.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from types import TracebackType

from sqlalchemy import Connection, delete, select, text

from provision.audit import utcnow
from provision.errors import LockTimeout
from provision.store import Store
from provision.store.db import sqlite_lock_dir
from provision.store.models import LockInfo


def _key(request_id: str) -> int:
    # A stable signed 64-bit key for pg_advisory_lock.
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big", signed=True)


class RequestLock:
    """Context manager: hold the request's lock, waiting up to `timeout` seconds."""

    def __init__(self, store: Store, request_id: str, run_id: str, actor: str,
                 timeout: float, poll: float = 0.1) -> None:
        self.store, self.request_id, self.run_id, self.actor = store, request_id, run_id, actor
        self.timeout, self.poll = timeout, poll
        self._fd: int | None = None
        self._conn: Connection | None = None

    def _try(self) -> bool:
        if self.store.dialect == "sqlite":
            if self._fd is None:
                d = sqlite_lock_dir(self.store.url)
                assert d is not None
                self._fd = os.open(d / f"{self.request_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
        if self._conn is None:
            self._conn = self.store.engine.connect()
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                 {"k": _key(self.request_id)}).scalar()
        self._conn.commit()
        return bool(got)

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._try():
            if time.monotonic() >= deadline:
                self._close()
                raise LockTimeout(f"request {self.request_id} is locked by {self.holder()}.",
                                  "Wait for that run to finish, or raise --lock-timeout.")
            time.sleep(self.poll)
        with self.store.write() as s:
            s.merge(LockInfo(request_id=self.request_id, run_id=self.run_id,
                             actor=self.actor, since=utcnow()))

    def holder(self) -> str:
        with self.store.read() as s:
            info = s.execute(select(LockInfo).where(LockInfo.request_id == self.request_id)).scalar()
        if info is None:
            return "another run"
        return f"run {info.run_id} of {info.actor} since {info.since:%Y-%m-%d %H:%M:%S} UTC"

    def release(self) -> None:
        try:
            with self.store.write() as s:
                s.execute(delete(LockInfo).where(LockInfo.request_id == self.request_id,
                                                 LockInfo.run_id == self.run_id))
        finally:
            if self._conn is not None:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self.request_id)})
                self._conn.commit()
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RequestLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
