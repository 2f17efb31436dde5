"""The audit log: runs for every command, events before and after, a verifiable chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import run_cli
from tests.test_requests import open_request


def _sql(url: str, stmt: str) -> None:
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text(stmt))
    eng.dispose()


def _history(n: int = 3) -> str:
    rid = open_request()
    for step in range(1, n + 1):
        assert run_cli("request", "step", rid, str(step), "--done").exit_code == 0
    return rid


def test_every_invocation_is_a_run(store_url: str) -> None:
    rid = open_request()
    run_cli("request", "step", rid, "5", "--done")  # refused: out of order
    eng = create_engine(store_url)
    with eng.connect() as c:
        runs = c.execute(text("SELECT command, outcome, exit_code, actor, request_id FROM runs "
                              "ORDER BY started_at")).all()
    eng.dispose()
    assert runs[0][1:] == ("ok", 0, "tester", None)
    assert runs[-1][0] == f"provision request step {rid} 5 --done"
    assert runs[-1][1:] == ("failed", 2, "tester", rid)


def test_verify_intact_then_detects_edit(store_url: str) -> None:
    _history()
    r = run_cli("audit", "verify")
    assert r.exit_code == 0, r
    assert r.stdout.startswith("Audit chain intact: 4 events verified")
    _sql(store_url, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    r = run_cli("audit", "verify", "--json")
    assert r.exit_code == 1, r
    assert r.json["first_bad"] == 2 and "changed" in r.json["reason"]


@pytest.mark.parametrize("tamper,bad", [
    ("DELETE FROM audit_events WHERE seq = 2", 3),
    ("UPDATE audit_events SET seq = 99 WHERE seq = 4", 99),
    ("DELETE FROM audit_events WHERE seq = 4", 4),
])
def test_verify_detects_delete_reorder_truncate(store_url: str, tamper: str, bad: int) -> None:
    _history()
    _sql(store_url, tamper)
    r = run_cli("audit", "verify", "--json")
    assert r.exit_code == 1, r
    assert r.json["first_bad"] == bad


def test_verify_detects_inserted_event(store_url: str) -> None:
    _history()
    _sql(store_url, "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3")
    _sql(store_url, "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103")
    # seq 3 now missing and a forged event could sit there: insert one with a fake hash
    _sql(store_url, "INSERT INTO audit_events (seq, ts, actor, provider, action, target, outcome, "
                    "prev_hash, hash) SELECT 3, ts, actor, provider, action, target, outcome, "
                    "hash, 'forged' FROM audit_events WHERE seq = 2")
    r = run_cli("audit", "verify", "--json")
    assert r.exit_code == 1, r
    assert r.json["first_bad"] == 3


def test_log_and_export(store_url: str, provision_home: Path) -> None:
    rid = _history(2)
    r = run_cli("audit", "log", rid)
    assert r.exit_code == 0, r
    assert "request.open" in r.stdout and "request.step.done" in r.stdout
    out = provision_home / "audit.jsonl"
    r = run_cli("audit", "export", "--format", "jsonl", "-o", str(out))
    assert r.exit_code == 0, r
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    r = run_cli("audit", "export", "--format", "csv")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[0].startswith("seq,ts,run_id,request_id")
    assert len(r.stdout.splitlines()) == 4


def test_attempt_then_outcome(store_url: str) -> None:
    """A change is logged before it is tried; the outcome points back at the attempt."""
    from provision.context import App
    from provision.plan import Change

    app = App()
    app.audit.start_run(["test"], None, None)
    change = Change("create", "dns.rrset", "x.batam.test. A", None, {"values": ["192.0.2.1"]})
    with pytest.raises(RuntimeError):
        with app.audit.attempting("dns", change):
            raise RuntimeError("SERVFAIL from 127.0.0.1")
    with app.audit.attempting("dns", change):
        pass
    from provision.audit import event_dict, read_events

    evs = [event_dict(e) for e in read_events(app.store)]
    assert [(e["outcome"], e["ref"]) for e in evs] == [
        ("attempted", None), ("failed", 1), ("attempted", None), ("succeeded", 3)]
    assert evs[1]["reason"] == "SERVFAIL from 127.0.0.1"


def test_batched_events_chain_like_single_ones(store_url: str) -> None:
    from provision.audit import verify
    from provision.context import App
    from provision.plan import Change

    app = App()
    app.audit.start_run(["test"], None, None)
    changes = [Change("create", "dns.rrset", f"n{i}.batam.test. A", None, {"values": ["192.0.2.1"]})
               for i in range(50)]
    ids = app.audit.attempt_many("dns", changes)
    assert ids == list(range(1, 51))
    done = app.audit.succeeded_many("dns", [(i, c, None) for i, c in zip(ids[:40], changes)])
    failed = app.audit.failed_many("dns", [(i, c, "NXRRSET") for i, c in zip(ids[40:], changes[40:])])
    assert done == list(range(51, 91)) and failed == list(range(91, 101))
    assert verify(app.store, app.audit.key).ok and verify(app.store, app.audit.key).checked == 100
