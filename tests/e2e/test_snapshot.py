"""The crash test's comparison can fail: a planted difference, duplicate or missing item
in any part is caught, and the names are normalised (no stack needed)."""

from __future__ import annotations

import copy

import pytest

from tests.e2e import snapshot
from tests.e2e.killable import KillSpec

REF = {
    "zone": ['{APP}.batam.test. A 300 127.0.0.1', '_provision.{APP}.batam.test. TXT 300 "request={REQ}"'],
    "gitlab": ["projects named after the app: 1", "member budi.dev 30", "protected branch main {}",
               "deploy key kominfo-deploy push=False", "variable APP_ENV protected=True masked=False scope=*"],
    "server": ["file /srv/apps/{APP} drwxr-x--- {APP} www-data d ", "db {APP}", "db user {APP}@localhost",
               "content /etc/nginx/sites-available/{APP}.conf 0123456789abcdef", "service nginx active"],
    "https": ["https / -> 200"],
    "state": ["documents berita-acara: 1", "documents rekomendasi: 1", "step 15 done",
              "installs succeeded production v1.0.0: 1"],
}


def test_equal_snapshots_have_no_difference() -> None:
    assert snapshot.diff(REF, copy.deepcopy(REF)) == []
    assert snapshot.duplicates(REF) == []


@pytest.mark.parametrize("part", sorted(REF))
def test_a_planted_difference_is_caught_in_every_part(part: str) -> None:
    changed = copy.deepcopy(REF)
    changed[part][0] = changed[part][0] + " (changed)"
    d = snapshot.diff(REF, changed)
    assert d == [f"{part}: - {REF[part][0]}", f"{part}: + {changed[part][0]}"]


@pytest.mark.parametrize("part", sorted(REF))
def test_a_thing_made_twice_or_missing_is_caught(part: str) -> None:
    twice = copy.deepcopy(REF)
    twice[part].append(twice[part][0])
    assert snapshot.diff(REF, twice) == [f"{part}: + {REF[part][0]}"]
    assert snapshot.duplicates(twice) == [f"{part}: {REF[part][0]} x2"]
    missing = copy.deepcopy(REF)
    del missing[part][-1]
    assert snapshot.diff(REF, missing) == [f"{part}: - {REF[part][-1]}"]


def test_second_berita_acara_or_install_differs() -> None:
    crash = copy.deepcopy(REF)
    crash["state"] = ["documents berita-acara: 2" if x.startswith("documents berita") else x for x in crash["state"]]
    assert "state: + documents berita-acara: 2" in snapshot.diff(REF, crash)


def test_names_are_normalised_but_nothing_else() -> None:
    a = snapshot.normaliser("REQ-2026-0001", "kpref")
    b = snapshot.normaliser("REQ-2026-0002", "kpcrash")
    assert a("/srv/apps/kpref/releases/bb0b56763a7e REQ-2026-0001") == \
        b("/srv/apps/kpcrash/releases/0123456789ab REQ-2026-0002") == "/srv/apps/{APP}/releases/{COMMIT} {REQ}"
    assert a("/srv/apps/kpref-staging") != b("/srv/apps/kpcrash-old")
    assert a("db kpref") != b("db kpcrash2")


def test_kill_specs_parse() -> None:
    s = KillSpec.parse("KILL@staging install/ansible/22")
    assert (s.signal, s.stage, s.kind, s.n) == ("KILL", "staging install", "ansible", 22)
    assert s.matches("staging install", "ansible") and not s.matches("hosting", "ansible")
    assert KillSpec.parse("INT@*/*/1").matches("dns", "audit")
    with pytest.raises(ValueError):
        KillSpec.parse("TERM@dns/audit/1")


def test_new_point_specs_count_only_unseen_points_and_move_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """`+N`: points an earlier run passed do not count; once the spec's stage is passed
    (a re-run found it done), the first new point fires."""
    from tests.e2e import killable

    sent: list[int] = []
    monkeypatch.setattr(killable.os, "kill", lambda pid, sig: sent.append(sig))
    seen = {killable.label("dns", "audit", "dns create a attempted")}
    pts = killable.Points(KillSpec.parse("KILL@dns/audit/+1"), None, seen)
    pts.stage = "dns"
    pts.hit("audit", "dns create a attempted")  # seen: passes
    pts.hit("dns", "update a")                  # another kind: passes
    assert sent == []
    pts.hit("audit", "dns create a succeeded")  # new: fires
    assert sent == [9]

    sent.clear()
    pts = killable.Points(KillSpec.parse("KILL@dns/audit/+3"), None, set())
    for stage, kind in (("after berita acara", "audit"), ("hosting", "audit")):
        pts.stage = stage
        pts.hit(kind, f"{stage} x")
    assert sent == [9], "the dns stage was passed: the first new point after it fires"
    assert killable.rank("after dns") == killable.rank("dns") + 1 < killable.rank("hosting")
