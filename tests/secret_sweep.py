"""The secrets sweep (issue 9, item 6): a pytest plugin that remembers every secret value the
tests use and every place the toolkit writes to, and a scanner that looks for those values
(raw, URL-encoded, JSON-escaped, base64 at any alignment) outside the places secrets belong.

The sweep itself is tests/test_zz_secrets_sweep.py, moved to the end of the session by the
hook below. It scans:

- the directory of every fixture in ROOT_FIXTURES (every `provision_home`, hosting and
  install home: state.db, audit exports, reports (PDF streams decompressed), ansible-runner
  private data dirs, logs; the GitLab emulator's state directory; the sandbox's state
  directory), plus any root given to `add_root`;
- what is deleted before the end, captured (hard links, or text) when it is deleted:
  each sandbox server's upper directory (its /var/log, /etc, application trees, a tar of
  its tmpfs /tmp and /run; not the database engines' data directories), each BIND pair's directory (named.log, journals),
  the GitLab emulator at each reset (its request log, its state with the token store and
  CI variable values left out, every git object of every repository), and the text of every
  table of each PostgreSQL test database before it is dropped.

Secrets come from `remember(value, kind)` and automatically from: every value the
REDACTOR learned in this process, every environment variable named like a secret and every
password inside a URL in the environment while a test ran (`collect_env`, issue 13), every GitLab token and masked CI variable value the
emulator held, every TSIG key of a BIND pair, every private key an SSH key pair fixture
wrote (id_*), and every DB_PASSWORD in the 0600 environment files on the sandbox servers.

Where secrets belong (ALLOWED, each with its reason) is checked against the file's name and
mode: a secret file readable by group or others is a finding, not an allowed place.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

#: Shorter values are not searched: they would match ordinary text.
MIN_LEN = 8
#: Files larger than this are not read (counted as skipped).
MAX_FILE = 64 * 1024 * 1024
MASKED_VARIABLE = "masked CI/CD variable value"
SWEEP_TEST = "test_zz_secrets_sweep.py::test_no_secret_outside_its_place"


# -- where secrets belong ------------------------------------------------------------------------

def _private(mode: int) -> bool:
    return stat.S_ISREG(mode) and not mode & 0o077


def _emulator_store(p: Path) -> bool:
    return p.name in ("state.json", "state.tmp") and (p.parent / "repositories").is_dir()


#: (why the place is allowed, test on (path, mode, secret kind)). Every rule but the last two
#: wants mode 0600 or stricter: the same file readable by others is a finding.
ALLOWED: list[tuple[str, Callable[[Path, int, str], bool]]] = [
    ("a secret file the toolkit reads (0600): GitLab token file, database password file",
     lambda p, m, k: _private(m) and bool(re.search(r"token|passw|dbpass|secret", p.name, re.I))),
    ("a TSIG key file (0600): the client's key given to the toolkit, named's own copy",
     lambda p, m, k: _private(m) and p.name in ("client.key", "named.key")),
    ("an SSH private key (0600): the sandbox client key, host keys, deploy keys",
     lambda p, m, k: _private(m) and not p.name.endswith(".pub")
     and (p.name.startswith("id_") or p.name.startswith("ssh_host_") or p.parent.name == ".ssh"
          or bool(re.fullmatch(r"[a-z0-9_-]*key[0-9]*", p.name)))),
    ("the audit key (0600): keys the audit chain, kept outside the database (docs/audit.md)",
     lambda p, m, k: _private(m) and p.name.endswith("audit.key")),
    ("a TLS private key (0600)",
     lambda p, m, k: _private(m) and (p.name.endswith(".key") or p.name.startswith("privkey"))),
    ("an application's environment file (0600): where hosting writes the database password",
     lambda p, m, k: _private(m) and (p.name.startswith(".env") or p.name.endswith(".env"))),
    ("an application's shared/.env (0640, root's, read by its runtime group only: docs/hosting.md, issue 16)",
     lambda p, m, k: stat.S_ISREG(m) and not m & 0o037 and p.name == ".env" and p.parent.name == "shared"),
    ("the hosting's per-run secret files (0600 in a 0700 directory, deleted after the run)",
     lambda p, m, k: _private(m) and "ansible/secrets" in p.as_posix()),
    ("the GitLab emulator's own store (tokens, CI variable values): it plays GitLab's database",
     lambda p, m, k: _emulator_store(p)),
    ("the configuration file: gitlab.variables is where CI/CD variable values are given "
     "(docs/repo.md); a masked one goes no further than GitLab",
     lambda p, m, k: k == MASKED_VARIABLE and p.suffix == ".toml"),
]


def allowed(path: Path, mode: int, kind: str = "") -> str | None:
    for why, rule in ALLOWED:
        if rule(path, mode, kind):
            return why
    return None


# -- encodings -----------------------------------------------------------------------------------

def _b64_inner(raw: bytes) -> list[bytes]:
    """The part of base64(value) that is the same wherever the value sits in a longer stream."""
    out = []
    for i in range(3):
        enc = base64.b64encode(b"\0" * i + raw)
        start, end = -(-8 * i // 6), (8 * (i + len(raw))) // 6
        inner = enc[start:end]
        out += [inner, inner.replace(b"+", b"-").replace(b"/", b"_")]
    return out


def needles(value: str) -> list[tuple[str, bytes]]:
    """(encoding, bytes) to look for. A PEM private key is looked for by each line of its
    body but the first (the same in every key of a type) and the last; another multi-line
    value by its longest line."""
    lines = [ln.strip() for ln in value.strip().splitlines() if ln.strip()]
    if "PRIVATE KEY-----" in value:
        body = [ln for ln in lines if not ln.startswith("-----")]
        cores = body[1:-1] if len(body) > 2 else body
    else:
        cores = [max(lines, key=len) if len(lines) > 1 else value]
    out = []
    for core in cores:
        raw = core.encode()
        out += [("raw", raw), ("url-encoded", quote(core, safe="").encode()),
                ("json-escaped", json.dumps(core)[1:-1].encode())]
        out += [("base64", b) for b in _b64_inner(raw)]
    seen: set[bytes] = set()
    result = []
    for enc, b in out:
        if len(b) >= MIN_LEN and b not in seen:
            seen.add(b)
            result.append((enc, b))
    return result


# -- the registry --------------------------------------------------------------------------------

@dataclass
class Finding:
    path: Path
    root_kind: str
    secret_kind: str
    encoding: str
    secret_hint: str

    def __str__(self) -> str:
        return (f"{self.path} ({self.root_kind}): {self.secret_kind} [{self.secret_hint}] "
                f"as {self.encoding}")


@dataclass
class Report:
    files: int = 0
    bytes: int = 0
    skipped_large: list[Path] = field(default_factory=list)
    secrets: int = 0
    too_short: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    roots: dict[str, int] = field(default_factory=dict)  # root kind -> files scanned
    findings: list[Finding] = field(default_factory=list)
    allowed: list[tuple[Path, str, str]] = field(default_factory=list)  # (path, why, secret kind)

    def summary(self) -> str:
        lines = [f"scanned {self.files} files, {self.bytes / 1e6:.1f} MB, for {self.secrets} secrets "
                 f"({', '.join(f'{k}: {n}' for k, n in sorted(self.kinds.items()))}); "
                 f"{self.too_short} values under {MIN_LEN} characters not searched"]
        lines += [f"  {k}: {n} files" for k, n in sorted(self.roots.items())]
        why: dict[str, int] = {}
        for _, w, _ in self.allowed:
            why[w] = why.get(w, 0) + 1
        lines += [f"  allowed ({n} files): {w}" for w, n in sorted(why.items())]
        if self.skipped_large:
            lines.append(f"  not read (over {MAX_FILE >> 20} MB): {', '.join(map(str, self.skipped_large))}")
        return "\n".join(lines)


class Registry:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.roots: list[tuple[Path, str]] = []
        self.sources: set[str] = set()  # what made secrets this session (bind, emulator, ...)
        self.last_summary = ""
        self._evidence: Path | None = None
        self._n = 0
        self._lock = threading.Lock()

    def remember(self, value: str | None, kind: str) -> None:
        if value and value.strip():
            self.secrets.setdefault(value.strip(), kind)

    def add_root(self, path: Path | str, kind: str) -> None:
        p = Path(path)
        if (p, kind) not in self.roots:
            self.roots.append((p, kind))

    # evidence of what is deleted before the sweep ----------------------------------------------
    def evidence(self, name: str, kind: str) -> Path:
        with self._lock:
            if self._evidence is None:
                base = Path(os.environ.get("KOMINFO_SANDBOX_STATE", "/var/lib/kominfo-provision-sandbox"))
                base = base if base.is_dir() and os.access(base, os.W_OK) else Path(tempfile.gettempdir())
                for old in base.glob("secret-sweep-*-*"):  # left by sessions that were killed
                    pid = old.name.split("-")[2]
                    if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                        shutil.rmtree(old, ignore_errors=True)
                self._evidence = Path(tempfile.mkdtemp(prefix=f"secret-sweep-{os.getpid()}-", dir=base))
                self.add_root(self._evidence, "captured")
            self._n += 1
            d = self._evidence / f"{self._n:04d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)[:60]}"
        d.mkdir()
        (d / ".kind").write_text(kind)
        return d

    def capture_tree(self, src: Path, name: str, kind: str, skip: Iterable[str] = ()) -> None:
        """Hard-link (or copy) every regular file under `src` (but the relative paths in
        `skip`) into the evidence directory, keeping relative paths and modes."""
        if not src.is_dir():
            return
        dest = self.evidence(name, kind)
        skip = tuple(s.strip("/") for s in skip)
        for dirpath, dirnames, filenames in os.walk(src):
            rel_dir = os.path.relpath(dirpath, src)
            rel_dir = "" if rel_dir == "." else rel_dir
            dirnames[:] = [d for d in dirnames if os.path.join(rel_dir, d) not in skip]
            for f in filenames:
                s = os.path.join(dirpath, f)
                try:
                    st = os.lstat(s)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                t = dest / rel_dir / f
                t.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(s, t)
                except OSError:
                    try:
                        shutil.copy2(s, t)
                    except OSError:
                        continue

    def capture_text(self, data: bytes | str, name: str, kind: str) -> None:
        d = self.evidence(name, kind)
        (d / "captured.txt").write_bytes(data.encode() if isinstance(data, str) else data)

    def cleanup(self) -> None:
        if self._evidence is not None:
            shutil.rmtree(self._evidence, ignore_errors=True)
            self._evidence = None


REGISTRY = Registry()


def remember(value: str | None, kind: str) -> None:
    """Register a secret value the sweep must not find outside the places secrets belong."""
    REGISTRY.remember(value, kind)


def add_root(path: Path | str, kind: str) -> None:
    """Register a directory (or file) the sweep scans; it must exist until the session ends."""
    REGISTRY.add_root(path, kind)


# -- the scanner ---------------------------------------------------------------------------------

_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def _expanded(path: Path, data: bytes) -> bytes:
    """The text to search in: PDF streams inflated, gzip decompressed."""
    if path.suffix == ".pdf" or data.startswith(b"%PDF"):
        parts = [data]
        for m in _STREAM.finditer(data):
            try:
                parts.append(zlib.decompress(m.group(1)))
            except zlib.error:
                pass
        return b"\n".join(parts)
    if path.suffix == ".gz":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return data
    return data


def _files(root: Path) -> Iterable[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            yield Path(dirpath) / f


def _root_kind(path: Path, root: Path, kind: str) -> str:
    if kind != "captured":
        return kind
    try:
        first = path.relative_to(root).parts[0]
        return "captured " + (root / first / ".kind").read_text()
    except (ValueError, IndexError, OSError):
        return kind


def scan(roots: list[tuple[Path, str]], secrets: dict[str, str]) -> Report:
    rep = Report()
    table: dict[bytes, tuple[str, str, str, str]] = {}  # needle -> (kind, encoding, hint, value)
    for value, kind in secrets.items():
        if len(value) < MIN_LEN:
            rep.too_short += 1
            continue
        rep.secrets += 1
        rep.kinds[kind] = rep.kinds.get(kind, 0) + 1
        # Enough to tell secrets apart in a report without printing them.
        hint = f"{value[:4]}…, {len(value)} chars, sha256 {hashlib.sha256(value.encode()).hexdigest()[:10]}"
        for enc, b in needles(value):
            table.setdefault(b, (kind, enc, hint, value))
    plain: list[tuple[Path, Path, str]] = []
    special: list[tuple[Path, Path, str]] = []
    seen: set[Path] = set()
    for root, kind in roots:
        if not root.exists():
            continue
        for p in _files(root):
            try:
                st = p.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or p in seen or p.name == ".kind":
                continue
            seen.add(p)
            if st.st_size > MAX_FILE:
                rep.skipped_large.append(p)
                continue
            rep.files += 1
            rep.bytes += st.st_size
            rk = _root_kind(p, root, kind)
            rep.roots[rk] = rep.roots.get(rk, 0) + 1
            (special if p.suffix in (".pdf", ".gz") else plain).append((p, root, rk))
    if not table:
        return rep
    # GNU grep -F prints every needle it finds in each file (Aho-Corasick: one pass over
    # the bytes for all the needles). PDFs and gzip files are expanded to a temporary file first.
    hits: dict[Path, dict[str, tuple[str, str, str, str, str]]] = {}  # file -> secret -> (kind, enc, hint, value, root kind)
    with tempfile.TemporaryDirectory(prefix="secret-sweep-") as tmp:
        pat = Path(tmp) / "needles"
        pat.write_bytes(b"\n".join(table) + b"\n")
        by_path = {str(p): (p, rk) for p, _r, rk in plain}
        for i, (p, _r, rk) in enumerate(special):
            try:
                x = Path(tmp) / f"expanded-{i}"
                x.write_bytes(_expanded(p, p.read_bytes()))
                by_path[str(x)] = (p, rk)
            except OSError:
                continue
        paths = list(by_path)
        for i in range(0, len(paths), 2000):
            proc = subprocess.run(["grep", "-oaF", "-H", "--null", "-f", str(pat), "--", *paths[i:i + 2000]],
                                  capture_output=True, env={**os.environ, "LC_ALL": "C"}, timeout=300)
            if proc.returncode not in (0, 1):
                missing = proc.stderr.count(b"No such file")
                if missing != proc.stderr.count(b"\n"):
                    raise RuntimeError(f"grep failed: {proc.stderr.decode(errors='replace')[-500:]}")
            for line in proc.stdout.split(b"\n"):
                name, sep, match = line.partition(b"\0")
                if sep and match in table:
                    p, rk = by_path[name.decode()]
                    kind, enc, hint, value = table[match]
                    hits.setdefault(p, {}).setdefault(hint, (kind, enc, hint, value, rk))
    secret_lines = {v.strip().encode() for _k, _e, _h, v in table.values()}
    for p, found in hits.items():
        try:
            mode = p.stat().st_mode
            content = p.read_bytes().strip() if _private(mode) else b""
        except OSError:
            continue
        # A secrets file: nothing in it but secrets, one a line, and comments (the notify URLs).
        lines = [ln.strip() for ln in content.splitlines() if ln.strip() and not ln.strip().startswith(b"#")]
        only_secrets = bool(lines) and all(ln in secret_lines for ln in lines)
        for kind, enc, hint, value, rk in found.values():
            if content and (content == value.strip().encode() or only_secrets and value.strip().encode() in lines):
                why: str | None = "the secret's own file (0600): a token, password or private key file"
            else:
                why = allowed(p, mode, kind)
            if why:
                rep.allowed.append((p, why, kind))
            else:
                rep.findings.append(Finding(p, rk, kind, enc, hint))
    return rep


# -- automatic collection and capture hooks --------------------------------------------------

def collect_automatic(reg: Registry) -> None:
    """Secrets this process knows without being told."""
    try:
        from provision.secrets import REDACTOR
        for v in list(REDACTOR._values):
            reg.remember(v, "redactor (a secret the toolkit read)")
    except ImportError:
        pass


#: Environment variables that hold a secret by their name (issue 13): PROVISION_GITLAB_TOKEN,
#: PROVISION_DATABASE_PASSWORD, PGPASSWORD, MYSQL_PWD, CI_JOB_TOKEN... (not a *_FILE path).
SECRET_ENV_NAME = re.compile(r"TOKEN|PASSW|SECRET|_PWD$|_KEY$", re.I)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@\s]+:(?P<pw>[^@\s]+)@", re.I)


def collect_env(reg: Registry, environ: Any = None) -> None:
    """Secrets given by environment variables, which the toolkit may never have read in
    this process (and so never taught the redactor) while a child it started (ansible-runner)
    copied them: values of variables named like a secret, and passwords inside URLs
    (DATABASE_URL, PROVISION_DATABASE_URL). Called after each test, while the variables
    the test and its fixtures set are still there."""
    environ = os.environ if environ is None else environ
    for name, value in list(environ.items()):
        if SECRET_ENV_NAME.search(name) and not name.upper().endswith(("_FILE", "_PATH", "_DIR")):
            reg.remember(value, f"environment variable {name}")
        m = _URL_PASSWORD.match(value.strip())
        if m:
            from urllib.parse import unquote

            reg.remember(unquote(m.group("pw")), f"password in the URL of {name}")


_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----[A-Za-z0-9+/=\s]+?-----END \1PRIVATE KEY-----")


def collect_private_keys(reg: Registry, roots: list[tuple[Path, str]]) -> None:
    """Every PEM private key (SSH deploy and client keys, TLS keys, the local CA's key) in the
    places swept is itself a secret: found anywhere but a 0600 key file, it is a finding."""
    paths = [str(p) for p, _ in roots if p.exists()]
    if not paths:
        return
    proc = subprocess.run(["grep", "-rlaZF", "PRIVATE KEY-----", "--", *paths], capture_output=True,
                          env={**os.environ, "LC_ALL": "C"}, timeout=120)
    for name in proc.stdout.split(b"\0"):
        if not name:
            continue
        try:
            data = Path(name.decode()).read_bytes()
        except OSError:
            continue
        for m in _PEM_KEY.finditer(data):
            kind = "SSH private key" if b"OPENSSH" in m.group(1) else "TLS or other private key"
            reg.remember(m.group(0).decode(), kind)


def _env_passwords(upper: Path) -> None:
    for dirpath, _, files in os.walk(upper):
        for f in files:
            if not (f.startswith(".env") or f.endswith(".env")):
                continue
            p = Path(dirpath) / f
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                k, sep, v = line.partition("=")
                if sep and re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", k.strip().upper()):
                    remember(v.strip().strip('"\''), "hosting database password (server env file)")


def _tsig_secret(key_file: Path) -> None:
    try:
        m = re.search(r'secret\s+"([^"]+)"', key_file.read_text())
    except OSError:
        return
    if m:
        remember(m.group(1), "TSIG key secret")


def _wrap(cls: Any, name: str, before: Callable[..., None]) -> None:
    original = getattr(cls, name)
    if getattr(original, "_secret_sweep", False):
        return

    @functools.wraps(original)
    def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
        try:
            before(self, *a, **kw)
        except Exception as e:  # noqa: BLE001 - a capture must never break a test's teardown
            REGISTRY.sources.add(f"capture error in {cls.__name__}.{name}: {e}")
        return original(self, *a, **kw)

    wrapper._secret_sweep = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapper)


def _before_server_stop(server: Any) -> None:
    upper = Path(server.dir) / "upper"
    if not upper.is_dir() or getattr(server, "_swept", False):
        return
    server._swept = True
    REGISTRY.sources.add("sandbox server")
    if server.alive:  # /tmp and /run are tmpfs inside the server: keep them in its upper dir
        server.run("tar -cf /root/.secret-sweep-tmpfs.tar --ignore-failed-read /tmp /run 2>/dev/null",
                   check=False, timeout=60)
    _env_passwords(upper)
    # The database engines' own files (password hashes, pages) and the package tree are not
    # searched: the engines' logs are (var/log).
    REGISTRY.capture_tree(upper, f"server-{server.name}", f"sandbox server {server.name}",
                          skip=("var/lib/mysql", "var/lib/postgresql", "usr", "var/cache",
                                "var/lib/apt", "var/lib/dpkg"))


def _before_bind_stop(pair: Any) -> None:
    base = getattr(pair, "base", None)
    if base is None or not Path(base).is_dir():
        return
    REGISTRY.sources.add("bind")
    _tsig_secret(Path(base) / "client.key")
    REGISTRY.capture_tree(Path(base), "bind", "BIND (named.log, zone, journal)")


def _capture_emulator(emu: Any) -> None:
    st = emu.app.state
    with st.lock:
        data = st.to_json()
        calls = list(emu.calls.calls)
    if not data.get("projects") and len(data.get("tokens", [])) <= 1 and not calls:
        return
    REGISTRY.sources.add("gitlab emulator")
    for t in data.get("tokens", []):
        remember(t.get("token"), "GitLab token")
        t["token"] = "(the token store)"
    for p in data.get("projects", []):
        for v in p.get("variables", []):
            if v.get("masked") or v.get("hidden"):
                remember(v.get("value"), MASKED_VARIABLE)
            v["value"] = "(the variable store)"
    text = json.dumps(data, indent=1) + "\n" + "\n".join(
        f"{c.method} {c.path} {c.status} {c.kind}" for c in calls)
    REGISTRY.capture_text(text, "gitlab-emulator", "GitLab emulator (state without its stores, request log)")
    root = Path(emu.app.repos.root)
    if root.is_dir():
        dumps = []
        for repo in sorted(root.glob("*.git")):
            proc = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                                  capture_output=True, timeout=60)
            dumps.append(proc.stdout)
        if any(dumps):
            REGISTRY.capture_text(b"\n".join(dumps), "gitlab-repositories", "GitLab emulator git objects")


def _before_pg_drop(server: Any, name: str) -> None:
    with server._connect(name) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'")]
        out = []
        for t in tables:
            out.append(f"-- {t}")
            out += [r[0] for r in conn.execute(f"SELECT t::text FROM {t} t")]  # noqa: S608 - quote_ident above
    if tables:
        REGISTRY.sources.add("postgresql")
        REGISTRY.capture_text("\n".join(out), f"pg-{name}", "PostgreSQL test database (text of every table)")


def _after_pg_start(server: Any) -> None:
    if server.base is not None:
        add_root(Path(server.base) / "postgres.log", "PostgreSQL server log")


def _before_pg_stop(server: Any) -> None:
    """A server stopped before the sweep (a test's own, not the session's) takes its
    directory with it: keep its log, and drop the root that will be gone."""
    if server.base is None:
        return
    log = Path(server.base) / "postgres.log"
    if log.exists():
        REGISTRY.capture_text(log.read_bytes(), f"pg-log-{Path(server.base).name}", "PostgreSQL server log")
    REGISTRY.roots = [(p, k) for p, k in REGISTRY.roots if p != log]


def install_hooks() -> None:
    try:
        from devstack.sandbox.bind import BindPair
        from devstack.sandbox.postgres import PostgresServer
        from devstack.sandbox.server import Server
    except ImportError:
        return
    _wrap(Server, "stop", _before_server_stop)
    _wrap(BindPair, "stop", _before_bind_stop)
    _wrap(PostgresServer, "drop_database", _before_pg_drop)
    _wrap(PostgresServer, "stop", _before_pg_stop)
    original_start = PostgresServer.start
    if not getattr(original_start, "_secret_sweep", False):
        @functools.wraps(original_start)
        def start(self: Any, *a: Any, **kw: Any) -> Any:
            r = original_start(self, *a, **kw)
            _after_pg_start(self)
            return r
        start._secret_sweep = True  # type: ignore[attr-defined]
        PostgresServer.start = start  # type: ignore[method-assign]
    try:
        from devstack.gitlab_emulator.emulator import GitLabEmulator
    except ImportError:
        return
    _wrap(GitLabEmulator, "reset", lambda emu: _capture_emulator(emu))
    _wrap(GitLabEmulator, "stop", lambda emu: _capture_emulator(emu) if emu._server is not None else None)


# -- pytest hooks ----------------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    install_hooks()


#: Fixtures whose directory the sweep scans: (kind, the directory from the fixture's value).
ROOT_FIXTURES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "provision_home": ("provision home", lambda v: v),
    "hosting_env": ("hosting home", lambda v: v.home),
    "offline_env": ("hosting home", lambda v: v.home),
    "gitlab_emulator": ("GitLab emulator state dir", lambda v: v.state_dir),
    "sandbox": ("sandbox state dir", lambda v: v.state_dir),
}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    """Every directory a ROOT_FIXTURES fixture made is a root of the sweep (pytest keeps
    tmp_path directories after the session: tmp_path_retention_policy "all")."""
    result = yield
    spec = ROOT_FIXTURES.get(fixturedef.argname)
    if spec is not None:
        try:
            add_root(Path(spec[1](result)), spec[0])
        except (AttributeError, TypeError):
            pass
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Environment secrets, read before teardown undoes the test's and fixtures' setenv."""
    try:
        return (yield)
    finally:
        collect_env(REGISTRY)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The sweep runs after every other test."""
    last = [i for i in items if i.nodeid.endswith(SWEEP_TEST)]
    if last:
        items[:] = [i for i in items if i not in last] + last


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REGISTRY.last_summary:
        terminalreporter.write_sep("-", "secrets sweep")
        terminalreporter.write_line(REGISTRY.last_summary)


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get("SECRET_SWEEP_KEEP"):  # to look at what was captured
        print(f"secrets sweep: captured files kept in {REGISTRY._evidence}")
        return
    REGISTRY.cleanup()
