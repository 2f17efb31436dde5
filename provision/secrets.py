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


#: Longest text the redactor reads: longer text is cut (with a note) before it is scanned,
#: stored or shown. No free text the toolkit takes (notes, reasons, plans) comes near it.
MAX_TEXT = 1_000_000


class Redactor:
    """Replaces every known secret value (and obvious credential patterns) by ****.

    Its cost is linear in the text: each pattern has bounded repetitions and a fixed
    start (a scheme is preceded by no scheme character), so no position is scanned more
    than a bounded number of times (issue 13: an unbounded pattern cost 8.4 s on a
    40,000-character note).
    """

    # scheme://user:password@ with every part bounded (a password of more than 256
    # characters in a URL is not one anybody types); a password holds no '//', so a scan
    # stops at the next URL instead of running to the bound.
    _URL_PASSWORD = re.compile(
        r"(?<![a-z0-9+.-])(?P<scheme>[a-z][a-z0-9+.-]{0,31}://[^:/@\s]{1,128})"
        r":(?P<pw>(?:[^@\s/]|/(?!/)){1,256})@", re.I)

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str | None) -> None:
        # Very short values would redact ordinary words; a secret that short is refused
        # elsewhere anyway.
        if value and len(value) >= 4:
            self._values.add(value)

    def text(self, s: str) -> str:
        if len(s) > MAX_TEXT:
            s = s[:MAX_TEXT] + f" [... {len(s) - MAX_TEXT} characters cut]"
        if self._values:
            for v in sorted(self._values, key=len, reverse=True):
                if v in s:
                    s = s.replace(v, MASK)
        if "@" not in s:  # the URL password pattern needs one: most texts are done here
            return s
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

#: A name that says its value is a secret (CI/CD variables, spec env keys, config keys).
SECRETISH = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|(^|_)KEY$|CREDENTIAL|DSN$")


def looks_secret(name: str) -> bool:
    """True for a name like DB_PASSWORD, DEPLOY_TOKEN, API_KEY (not for a `*_file` path key)."""
    upper = name.upper()
    return not upper.endswith("_FILE") and bool(SECRETISH.search(upper))


def remember_file(path: str | Path, *, lines: bool = False, env: bool = False) -> None:
    """Register the secret(s) in a file with the redactor, whatever its mode, without
    raising: called at start for every configured secret file, so that a value pasted into
    a note is masked before anything is written. The command that uses the file checks it
    (mode, content) and reports. `lines`: also each line of a PEM private key's body but
    the first (which is the same in every key of a type); `env`: the values of NAME=VALUE
    lines; always: the `secret "..."` of a TSIG key file."""
    try:
        p = Path(path).expanduser()
        if not p.is_file():
            return
        with p.open("rb") as f:
            text = f.read(256 * 1024).decode("utf-8", "replace")
    except OSError:
        return
    REDACTOR.add(text.strip())
    stripped = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if env:
        for line in stripped:
            if "=" in line and not line.startswith("#"):
                REDACTOR.add(line.split("=", 1)[1].strip().strip("'\""))
    if lines and "PRIVATE KEY-----" in text:
        body = [ln for ln in stripped if not ln.startswith("-----")]
        for line in body[1:]:
            if len(line) >= 32:
                REDACTOR.add(line)
    for m in re.finditer(r'secret\s+"([^"]{4,})"', text):  # a tsig-keygen / named.conf key
        REDACTOR.add(m.group(1))


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
