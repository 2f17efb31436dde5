"""Modes that do not depend on the umask (issue 13, item 5): under umask 022 the state
directory is 0700, the SQLite database with its WAL and SHM files 0600, and reports,
`audit export -o` files and `db copy` targets 0600; the documented backups too."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.test_requests import open_request

ROOT = Path(__file__).resolve().parents[1]


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def umask_022(provision_home: Path) -> Iterator[Path]:
    old = os.umask(0o022)
    try:
        yield provision_home
    finally:
        os.umask(old)


def test_state_database_and_wal_are_private(umask_022: Path) -> None:
    rid = open_request()
    r = run_cli("request", "step", rid, "1", "--done", "--note", "x")
    assert r.exit_code == 0, r
    state = umask_022 / "state"
    assert mode(state) == 0o700
    db = state / "state.db"
    files = [db] + [p for p in (state / "state.db-wal", state / "state.db-shm") if p.exists()]
    assert len(files) >= 2, files  # WAL mode: the -wal file is there while the state is in use
    assert {str(p): mode(p) for p in files} == {str(p): 0o600 for p in files}


def test_loose_state_is_tightened(umask_022: Path) -> None:
    open_request()
    state = umask_022 / "state"
    os.chmod(state, 0o755)
    os.chmod(state / "state.db", 0o644)
    r = run_cli("request", "list")
    assert r.exit_code == 0, r
    assert mode(state) == 0o700 and mode(state / "state.db") == 0o600
    # A group the operator chose keeps read access (0750 / 0640); others never.
    os.chmod(state, 0o750)
    os.chmod(state / "state.db", 0o640)
    assert run_cli("request", "list").exit_code == 0
    assert mode(state) == 0o750 and mode(state / "state.db") == 0o640


def test_exports_are_private(umask_022: Path) -> None:
    open_request()
    out = umask_022 / "audit.csv"
    r = run_cli("audit", "export", "--format", "csv", "-o", str(out))
    assert r.exit_code == 0, r
    assert mode(out) == 0o600 and out.read_text().startswith("seq,")
    out.write_text("old")  # an existing, readable file is tightened when written over
    os.chmod(out, 0o644)
    r = run_cli("audit", "export", "-o", str(out))
    assert r.exit_code == 0, r
    assert mode(out) == 0o600 and '"seq": 1' in out.read_text()


def test_reports_are_private(umask_022: Path) -> None:
    import jinja2

    from provision.context import App
    from provision.reports.engine import ReportEngine

    rid = open_request()
    app = App()
    app.audit.start_run(["issue"], rid, None)
    engine = ReportEngine(app)
    engine.env = jinja2.Environment(loader=jinja2.DictLoader({
        "berita-acara.md.j2": "{{ number }}\n", "berita-acara.html.j2": "<p>{{ number }}</p>"}))
    doc = engine.issue(rid, "berita-acara", "run-1", lambda n, d: {}, formats=("md", "html"))
    assert doc.paths
    assert {str(p): mode(p) for p in doc.paths.values()} == {str(p): 0o600 for p in doc.paths.values()}
    assert mode(doc.paths["md"].parent) == 0o700
    app.store.engine.dispose()


def test_db_copy_target_is_private(umask_022: Path) -> None:
    open_request()
    target = umask_022 / "moved" / "state.db"
    r = run_cli("db", "copy", "--to", f"sqlite:///{target}", "--yes")
    assert r.exit_code == 0, r
    files = [p for p in target.parent.iterdir() if p.name.startswith("state.db")]
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(target.parent) == 0o700


@pytest.mark.parametrize("doc", ["docs/operations.md", "docs/id/operasional.md"])
def test_documented_backup_is_private(umask_022: Path, doc: str) -> None:
    """Every documented `sqlite3 .backup` runs under umask 077; the backup block, run as
    written (paths pointed at this test), leaves 0600 files under an operator's umask 022."""
    text = (ROOT / doc).read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    backups = [b for b in blocks if ".backup" in b]
    assert len(backups) >= 2, backups
    for b in backups:
        for line in b.splitlines():
            if ".backup" in line:
                assert "umask 077" in b.split(line)[0] or "umask 077" in line, (doc, line)
    open_request()
    dest = umask_022 / "backup"
    dest.mkdir()
    main = next(b for b in backups if "tar -C" in b)
    script = main.replace("/var/lib/kominfo-provision", str(umask_022 / "state")).replace(
        "/backup/provision", str(dest))
    done = subprocess.run(["sh", "-ec", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done
    assert "ok" in done.stdout
    made = sorted(dest.iterdir())
    assert len(made) == 2, made
    assert {p.name: mode(p) for p in made} == {p.name: 0o600 for p in made}
