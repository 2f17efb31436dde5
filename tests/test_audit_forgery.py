"""Forging the audit log (issue 13, item 8): what a database writer without the key, and
someone with the key but a checkpoint kept elsewhere, can no longer do unseen.

Each forgery is the script an attacker with write access to the database would run (plain
SQL through its own engine, hashes recomputed where that is the attack); `provision audit
verify` (with `--against` a checkpoint where that is what catches it) must exit 1 and say
what it found. An honest log passes. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import run_cli
from tests.test_requests import open_request


def _sql(url: str, *stmts: str) -> None:
    eng = create_engine(url)
    with eng.begin() as c:
        for stmt in stmts:
            c.execute(text(stmt))
    eng.dispose()


def _history() -> str:
    rid = open_request()
    for step in (1, 2, 3):
        r = run_cli("request", "step", rid, str(step), "--done", "--note", f"langkah {step}")
        assert r.exit_code == 0, r
    return rid


def _key_file(home: Path) -> Path:
    return home / "state" / "audit.key"


def _app_key() -> Any:
    from provision.context import App

    return App().audit.key


def _recompute(url: str, edit: Any, key: Any = None, unkeyed: bool = False) -> None:
    """The attacker's script: read every event, let `edit` change the list (rows are
    dicts; it may drop or change them), renumber, recompute every link and the head,
    write it all back. With `key` (someone who has it) the links are keyed MACs; else
    plain SHA-256 (`unkeyed` also clears key_id and state, the old format)."""
    from provision.audit import _KEYED_FIELDS, GENESIS, event_hash

    eng = create_engine(url)
    with eng.begin() as c:
        rows = [dict(r) for r in c.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings()]
        rows = edit(rows)
        prev = GENESIS
        for i, r in enumerate(rows, start=1):
            r["seq"], r["prev_hash"] = i, prev
            if r["ref"] is not None and r["ref"] >= i:
                r["ref"] = None
            if unkeyed:
                r["key_id"] = r["state"] = None
            fields = {k: r[k] for k in _KEYED_FIELDS}
            if key is not None:
                r["hash"] = event_hash(fields, key)
            else:
                body = json.dumps([fields[k] for k in _KEYED_FIELDS[:14]], separators=(",", ":"), ensure_ascii=False)
                r["hash"] = hashlib.sha256(body.encode()).hexdigest()
            prev = r["hash"]
        c.execute(text("DELETE FROM audit_events"))
        cols = list(rows[0])
        c.execute(text(f"INSERT INTO audit_events ({', '.join(cols)}) VALUES ({', '.join(':' + k for k in cols)})"),
                  rows)
        c.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": len(rows), "h": prev})
    eng.dispose()


def _broken(r: Any, first_bad: int, reason_part: str) -> None:
    assert r.exit_code == 1, r
    assert f"Audit chain BROKEN at event {first_bad}: " in r.stderr and reason_part in r.stderr, r


def _rows_differ(r: Any, *parts: str) -> None:
    assert r.exit_code == 1, r
    assert "row(s) differ from the audit log:" in r.stderr, r
    for p in parts:
        assert p in r.stderr, r


# -- an honest log ---------------------------------------------------------------------------

def test_an_honest_log_passes_with_and_without_a_checkpoint(store_url: str, provision_home: Path) -> None:
    rid = _history()
    r = run_cli("audit", "verify")
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "Audit chain intact: 4 events verified."
    assert lines[1].startswith("Audit key ") and lines[1].endswith(
        "; the requests, steps, hosting, documents and runs match the log.")
    cp = provision_home / "cp.json"
    r = run_cli("audit", "checkpoint", "--output", str(cp))
    assert r.exit_code == 0, r
    data = json.loads(cp.read_text())
    assert r.stdout.startswith(f"Checkpoint of event 4 ({data['time']}, key {data['key_id']}) written to {cp}")
    assert data["seq"] == 4 and data["keyed_from"] == 1 and len(data["hash"]) == 64
    # the log goes on after the checkpoint: still matches
    assert run_cli("request", "step", rid, "4", "--done").exit_code == 0
    r = run_cli("audit", "verify", "--against", str(cp))
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[0] == "Audit chain intact: 5 events verified."
    assert f"Checkpoint {cp} (event 4, {data['time']}) matches." in r.stdout
    r = run_cli("audit", "verify", "--against", str(cp), "--json")
    assert r.exit_code == 0, r
    assert r.json["ok"] is True and r.json["checkpoint"] == {"seq": 4, "time": data["time"], "matches": True}
    assert r.json["rows"] == [] and r.json["key_id"] == data["key_id"]


def test_the_checkpoint_checks_with_the_public_key_alone(store_url: str, provision_home: Path) -> None:
    """An auditor holding only the public key (not the audit key) checks the signature with
    a tool nobody here wrote: OpenSSL's Ed25519 (pkeyutl -verify -rawin)."""
    import base64
    import subprocess

    _history()
    cp = provision_home / "cp.json"
    assert run_cli("audit", "checkpoint", "-o", str(cp)).exit_code == 0
    data = json.loads(cp.read_text())
    signed = {k: data[k] for k in ("format", "seq", "hash", "keyed_from", "time", "key_id", "public_key")}
    (provision_home / "body").write_bytes(json.dumps(signed, sort_keys=True, separators=(",", ":")).encode())
    (provision_home / "sig").write_bytes(base64.b64decode(data["signature"]))
    der = bytes.fromhex("302a300506032b6570032100") + base64.b64decode(data["public_key"])  # SubjectPublicKeyInfo
    (provision_home / "pub.der").write_bytes(der)
    check = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.der", "-keyform", "DER", "-rawin",
             "-in", "body", "-sigfile", "sig"]
    p = subprocess.run(check, cwd=provision_home, capture_output=True, text=True)
    assert p.returncode == 0 and "Signature Verified Successfully" in p.stdout, p
    (provision_home / "body").write_bytes((provision_home / "body").read_bytes().replace(b'"seq":4', b'"seq":3'))
    p = subprocess.run(check, cwd=provision_home, capture_output=True, text=True)
    assert p.returncode != 0, p


# -- a database writer without the key -------------------------------------------------------

def test_rewrite_and_recompute_the_whole_chain_and_head_unkeyed(store_url: str) -> None:
    """The review's forgery: an event rewritten, another deleted, every hash and the head
    recomputed (plain SHA-256, as the old chain was): the first event is caught."""
    _history()

    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[1]["actor"] = "mallory"
        del rows[2]
        return rows

    _recompute(store_url, edit, unkeyed=True)
    r = run_cli("audit", "verify")
    _broken(r, 1, "it is not keyed, but every event from 1 on must be (it was written or rewritten "
                  "without the audit key)")


def test_rewrite_and_recompute_with_a_guessed_key(store_url: str) -> None:
    """The same, links recomputed as HMACs with a key of the attacker's own, this host's
    key id kept in the rows: the first event's MAC fails with this host's key."""
    from provision.auditkey import AuditKey

    _history()

    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[1]["actor"] = "mallory"
        return rows

    _recompute(store_url, edit, key=AuditKey(os.urandom(32)))
    _broken(run_cli("audit", "verify"), 1, "its content was changed after it was written "
                                           "(its keyed hash does not match)")


def test_rewrite_and_recompute_under_another_key_id(store_url: str) -> None:
    from provision.auditkey import AuditKey

    _history()
    forger = AuditKey(os.urandom(32))

    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for r in rows:
            r["key_id"] = forger.key_id
        return rows

    _recompute(store_url, edit, key=forger)
    r = run_cli("audit", "verify", "--json")
    assert r.exit_code == 1, r
    assert r.json["first_bad"] == 1
    assert r.json["reason"].startswith(f"it is keyed with key {forger.key_id}, not with this audit key ({r.json['key_id']}, ")


def test_an_edited_event_is_caught(store_url: str) -> None:
    _history()
    _sql(store_url, "UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 3")
    _broken(run_cli("audit", "verify"), 3, "its content was changed after it was written "
                                           "(its keyed hash does not match)")


def test_a_deleted_event_is_caught(store_url: str) -> None:
    _history()
    _sql(store_url, "DELETE FROM audit_events WHERE seq = 2")
    _broken(run_cli("audit", "verify"), 3, "event 2 is missing (next is 3)")


def test_truncation_is_caught_by_a_checkpoint(store_url: str, provision_home: Path) -> None:
    """Dropping the last events and moving the head back leaves a chain that verifies on
    its own (the head is in the same database); the checkpoint kept elsewhere catches it."""
    _history()
    cp = provision_home / "offsite.json"
    assert run_cli("audit", "checkpoint", "-o", str(cp)).exit_code == 0
    eng = create_engine(store_url)
    with eng.begin() as c:
        h2 = c.execute(text("SELECT hash FROM audit_events WHERE seq = 2")).scalar()
        c.execute(text("DELETE FROM audit_events WHERE seq > 2"))
        c.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": h2})
    eng.dispose()
    r = run_cli("audit", "verify", "--against", str(cp))
    _broken(r, 3, "the log ends at event 2, but the checkpoint of ")
    assert "covers events up to 4: events were removed from the end" in r.stderr


def test_truncation_without_a_checkpoint_is_what_verify_warns_about(store_url: str) -> None:
    """Said plainly, not hidden: without a checkpoint a cut tail looks like a shorter log
    (the rows it vouched for still differ, though, when the last events changed them)."""
    rid = _history()
    eng = create_engine(store_url)
    with eng.begin() as c:
        h3 = c.execute(text("SELECT hash FROM audit_events WHERE seq = 3")).scalar()
        c.execute(text("DELETE FROM audit_events WHERE seq = 4"))
        c.execute(text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": h3})
    eng.dispose()
    r = run_cli("audit", "verify")
    # the step 3 the cut event recorded is still done in request_steps: the digests differ
    _rows_differ(r, f"request_steps/3 of {rid}: changed after event 3, without an audit event")


# -- someone with the key: a checkpoint kept elsewhere ---------------------------------------

def test_a_chain_recomputed_with_the_key_is_caught_by_a_checkpoint(store_url: str, provision_home: Path) -> None:
    _history()
    cp = provision_home / "offsite.json"
    assert run_cli("audit", "checkpoint", "-o", str(cp)).exit_code == 0

    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[1]["reason"] = "rewritten"
        return rows

    _recompute(store_url, edit, key=_app_key())
    r = run_cli("audit", "verify")  # with the key, a recomputed chain verifies on its own
    assert r.exit_code == 0, r
    r = run_cli("audit", "verify", "--against", str(cp))
    _broken(r, 4, "it is not the event the checkpoint of ")
    assert "signed: the log up to it was rewritten and its hashes recomputed" in r.stderr


def test_a_deletion_recomputed_with_the_key_is_caught_by_a_checkpoint(store_url: str, provision_home: Path) -> None:
    _history()
    cp = provision_home / "offsite.json"
    assert run_cli("audit", "checkpoint", "-o", str(cp)).exit_code == 0
    _recompute(store_url, lambda rows: rows[:1] + rows[2:], key=_app_key())
    r = run_cli("audit", "verify", "--against", str(cp), "--json")
    assert r.exit_code == 1, r
    assert r.json["first_bad"] == 4 and "events were removed from the end" in r.json["reason"]


def test_an_edited_checkpoint_is_rejected(store_url: str, provision_home: Path) -> None:
    _history()
    cp = provision_home / "cp.json"
    assert run_cli("audit", "checkpoint", "-o", str(cp)).exit_code == 0
    data = json.loads(cp.read_text())
    data["seq"] = 2
    cp.write_text(json.dumps(data))
    r = run_cli("audit", "verify", "--against", str(cp))
    assert r.exit_code == 1, r
    assert f"Audit checkpoint {cp} REJECTED: the checkpoint's signature does not verify (the file was edited)." in r.stderr


def test_a_checkpoint_of_another_key_is_rejected(store_url: str, provision_home: Path) -> None:
    from provision.auditkey import AuditKey

    _history()
    cp = provision_home / "cp.json"
    assert run_cli("audit", "checkpoint", "-o", str(cp)).exit_code == 0
    data = json.loads(cp.read_text())
    other = AuditKey(os.urandom(32))
    data["public_key"], data["key_id"] = other.public_key, other.key_id
    cp.write_text(json.dumps(data))
    r = run_cli("audit", "verify", "--against", str(cp))
    assert r.exit_code == 1, r
    assert f"REJECTED: the checkpoint was signed with key {other.key_id}, not with this audit key" in r.stderr


def test_a_file_that_is_no_checkpoint_is_refused(store_url: str, provision_home: Path) -> None:
    _history()
    bad = provision_home / "notes.txt"
    bad.write_text('{"seq": 3}')
    r = run_cli("audit", "verify", "--against", str(bad))
    assert r.exit_code == 2, r
    assert f"the file {bad} is not an audit checkpoint (it lacks format, hash, keyed_from" in r.stderr
    r = run_cli("audit", "verify", "--against", str(provision_home / "missing.json"))
    assert r.exit_code == 2, r
    assert "cannot read the checkpoint file" in r.stderr


def test_no_checkpoint_over_a_broken_chain(store_url: str, provision_home: Path) -> None:
    _history()
    _sql(store_url, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    cp = provision_home / "cp.json"
    r = run_cli("audit", "checkpoint", "-o", str(cp))
    assert r.exit_code == 1, r
    assert ("the audit log does not verify (at event 2: its content was changed after it was written "
            "(its keyed hash does not match)); no checkpoint was written.") in r.stderr
    assert not cp.exists()


# -- the state tables ------------------------------------------------------------------------

def _issue_rows(rid: str) -> None:
    """A hosting row and a document, written with their event in one transaction, as
    hosting's register and a report's issue do (those need the sandbox)."""
    import datetime as dt

    from provision.context import App
    from provision.store.models import Document, Hosting

    app = App()
    now = dt.datetime(2026, 11, 2, 3, 4, 5, tzinfo=dt.UTC)
    with app.store.write() as s:
        s.add(Hosting(request_id=rid, host="web1", domain="sisekolah.batam.test", runtime="php",
                      database="mariadb", status="active", created_at=now, updated_at=now))
        s.add(Document(request_id=rid, kind="berita-acara", number="BA/001/2026", date=now.date(),
                       path="/x/ba.md", sha256="b" * 64, created_at=now))
        s.flush()
        app.audit.append_in(s, [dict(provider="hosting", action="register", target=rid,
                                     outcome="recorded", request_id=rid)])


@pytest.mark.parametrize("stmt,row", [
    ("UPDATE requests SET app_name = 'Aplikasi Lain' WHERE id = '{rid}'", "requests of {rid}: changed"),
    ("UPDATE request_steps SET note = 'diubah' WHERE request_id = '{rid}' AND number = 2",
     "request_steps/2 of {rid}: changed"),
    ("DELETE FROM request_steps WHERE request_id = '{rid}' AND number = 15", "request_steps/15 of {rid}: deleted"),
    ("UPDATE hosting SET domain = 'evil.example' WHERE request_id = '{rid}'", "hosting of {rid}: changed"),
    ("UPDATE documents SET sha256 = '{c64}' WHERE request_id = '{rid}'", "documents/1 of {rid}: changed"),
    ("INSERT INTO documents (request_id, kind, number, date, path, sha256, created_at) VALUES "
     "('{rid}', 'rekomendasi', 'R/9', '2026-11-02', '/x', '{c64}', '2026-11-02 00:00:00')",
     "documents/2 of {rid}: added"),
])
def test_a_direct_edit_to_a_state_table_is_caught(store_url: str, stmt: str, row: str) -> None:
    rid = _history()
    _issue_rows(rid)
    assert run_cli("audit", "verify").exit_code == 0
    _sql(store_url, stmt.format(rid=rid, c64="c" * 64))
    r = run_cli("audit", "verify")
    _rows_differ(r, row.format(rid=rid) + " after event 5")
    assert "Audit chain intact (5 events), but 1 row(s) differ" in r.stderr


def test_a_request_inserted_without_an_event_is_caught(store_url: str) -> None:
    rid = _history()
    _sql(store_url, "INSERT INTO requests (id, opd_code, opd_name, app_name, letter_number, letter_date, status, "
                    "opened_at, opened_by) SELECT 'REQ-2026-0777', opd_code, opd_name, app_name, letter_number, "
                    f"letter_date, status, opened_at, opened_by FROM requests WHERE id = '{rid}'")
    _rows_differ(run_cli("audit", "verify"), "requests of REQ-2026-0777: written without any audit event")


@pytest.mark.parametrize("stmt,part", [
    ("UPDATE runs SET command = 'provision request list' WHERE command LIKE '%step%--done%langkah 2%'",
     "changed after it was sealed"),
    ("UPDATE runs SET seal = NULL WHERE command LIKE '%langkah 2%'",
     "no seal, though it started after the log was keyed"),
    ("DELETE FROM runs WHERE command LIKE '%langkah 2%'", "deleted (event 3 names it)"),
])
def test_a_direct_edit_to_runs_is_caught(store_url: str, stmt: str, part: str) -> None:
    _history()
    _sql(store_url, stmt)
    r = run_cli("audit", "verify")
    _rows_differ(r, part)
    assert "runs/" in r.stderr


def test_legitimate_changes_keep_verifying(store_url: str) -> None:
    """Every command writes its rows and then its event: the rows follow the log."""
    rid = _history()
    _issue_rows(rid)
    assert run_cli("request", "step", rid, "4", "--start").exit_code == 0
    assert run_cli("request", "close", rid, "--reason", "selesai", "--yes").exit_code == 0
    r = run_cli("audit", "verify", "--json")
    assert r.exit_code == 0 and r.json["ok"] and r.json["rows"] == [], r


# -- the key ---------------------------------------------------------------------------------

def test_the_key_is_a_0600_file_outside_the_database(store_url: str, provision_home: Path) -> None:
    _history()
    kf = _key_file(provision_home)
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600
    secret = kf.read_text().strip()
    assert len(secret) == 64
    eng = create_engine(store_url)
    with eng.connect() as c:
        dumped = json.dumps([[list(map(str, r)) for r in c.execute(text(f"SELECT * FROM {t}"))]
                             for t in ("audit_events", "audit_head", "runs", "requests", "request_steps")])
    eng.dispose()
    assert secret not in dumped and secret[:16] not in dumped
    from provision.secrets import REDACTOR

    assert REDACTOR.text(f"k={secret}") == "k=****"


def test_a_key_file_readable_by_others_is_refused(store_url: str, provision_home: Path) -> None:
    _history()
    kf = _key_file(provision_home)
    kf.chmod(0o644)
    r = run_cli("audit", "verify")
    assert r.exit_code == 2, r
    assert f"the audit key file {kf} is readable or writable by others (mode 0644). Run: chmod 600 {kf}" in r.stderr
    kf.chmod(0o600)  # the hint's command, and the key is back where secrets belong
    r = run_cli("audit", "verify")
    assert r.exit_code == 0 and r.stdout.startswith("Audit chain intact: 4 events verified."), r


def test_a_missing_key_is_an_error_not_a_new_key(store_url: str, provision_home: Path) -> None:
    _history()
    kf = _key_file(provision_home)
    saved = kf.read_bytes()
    kf.unlink()
    r = run_cli("audit", "verify")
    assert r.exit_code == 2, r
    assert f"the audit key file {kf} is missing, and the audit log holds 4 events keyed with it." in r.stderr
    assert not kf.exists()
    fd = os.open(kf, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, saved)
    os.close(fd)
    assert run_cli("audit", "verify").exit_code == 0


def test_the_key_file_from_the_environment(store_url: str, provision_home: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    other = provision_home / "keys" / "kp-audit.key"
    monkeypatch.setenv("PROVISION_AUDIT_KEY_FILE", str(other))
    _history()
    assert other.exists() and not _key_file(provision_home).exists()
    assert stat.S_IMODE(other.stat().st_mode) == 0o600
    assert run_cli("audit", "verify").exit_code == 0


# -- shipping a checkpoint -------------------------------------------------------------------

def test_checkpoint_to_syslog_over_udp(store_url: str, provision_home: Path) -> None:
    """A syslog collector on loopback (a UDP socket of the test) receives the signed head;
    the record, saved as it came, is a checkpoint `verify --against` accepts."""
    _history()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        port = sock.getsockname()[1]
        r = run_cli("audit", "checkpoint", "--syslog", "--syslog-address", f"127.0.0.1:{port}",
                    "-o", str(provision_home / "cp.json"))
        assert r.exit_code == 0, r
        assert r.stdout.rstrip().endswith(f"and sent to syslog at 127.0.0.1:{port}.")
        record = sock.recv(65535).decode()
    assert record.startswith("<38>kominfo-provision: audit checkpoint {")
    saved = provision_home / "from-syslog.log"
    saved.write_text(record + "\n")
    r = run_cli("audit", "verify", "--against", str(saved))
    assert r.exit_code == 0, r
    assert f"Checkpoint {saved} (event 4," in r.stdout


def test_checkpoint_to_a_unix_syslog_socket_and_a_dead_one(store_url: str, provision_home: Path) -> None:
    _history()
    path = str(provision_home / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(10)
        r = run_cli("audit", "checkpoint", "--syslog", "--syslog-address", path, "--json")
        assert r.exit_code == 0, r
        assert r.json["syslog"] == path and r.json["seq"] == 4
        assert json.loads(sock.recv(65535).decode().split(" checkpoint ", 1)[1]) == {
            k: v for k, v in r.json.items() if k not in ("output", "syslog")}
    os.unlink(path)
    r = run_cli("audit", "checkpoint", "--syslog", "--syslog-address", path)
    assert r.exit_code == 1, r
    assert f"cannot send the checkpoint to syslog at {path}: " in r.stderr
    r = run_cli("audit", "checkpoint", "--syslog", "--syslog-address", "nohost")
    assert r.exit_code == 2, r
    assert "--syslog-address 'nohost' is not a socket path or HOST:PORT." in r.stderr


# -- the key travels with a copy -------------------------------------------------------------

def test_a_copy_verifies_on_the_target_with_the_key_copied(store_url: str, provision_home: Path) -> None:
    _history()
    dest = provision_home / "other"
    target = f"sqlite:///{dest / 'state' / 'state.db'}"
    r = run_cli("db", "copy", "--to", target, "--yes")
    assert r.exit_code == 0, r
    assert "audit chain intact on the target" in r.stdout
    cfg = dest / "provision.toml"
    cfg.write_text(f'[general]\nstate_dir = "{dest / "state"}"\n\n[database]\nurl = "{target}"\n')
    r = run_cli("--config", str(cfg), "audit", "verify", env={"PROVISION_DATABASE_URL": None})
    assert r.exit_code == 2, r
    assert f"the audit key file {dest / 'state' / 'audit.key'} is missing, and the audit log holds 5 events" in r.stderr
    # the documented step: install -m 600 the key next to the new state
    fd = os.open(dest / "state" / "audit.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, _key_file(provision_home).read_bytes())
    os.close(fd)
    r = run_cli("--config", str(cfg), "audit", "verify", env={"PROVISION_DATABASE_URL": None})
    assert r.exit_code == 0, r
    assert r.stdout.startswith("Audit chain intact: 5 events verified.")


# -- a log begun before the key (schema 0002) --------------------------------------------------

def _legacy_log(url: str) -> None:
    """A state database at schema 0002, as the toolkit left it before this version: two
    requests with two steps each, their unkeyed (plain SHA-256) events and runs."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from provision.audit import _FIELDS, GENESIS, event_hash
    from provision.store.db import MIGRATIONS

    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    eng = create_engine(url)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    prev = GENESIS
    with eng.begin() as c:
        for n, rid in enumerate(("REQ-2026-0001", "REQ-2026-0002"), start=1):
            c.execute(text("INSERT INTO requests (id, opd_code, opd_name, app_name, letter_number, letter_date, "
                           "status, opened_at, opened_by, current_step) VALUES (:id, 'disdik', 'Dinas Pendidikan', "
                           "'Sistem Informasi Sekolah', '800/1/2026', '2026-10-30', 'open', "
                           "'2026-11-02 01:00:00', 'tester', 1)"), {"id": rid})
            for step in (1, 2):
                c.execute(text("INSERT INTO request_steps (request_id, number, status) VALUES (:r, :n, 'pending')"),
                          {"r": rid, "n": step})
            run_id = f"00000000-0000-0000-0000-00000000000{n}"
            c.execute(text("INSERT INTO runs (id, request_id, actor, command, started_at, ended_at, outcome, "
                           "exit_code) VALUES (:id, NULL, 'tester', 'provision request open', "
                           "'2026-11-02 01:00:00', '2026-11-02 01:00:01', 'ok', 0)"), {"id": run_id})
            fields = dict(seq=n, ts=f"2026-11-02T01:00:0{n}.000000Z", run_id=run_id, request_id=rid, actor="tester",
                          provider="request", action="open", target=rid, before=None,
                          after='{"app":"Sistem Informasi Sekolah"}', outcome="recorded", reason=None, ref=None,
                          prev_hash=prev)
            prev = event_hash(fields)
            c.execute(text(f"INSERT INTO audit_events ({', '.join(_FIELDS)}, hash) VALUES "
                           f"({', '.join(':' + k for k in _FIELDS)}, :hash)"), {**fields, "hash": prev})
        c.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": prev})
    eng.dispose()


def test_an_upgraded_log_keeps_its_old_events_and_seals_the_rows(store_url: str, provision_home: Path) -> None:
    """0002 -> 0003: the old events keep their SHA-256 links; the first keyed write seals
    every covered row (event 3), its own event follows keyed (4); the lot verifies."""
    _legacy_log(store_url)
    r = run_cli("request", "close", "REQ-2026-0001", "--reason", "dibatalkan", "--yes")
    assert r.exit_code == 0, r
    r = run_cli("audit", "verify")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[0] == "Audit chain intact: 4 events verified (2 from before the audit key, unkeyed)."
    r = run_cli("audit", "log", "--json")
    assert [(e["seq"], e["provider"], e["action"]) for e in r.json] == [
        (1, "request", "open"), (2, "request", "open"), (3, "audit", "seal"), (4, "request", "close")]
    assert r.json[2]["after"] == {"unkeyed_events": 2, "requests": 2} and r.json[2]["request_id"] is None


@pytest.mark.parametrize("forgery,first_bad,part", [
    ("edit", 1, "its content was changed after it was written"),
    ("edit+recompute", 3, "does not follow the previous event"),
    ("keyed-as-unkeyed", 3, "it is keyed, but the log's unkeyed part runs to event 4"),
])
def test_the_old_events_are_fixed_by_the_first_keyed_one(store_url: str, forgery: str, first_bad: int,
                                                         part: str) -> None:
    _legacy_log(store_url)
    assert run_cli("request", "close", "REQ-2026-0001", "--reason", "dibatalkan", "--yes").exit_code == 0
    if forgery == "edit":
        _sql(store_url, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
    elif forgery == "edit+recompute":  # the old part recomputed: its last link no longer fits event 3's MAC
        def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            rows[0]["actor"] = "mallory"
            return rows[:2]

        eng = create_engine(store_url)
        with eng.connect() as c:
            keyed = [dict(r) for r in c.execute(text("SELECT * FROM audit_events WHERE seq > 2 ORDER BY seq")).mappings()]
        eng.dispose()
        _recompute(store_url, edit, unkeyed=True)
        eng = create_engine(store_url)
        with eng.begin() as c:
            cols = list(keyed[0])
            c.execute(text(f"INSERT INTO audit_events ({', '.join(cols)}) VALUES "
                           f"({', '.join(':' + k for k in cols)})"), keyed)
            c.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": keyed[-1]["hash"]})
        eng.dispose()
    else:
        _sql(store_url, "UPDATE audit_head SET keyed_from = 5")
    _broken(run_cli("audit", "verify"), first_bad, part)


def test_an_old_row_is_covered_by_the_seal(store_url: str) -> None:
    _legacy_log(store_url)
    assert run_cli("request", "close", "REQ-2026-0001", "--reason", "dibatalkan", "--yes").exit_code == 0
    _sql(store_url, "UPDATE request_steps SET status = 'done' WHERE request_id = 'REQ-2026-0002' AND number = 1")
    _rows_differ(run_cli("audit", "verify"), "request_steps/1 of REQ-2026-0002: changed after event 3, "
                                             "without an audit event")


def test_the_whole_log_rewritten_as_old_is_caught_by_a_checkpoint(store_url: str, provision_home: Path) -> None:
    """A writer without the key who rewrites every event in the old, unkeyed format and
    moves the keyed part's start past the end is not caught by the log alone (docs/audit.md
    says so); a checkpoint taken before catches it."""
    _legacy_log(store_url)
    assert run_cli("request", "close", "REQ-2026-0001", "--reason", "dibatalkan", "--yes").exit_code == 0
    cp = provision_home / "cp.json"
    assert run_cli("audit", "checkpoint", "-o", str(cp)).exit_code == 0

    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[3]["reason"] = "never closed"
        return rows

    _recompute(store_url, edit, unkeyed=True)
    _sql(store_url, "UPDATE audit_head SET keyed_from = 99")
    r = run_cli("audit", "verify")
    assert r.exit_code == 0, r  # the limit, shown: no keyed event left to check
    r = run_cli("audit", "verify", "--against", str(cp))
    _broken(r, 3, "the log says its keyed part begins at event 99, the checkpoint of ")
