"""Secrets: read only from environment variables or files, never from arguments.

Every secret value read is registered with the process-wide `REDACTOR`, which every
log line, audit event and rendered command line passes through.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from provision.errors import SecretError

MASK = "****"


class Redactor:
    """Replaces every known secret value (and obvious credential patterns) by ****."""

    _URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+):(?P<pw>[^@\s]+)@", re.I)

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str | None) -> None:
        # Very short values would redact ordinary words; a secret that short is refused
        # elsewhere anyway.
        if value and len(value) >= 4:
            self._values.add(value)

    def text(self, s: str) -> str:
        for v in sorted(self._values, key=len, reverse=True):
            if v in s:
                s = s.replace(v, MASK)
        return self._URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:{MASK}@", s)

    def value(self, obj: object) -> object:
        """Redact recursively inside JSON-like data."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj


REDACTOR = Redactor()


def check_secret_file(path: Path, what: str) -> None:
    """Refuse a secret file that group or others can read or write."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(f"{what}: the file {path} does not exist.",
                          "Create it, or point the setting at the right file.") from None
    except PermissionError:
        raise SecretError(f"{what}: the file {path} cannot be read (permission denied).",
                          "Run as the user that owns it.") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"{what}: {path} is not a regular file.")
    if st.st_mode & 0o077:
        raise SecretError(
            f"{what}: the file {path} is readable or writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}).",
            f"Run: chmod 600 {path}")


def read_secret_file(path: str | Path, what: str) -> str:
    p = Path(path).expanduser()
    check_secret_file(p, what)
    try:
        value = p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise SecretError(f"{what}: cannot read {p}: {e}.") from e
    if not value:
        raise SecretError(f"{what}: the file {p} is empty.")
    REDACTOR.add(value)
    return value


def secret_from_env(name: str) -> str | None:
    value = os.environ.get(name)
    if value:
        REDACTOR.add(value)
    return value or None
