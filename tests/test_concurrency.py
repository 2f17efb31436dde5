"""Real concurrent processes on SQLite and PostgreSQL: unique IDs, per-request locks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import run_cli
from tests.test_requests import OPEN, open_request

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PY, str(ROOT / "cli.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_concurrent_opens_get_unique_ids(store_url: str) -> None:
    open_request()  # the schema exists before the race
    procs = [spawn(*OPEN, "--json") for _ in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outs
    ids = sorted(__import__("json").loads(o)["id"] for o, _ in outs)
    assert ids == [f"REQ-2026-{n:04d}" for n in range(2, 10)]


HOLD = """
import sys, time
from provision.context import App
app = App()
app.audit.start_run(["holder"], sys.argv[1], None)
with app.lock(sys.argv[1], 5):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(rid: str, seconds: float) -> subprocess.Popen[str]:
    p = subprocess.Popen([PY, "-c", HOLD, rid, str(seconds)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT, env=os.environ.copy())
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "locked", p.stderr.read() if p.stderr else ""
    return p


def test_lock_times_out_naming_holder_other_request_runs(store_url: str, provision_home: Path) -> None:
    rid, other = open_request(), open_request()
    spec = ROOT / "docs" / "examples" / "spec.yaml"
    holder = hold_lock(rid, 6)
    try:
        t0 = time.monotonic()
        r = run_cli("spec", "set", rid, str(spec), "--lock-timeout", "1")
        waited = time.monotonic() - t0
        assert r.exit_code == 6, r
        assert f"request {rid} is locked by run" in r.stderr and "tester" in r.stderr
        assert 1 <= waited < 5
        r = run_cli("spec", "set", other, str(spec), "--lock-timeout", "1")
        assert r.exit_code == 0, r
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing: the OS / server freed the lock
    r = run_cli("spec", "set", rid, str(spec), "--lock-timeout", "5")
    assert r.exit_code == 0, r


def test_second_run_waits_then_proceeds(store_url: str) -> None:
    rid = open_request()
    spec = ROOT / "docs" / "examples" / "spec.yaml"
    holder = hold_lock(rid, 1.5)
    t0 = time.monotonic()
    r = run_cli("spec", "set", rid, str(spec), "--lock-timeout", "30")
    assert r.exit_code == 0, r
    assert time.monotonic() - t0 >= 1.0
    holder.wait(timeout=10)
    assert holder.returncode == 0
