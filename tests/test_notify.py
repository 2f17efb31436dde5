"""Notifications through apprise, received by a real HTTP server on loopback (apprise's
json:// target posts there): failed and warning checks, overdue SOP steps reminded at
most once a day, failed applies under CI; the texts in Bahasa Indonesia by default."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import run_cli


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.status = 200
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                inbox.messages.append(json.loads(body))
                self.send_response(inbox.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/notify"


@pytest.fixture
def inbox(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    box = Inbox()
    box.thread.start()
    urls = provision_home / "notify-urls"
    urls.write_text(f"# the operators' channel\n{box.url}\n")  # comments are allowed
    urls.chmod(0o600)
    monkeypatch.setenv("PROVISION_NOTIFY_URLS_FILE", str(urls))
    yield box
    box.server.shutdown()
    box.server.server_close()


def open_overdue(provision_home: Path) -> str:
    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app",
                "Sistem Informasi Sekolah", "--letter-number", "005/DISDIK/2026", "--letter-date", "2026-11-02",
                "--json")
    assert r.exit_code == 0, r
    return str(r.json["id"])


def test_overdue_steps_are_reminded_once_a_day(inbox: Inbox, provision_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rid = open_overdue(provision_home)
    monkeypatch.setenv("PROVISION_TODAY", "2026-11-20")  # step 1 was due days ago
    dry = run_cli("request", "remind", "--dry-run", "--json")
    assert dry.exit_code == 0, dry
    assert [r["request"] for r in dry.json["reminders"]] == [rid] and dry.json["sent"] == 0
    assert inbox.messages == []

    r = run_cli("request", "remind")
    assert r.exit_code == 0, r
    assert "Sent 1 of 1 reminder(s)." in r.stdout
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["title"] == f"Langkah SOP terlambat: {rid}"
    assert f"Permohonan {rid} (Sistem Informasi Sekolah, Dinas Pendidikan)" in msg["message"]
    assert "Langkah 1: Kepala OPD mengajukan permohonan" in msg["message"] and "terlambat" in msg["message"]

    again = run_cli("request", "remind")  # the same day: nothing new to say
    assert again.exit_code == 0 and "No SOP step is past its due date, or each was reminded today." in again.stdout
    assert len(inbox.messages) == 1

    monkeypatch.setenv("PROVISION_TODAY", "2026-11-21")  # the next day: reminded again
    assert run_cli("request", "remind").exit_code == 0
    assert len(inbox.messages) == 2
    log = run_cli("audit", "log", rid, "--json")
    assert log.exit_code == 0
    assert sum(1 for e in log.json if e["provider"] == "notify" and e["action"] == "remind") == 2


def test_a_refused_reminder_is_not_recorded_and_is_tried_again(inbox: Inbox, provision_home: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rid = open_overdue(provision_home)
    monkeypatch.setenv("PROVISION_TODAY", "2026-11-20")
    inbox.status = 500
    r = run_cli("request", "remind")
    assert r.exit_code == 1, r
    assert f"The reminders for {rid} were not sent" in r.stderr
    inbox.status = 200
    r = run_cli("request", "remind")
    assert r.exit_code == 0 and "Sent 1 of 1" in r.stdout, r


def test_remind_without_targets_is_a_usage_error(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_overdue(provision_home)
    monkeypatch.setenv("PROVISION_TODAY", "2026-11-20")
    r = run_cli("request", "remind")
    assert r.exit_code == 2
    assert "notify.urls is not configured" in r.stderr


def test_english_when_configured(inbox: Inbox, provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = open_overdue(provision_home)
    monkeypatch.setenv("PROVISION_TODAY", "2026-11-20")
    monkeypatch.setenv("PROVISION_NOTIFY_LANGUAGE", "en")
    r = run_cli("request", "remind")
    assert r.exit_code == 0, r
    assert inbox.messages[0]["title"] == f"SOP step overdue: {rid}"
    assert "Step 1: The OPD head files a request" in inbox.messages[0]["message"]


def test_failed_checks_notify(inbox: Inbox, provision_home: Path) -> None:
    from tests.checks.env import open_request, register, spec_dict, write_config

    write_config(provision_home, checks={"connect_to": {"web1:80": "127.0.0.1:9", "web1:443": "127.0.0.1:9"},
                                         "timeout": 1.0})
    rid = open_request(provision_home, spec_dict("sisekolah", tls=False))
    register(rid, "web1", "sisekolah.batam.test", "php")
    r = run_cli("check", "--only", "http")
    assert r.exit_code == 3, r
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["title"].startswith("Pemeriksaan infrastruktur: 1 gagal")
    assert f"GAGAL http {rid}" in msg["message"]


def test_failed_apply_under_ci_notifies(inbox: Inbox, provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = open_overdue(provision_home)
    monkeypatch.setenv("CI", "true")
    r = run_cli("apply", rid, "--yes")  # no spec: refused
    assert r.exit_code != 0
    assert len(inbox.messages) == 1, r
    assert inbox.messages[0]["title"] == f"Gagal: provision apply {rid}"
    assert f"kode keluar {r.exit_code}" in inbox.messages[0]["message"]
    monkeypatch.setenv("CI", "false")  # at a terminal nobody needs telling
    r = run_cli("apply", rid, "--yes")
    assert r.exit_code != 0 and len(inbox.messages) == 1


def test_notify_urls_are_a_secret(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    urls = provision_home / "notify-urls"
    urls.write_text("json://127.0.0.1:9/x\n")
    urls.chmod(0o644)
    monkeypatch.setenv("PROVISION_NOTIFY_URLS_FILE", str(urls))
    r = run_cli("config", "check")
    assert r.exit_code == 2, r
    assert "notify.urls" in r.stderr + r.stdout
    assert os.stat(urls).st_mode & 0o077  # untouched: the operator decides
