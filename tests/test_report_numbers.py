"""Document numbers under concurrency (real processes, SQLite and PostgreSQL), and the
files a run killed before its commit leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import run_cli
from tests.test_requests import open_request

ROOT = Path(__file__).resolve().parents[1]

ISSUE = """
import sys, jinja2
from provision.context import App
from provision.reports.engine import ReportEngine
app = App()
app.audit.start_run(["issue"], sys.argv[1], None)
engine = ReportEngine(app)
engine.env = jinja2.Environment(loader=jinja2.DictLoader({
    "berita-acara.md.j2": "{{ number }}\\n<!-- source: {{ source }} -->\\n",
    "berita-acara.html.j2": "<p>{{ number }}</p>"}))
doc = engine.issue(sys.argv[1], "berita-acara", sys.argv[2], lambda n, d: {}, formats=("md", "html"))
print(doc.number, "reused" if doc.reused else "new")
"""


def issue(rid: str, source: str = "run-1") -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", ISSUE, rid, source], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=os.environ.copy())


def test_eight_runs_at_once_take_eight_numbers(store_url: str) -> None:
    rids = [open_request() for _ in range(8)]
    procs = [issue(rid) for rid in rids]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outs
    numbers = sorted(o.split()[0] for o, _ in outs)
    assert [n.split("/")[0] for n in numbers] == [f"{i:03d}" for i in range(1, 9)], numbers
    log = run_cli("audit", "log", "--json")
    assert log.exit_code == 0, log
    issued = sorted(e["target"] for e in log.json if e["provider"] == "report")
    assert issued == sorted(f"berita-acara {n}" for n in numbers)
    r = run_cli("audit", "verify")
    assert r.exit_code == 0 and "intact" in r.stdout, r


def test_leftovers_of_a_killed_issue_are_removed_and_issued_files_kept(provision_home: Path) -> None:
    rid = open_request()
    first = issue(rid, "run-1")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    number = out.split()[0]
    folder = provision_home / "state" / "reports" / rid
    kept = sorted(p.name for p in folder.iterdir())
    assert len(kept) == 2, kept  # md and html
    # What a run killed between writing its files and its commit leaves:
    for ext in ("md", "html", "pdf"):
        (folder / f"berita-acara-002-BA-X.{ext}").write_text("half made")
    again = issue(rid, "run-2")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert out.split()[0] != number and out.split()[1] == "new"
    names = sorted(p.name for p in folder.iterdir())
    assert not any("002-BA-X" in n for n in names), names
    assert set(kept) <= set(names) and len(names) == 4, names
    same = issue(rid, "run-2")
    out, err = same.communicate(timeout=60)
    assert same.returncode == 0 and out.split()[1] == "reused", (out, err)
