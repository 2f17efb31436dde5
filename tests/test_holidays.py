"""Working days know Indonesia's holidays: the `holidays` package's public holidays and
cuti bersama, plus sop.holidays_add / sop.holidays_remove; `request show` says when a due
date moved because of a holiday, and shows the SOP in Bahasa Indonesia (general.language)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from provision.calendar import national_holidays, office_calendar
from tests.helpers import run_cli

D = dt.date


def open_on(day: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PROVISION_TODAY", day)
    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app", "Sekolah",
                "--letter-number", "005/DISDIK/2026", "--letter-date", day, "--json")
    assert r.exit_code == 0, r
    return r.json["id"]


def test_national_calendar_has_christmas_cuti_bersama_and_new_year() -> None:
    days = national_holidays([2026, 2027])
    assert days[D(2026, 12, 25)] == "Hari Raya Natal" and "Cuti Bersama" in days[D(2026, 12, 24)]
    assert days[D(2027, 1, 1)] == "Tahun Baru Masehi" and D(2026, 8, 17) in days
    cal = office_calendar(True, [], [], D(2026, 12, 21))
    # A ten-day step started on Monday 21 December 2026 is not due on New Year's Day.
    due = cal.add_working_days(D(2026, 12, 21), 10)
    assert due != D(2027, 1, 1) and cal.is_working_day(due)
    assert {D(2026, 12, 24), D(2026, 12, 25), D(2027, 1, 1)} <= set(cal.holidays_between(D(2026, 12, 21), due))
    assert cal.working_days_between(D(2026, 12, 21), due) == 10
    # Only weekends: the old count.
    assert office_calendar(False, [], [], D(2026, 12, 21)).add_working_days(D(2026, 12, 21), 10) == D(2027, 1, 1)


def test_request_opened_on_21_december_skips_the_holidays(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = open_on("2026-12-21", monkeypatch)
    r = run_cli("request", "show", rid, "--json")
    assert r.exit_code == 0, r
    steps = r.json["steps"]
    dues = {s["number"]: s["due"] for s in steps}
    # 1 day, 1 day, then step 3 (3 days) from the 23rd: 23, 28, 29 (24 cuti bersama, 25 Natal, a weekend).
    assert (dues[1], dues[2], dues[3], dues[4]) == ("2026-12-21", "2026-12-22", "2026-12-29", "2026-12-30")
    assert steps[2]["due_moved_by"] == [{"date": "2026-12-24", "name": "Cuti Bersama Hari Raya Natal"},
                                        {"date": "2026-12-25", "name": "Hari Raya Natal"}]
    assert {"date": "2027-01-01", "name": "Tahun Baru Masehi"} in steps[4]["due_moved_by"]
    closed = set(national_holidays([2026, 2027]))
    for s in steps:
        if s["due"]:
            day = D.fromisoformat(s["due"])
            assert day.weekday() < 5 and day not in closed, s
    assert steps[0]["due_moved_by"] == [] and steps[1]["due_moved_by"] == []
    # On screen: the mark and its reason, in Bahasa Indonesia, with the SOP's own titles and actors.
    r = run_cli("request", "show", rid)
    assert r.exit_code == 0, r
    assert "2026-12-29 *" in r.stdout
    assert ("* tahap 3, 2026-12-29: bergeser karena hari libur 2026-12-24 Cuti Bersama Hari Raya Natal, "
            "2026-12-25 Hari Raya Natal") in r.stdout, r.stdout
    assert "Kepala OPD mengajukan permohonan" in r.stdout and "Kepala OPD Pemohon" in r.stdout
    assert "TAHAP" in r.stdout and "BATAS WAKTU" in r.stdout and "belum" in r.stdout and "selesai" not in r.stdout
    assert "The OPD head files" not in r.stdout
    # English when configured so.
    r = run_cli("request", "show", rid, env={"PROVISION_GENERAL_LANGUAGE": "en"})
    assert r.exit_code == 0 and "The OPD head files a request" in r.stdout and "Head of the requesting OPD" in r.stdout
    assert "* step 3, 2026-12-29: moved by holidays 2026-12-24" in r.stdout and "pending" in r.stdout, r.stdout
    assert "Kepala OPD mengajukan" not in r.stdout


def test_holidays_add_and_remove(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = provision_home / "provision.toml"
    # A decree: the office works on the cuti bersama of the 24th, and is closed on the 22nd.
    cfg.write_text(cfg.read_text() + '[sop]\nholidays_add = ["2026-12-22"]\nholidays_remove = ["2026-12-24"]\n')
    rid = open_on("2026-12-21", monkeypatch)
    steps = run_cli("request", "show", rid, "--json").json["steps"]
    assert [s["due"] for s in steps[:3]] == ["2026-12-21", "2026-12-23", "2026-12-29"]
    assert steps[1]["due_moved_by"] == [{"date": "2026-12-22", "name": "Libur (ditetapkan dalam konfigurasi)"}]
    assert [h["date"] for h in steps[2]["due_moved_by"]] == ["2026-12-25"]
    # A date that is not a date is refused before anything is read, naming the key.
    cfg.write_text(cfg.read_text().replace('"2026-12-22"', '"2026-12-32"'))
    r = run_cli("request", "show", rid)
    assert r.exit_code == 2 and "sop.holidays_add[0]: '2026-12-32' is not a date" in r.stderr, r
