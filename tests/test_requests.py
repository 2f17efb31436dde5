"""Request records through the CLI, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.helpers import run_cli

OPEN = ["request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan",
        "--app", "Sistem Informasi Sekolah", "--letter-number", "005/DISDIK/XI/2026",
        "--letter-date", "2026-10-30"]


def open_request(*extra: str) -> str:
    r = run_cli(*OPEN, *extra, "--json")
    assert r.exit_code == 0, r
    return r.json["id"]


def test_open_list_show(store_url: str) -> None:
    r = run_cli(*OPEN)
    assert r.exit_code == 0, r
    assert r.stdout.startswith("Opened REQ-2026-0001 for Dinas Pendidikan")
    assert "step 1 due 2026-11-02" in r.stdout  # opened Monday 2 Nov, one working day
    assert open_request() == "REQ-2026-0002"
    r = run_cli("request", "list")
    assert r.exit_code == 0, r
    assert "REQ-2026-0001" in r.stdout and "REQ-2026-0002" in r.stdout
    r = run_cli("request", "show", "REQ-2026-0001", "--json")
    assert r.exit_code == 0, r
    data = r.json
    assert [s["number"] for s in data["steps"]] == list(range(1, 16))
    assert data["steps"][0]["due"] == "2026-11-02"
    assert data["steps"][1]["due"] == "2026-11-03"  # projected from step 1
    assert data["steps"][2]["due"] == "2026-11-06"  # 3 working days: Wed-Fri
    assert data["letter_number"] == "005/DISDIK/XI/2026"


def test_steps_in_order_with_attachment_and_due_dates(store_url: str, provision_home: Path) -> None:
    rid = open_request()
    letter = provision_home / "surat-permohonan.pdf"
    letter.write_bytes(b"%PDF-1.4 surat permohonan")
    r = run_cli("request", "step", rid, "1", "--done", "--output-ref", "005/DISDIK/XI/2026",
                "--attach", str(letter), "--note", "diterima")
    assert r.exit_code == 0, r
    assert r.stdout == f"{rid} step 1: done.\n"
    r = run_cli("request", "step", rid, "3", "--start")
    assert r.exit_code == 2, r
    assert "step 3 comes after step(s) 2" in r.stderr and "--out-of-order" in r.stderr
    r = run_cli("request", "step", rid, "2", "--start")
    assert r.exit_code == 0, r
    data = run_cli("request", "show", rid, "--json").json
    s1, s2 = data["steps"][0], data["steps"][1]
    assert s1["status"] == "done" and s1["done_by"] == "tester" and s1["note"] == "diterima"
    digest = hashlib.sha256(b"%PDF-1.4 surat permohonan").hexdigest()
    assert s1["attachments"] == [{"name": "surat-permohonan.pdf", "sha256": digest,
                                  "size": 25, "intact": True}]
    assert s2["status"] == "started"
    assert data["current_step"] == 2


def test_out_of_order_needs_reason_and_is_logged(store_url: str) -> None:
    rid = open_request()
    r = run_cli("request", "step", rid, "4", "--done", "--out-of-order")
    assert r.exit_code == 2, r
    assert "--out-of-order needs --reason" in r.stderr
    r = run_cli("request", "step", rid, "4", "--done", "--out-of-order", "--reason", "undangan lisan")
    assert r.exit_code == 0, r
    log = run_cli("audit", "log", rid, "--json").json
    ev = [e for e in log if e["action"] == "step.done"][-1]
    assert ev["after"]["out_of_order"] == {"skipped": [1, 2, 3], "reason": "undangan lisan"}


def test_overdue_filter(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = open_request()
    monkeypatch.setenv("PROVISION_TODAY", "2026-11-09")
    other = open_request()
    r = run_cli("request", "list", "--overdue", "--json")
    assert r.exit_code == 0, r
    assert [x["id"] for x in r.json] == [rid]
    r = run_cli("request", "list", "--overdue")
    # general.language "id" (the default): the status words in Bahasa Indonesia.
    assert r.exit_code == 0 and "TERLAMBAT" in r.stdout and "terbuka" in r.stdout and other not in r.stdout, r
    r = run_cli("request", "list", "--overdue", env={"PROVISION_GENERAL_LANGUAGE": "en"})
    assert r.exit_code == 0 and "OVERDUE" in r.stdout and " open " in r.stdout and other not in r.stdout, r


def test_closed_request_refuses_changes(store_url: str) -> None:
    rid = open_request()
    r = run_cli("request", "close", rid)
    assert r.exit_code == 2, r
    assert "--reason" in r.stderr
    r = run_cli("request", "close", rid, "--reason", "dibatalkan OPD")  # cannot be undone: asks
    assert r.exit_code == 2, r
    assert "closing cannot be undone and there is no terminal to ask on" in r.stderr and "--yes" in r.stderr
    assert run_cli("request", "show", rid, "--json").json["status"] == "open"
    r = run_cli("request", "close", rid, "--reason", "dibatalkan OPD", "--yes")
    assert r.exit_code == 0, r
    assert r.stdout == f"Closed {rid}.\n"
    r = run_cli("request", "step", rid, "1", "--done")
    assert r.exit_code == 2, r
    assert f"request {rid} is closed" in r.stderr


def test_attachment_changed_on_disk_is_detected(store_url: str, provision_home: Path) -> None:
    rid = open_request()
    f = provision_home / "sk.pdf"
    f.write_bytes(b"SK Tim Teknis")
    assert run_cli("request", "step", rid, "1", "--done", "--attach", str(f)).exit_code == 0
    digest = hashlib.sha256(b"SK Tim Teknis").hexdigest()
    stored = provision_home / "state" / "attachments" / digest[:2] / digest
    os.chmod(stored, 0o600)
    stored.write_bytes(b"SK Tim Teknis (edited)")
    r = run_cli("request", "show", rid)
    assert r.exit_code == 0, r
    assert "CHANGED ON DISK" in r.stdout


@pytest.mark.parametrize("args,field", [
    (["--opd-code", "Dis Dik"], "opd_code"),
    (["--opd-code", "-x"], "opd_code"),
    (["--opd-name", ""], "opd_name"),
    (["--app", "a\nb"], "app_name"),
    (["--letter-number", "x" * 101], "letter_number"),
    (["--letter-date", "2030-01-01"], "letter_date"),
    (["--letter-date", "30/10/2026"], "--letter-date"),
    (["--id", "REQ-26-1"], "request_id"),
])
def test_bad_open_input(store_url: str, args: list[str], field: str) -> None:
    base = dict(zip(OPEN[2::2], OPEN[3::2]))
    base.update(dict(zip(args[::2], args[1::2])))
    r = run_cli("request", "open", *[x for kv in base.items() for x in kv])
    assert r.exit_code == 2, r
    assert field in r.stderr
    assert run_cli("request", "list", "--json").json == []  # nothing stored


def test_attachment_names_are_checked(store_url: str, provision_home: Path) -> None:
    rid = open_request()
    bad = provision_home / "a\nb.pdf"
    bad.write_bytes(b"x")
    r = run_cli("request", "step", rid, "1", "--done", "--attach", str(bad))
    assert r.exit_code == 2, r
    assert "--attach" in r.stderr and "control" in r.stderr
    assert run_cli("request", "show", rid, "--json").json["steps"][0]["status"] == "pending"


def test_unknown_request_and_step(store_url: str) -> None:
    r = run_cli("request", "show", "REQ-2026-9999")
    assert r.exit_code == 2, r
    assert "request REQ-2026-9999 does not exist" in r.stderr
    rid = open_request()
    r = run_cli("request", "step", rid, "16", "--done")
    assert r.exit_code == 2, r
    assert "16 is not a step of the SOP" in r.stderr


def test_explicit_id_taken(store_url: str) -> None:
    open_request("--id", "REQ-2025-0042")
    r = run_cli(*OPEN, "--id", "REQ-2025-0042")
    assert r.exit_code == 2, r
    assert "REQ-2025-0042 already exists" in r.stderr


def _stored_files(home: Path) -> list[Path]:
    root = home / "state" / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_refused_step_leaves_no_attachment_file(provision_home: Path) -> None:
    """The step's checks (order, already done) run before the file is copied in: a refused
    step stores nothing (issue 13: attachments were copied first, left as orphans)."""
    rid = open_request()
    scan = provision_home / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 scan " + os.urandom(8))
    r = run_cli("request", "step", rid, "3", "--done", "--attach", str(scan))
    assert r.exit_code == 2, r
    assert "step 3 comes after step(s) 1, 2" in r.stderr
    assert _stored_files(provision_home) == []
    assert run_cli("request", "step", rid, "1", "--done").exit_code == 0
    r = run_cli("request", "step", rid, "1", "--done", "--attach", str(scan))
    assert r.exit_code == 2, r
    assert "step 1 of REQ-2026-0001 is already done" in r.stderr
    assert _stored_files(provision_home) == []


def test_a_failed_step_transaction_leaves_no_attachment_file(provision_home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the copy, inside the step's transaction, removes the files it stored
    (but never a file an earlier record points at)."""
    from provision.requests import RequestService

    rid = open_request()
    kept = provision_home / "kept.pdf"
    kept.write_bytes(b"%PDF-1.4 kept")
    assert run_cli("request", "step", rid, "1", "--done", "--attach", str(kept)).exit_code == 0
    assert len(_stored_files(provision_home)) == 1
    fresh = provision_home / "fresh.pdf"
    fresh.write_bytes(b"%PDF-1.4 fresh")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk I/O error (simulated) while advancing the request")

    monkeypatch.setattr(RequestService, "_advance", broken)
    r = run_cli("request", "step", rid, "2", "--done", "--attach", str(fresh), "--attach", str(kept))
    assert r.exit_code == 1, r
    assert "disk I/O error (simulated)" in r.stderr
    assert [p.name for p in _stored_files(provision_home)] == [hashlib.sha256(b"%PDF-1.4 kept").hexdigest()]
    assert run_cli("request", "show", rid, "--json").json["steps"][1]["status"] == "pending"
