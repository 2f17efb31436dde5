"""The DNS provider against a real BIND primary + secondary: create, change, delete (each
twice: the second run sends no UPDATE), ownership, and the zone checked by BIND's tools."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.sandbox.bind import BindPair
from provision.dns.errors import NotOwned
from provision.errors import ExitCode, UsageError
from tests.dns.conftest import OPD, REQ, CountingProvider, MemoryRecorder, checked_zone, dig, make_spec, nsupdate

APP: list[dict[str, Any]] = [{"name": "sisekolah", "type": "A", "values": ["203.0.113.50", "203.0.113.51"]},
       {"name": "sisekolah", "type": "TXT", "values": ["v=spf1 -all; made by provision"]},
       {"name": "www.sisekolah", "type": "CNAME", "values": ["sisekolah"]}]
HAND = {"www": ["203.0.113.10"], "mail": ["203.0.113.25"]}


def assert_hand_made_untouched(bind: BindPair) -> None:
    for server in bind.servers:
        for name, values in HAND.items():
            assert dig(server, f"{name}.batam.test") == values
        assert dig(server, "hand.batam.test", "TXT") == ['"made by hand; keep me"']
        assert dig(server, "portal.batam.test", "CNAME") == ["www.batam.test."]
        assert dig(server, "batam.test", "MX") == ["10 mail.batam.test."]


def apply(cp: CountingProvider, spec: object, rec: MemoryRecorder | None = None, **kw: object):
    plan = cp.provider.plan(spec, REQ, OPD, **kw)  # type: ignore[arg-type]
    return plan, cp.provider.apply(plan, rec or MemoryRecorder())


def test_create_twice_second_sends_nothing(bind_zone: BindPair, provider: CountingProvider) -> None:
    rec = MemoryRecorder()
    plan, report = apply(provider, make_spec(APP), rec)
    assert plan.summary() == "5 to create"  # A, TXT, CNAME and two ownership records
    assert provider.sent == 1  # one atomic UPDATE for the whole plan
    assert report.ok and len(report.applied) == 5
    assert rec.outcomes("attempted") == rec.outcomes("succeeded") == [c.target for c in plan.changes]
    for server in bind_zone.servers:
        assert dig(server, "sisekolah.batam.test") == ["203.0.113.50", "203.0.113.51"]
        assert dig(server, "sisekolah.batam.test", "TXT") == ['"v=spf1 -all; made by provision"']
        assert dig(server, "www.sisekolah.batam.test", "CNAME") == ["sisekolah.batam.test."]
        owner = dig(server, "_provision-owner.sisekolah.batam.test", "TXT")
        assert owner == ['"kominfo-provision request=REQ-2026-0001 types=A,TXT opd=Dinas Pendidikan"']
    verification = report.details["verification"]
    assert [v["server"] for v in verification] == bind_zone.servers
    assert all(v["ok"] and v["serial"] == 2026010102 for v in verification)
    assert [v["method"] for v in verification] == ["read back", "ixfr"]  # the primary was just read back
    plan2, report2 = apply(provider, make_spec(APP))
    assert plan2.empty and plan2.summary() == "nothing to do"
    assert provider.sent == 1 and report2.applied == []
    assert_hand_made_untouched(bind_zone)
    checked_zone(bind_zone, bind_zone.secondary_addr)


def test_change_twice_with_exact_old_values(bind_zone: BindPair, provider: CountingProvider) -> None:
    apply(provider, make_spec(APP))
    changed: list[dict[str, Any]] = [{"name": "sisekolah", "type": "A", "ttl": 600, "values": ["203.0.113.52"]},
               {"name": "sisekolah", "type": "AAAA", "values": ["2001:db8::52"]}]
    rec = MemoryRecorder()
    plan, report = apply(provider, make_spec(changed), rec)
    actions = {c.target: c.action for c in plan.changes}
    assert actions == {"sisekolah.batam.test. A": "update", "sisekolah.batam.test. AAAA": "create",
                       "sisekolah.batam.test. TXT": "delete", "www.sisekolah.batam.test. CNAME": "delete",
                       "_provision-owner.sisekolah.batam.test. TXT": "update",
                       "_provision-owner.www.sisekolah.batam.test. TXT": "delete"}
    a = next(c for c in plan.changes if c.target == "sisekolah.batam.test. A")
    assert a.before == {"ttl": 3600, "values": ["203.0.113.50", "203.0.113.51"]}
    assert a.after == {"ttl": 600, "values": ["203.0.113.52"]}
    assert provider.sent == 2 and report.ok
    for server in bind_zone.servers:
        assert dig(server, "sisekolah.batam.test") == ["203.0.113.52"]
        assert dig(server, "sisekolah.batam.test", "AAAA") == ["2001:db8::52"]
        assert dig(server, "sisekolah.batam.test", "TXT") == []
        assert dig(server, "www.sisekolah.batam.test", "CNAME") == []
        assert dig(server, "_provision-owner.www.sisekolah.batam.test", "TXT") == []
    plan2, _ = apply(provider, make_spec(changed))
    assert plan2.empty and provider.sent == 2
    assert_hand_made_untouched(bind_zone)
    checked_zone(bind_zone, bind_zone.secondary_addr)


def test_delete_twice_removes_only_this_request(bind_zone: BindPair, provider: CountingProvider) -> None:
    apply(provider, make_spec(APP))
    other = make_spec([{"name": "perpus", "type": "A", "values": ["203.0.113.60"]}], slug="perpus")
    provider.provider.apply(provider.provider.plan(other, "REQ-2026-0002", "Dinas Perpustakaan"), MemoryRecorder())
    assert provider.sent == 2
    plan = provider.provider.plan_delete(REQ)
    assert sorted(c.action for c in plan.changes) == ["delete"] * 5
    rec = MemoryRecorder()
    report = provider.provider.apply(plan, rec)
    assert provider.sent == 3 and report.ok
    assert rec.outcomes("succeeded") == [c.target for c in plan.changes]
    for server in bind_zone.servers:
        assert dig(server, "sisekolah.batam.test") == []
        assert dig(server, "_provision-owner.sisekolah.batam.test", "TXT") == []
        assert dig(server, "perpus.batam.test") == ["203.0.113.60"]
    again = provider.provider.plan_delete(REQ)
    assert again.empty and again.notes == ["batam.test. holds no name owned by REQ-2026-0001"]
    assert provider.provider.apply(again, MemoryRecorder()).applied == [] and provider.sent == 3
    assert_hand_made_untouched(bind_zone)
    checked_zone(bind_zone, bind_zone.primary_addr)


def test_hand_made_name_refused_then_adopted_with_reason(bind_zone: BindPair, provider: CountingProvider) -> None:
    spec = make_spec([{"name": "lama", "type": "A", "values": ["203.0.113.99"]}], slug="sisekolah",
                     aliases=["lama"])
    with pytest.raises(NotOwned) as e:
        provider.provider.plan(spec, REQ, OPD)
    assert e.value.exit_code == ExitCode.UNSAFE_PLAN
    assert "lama.batam.test. has records made by hand (A)" in str(e.value) and "--adopt" in str(e.value)
    with pytest.raises(UsageError, match="need --reason"):
        provider.provider.plan(spec, REQ, OPD, adopt=True)
    assert provider.sent == 0 and dig(bind_zone.primary_addr, "lama.batam.test") == ["203.0.113.30"]
    plan, report = apply(provider, spec, adopt=True, reason="SK 12/2026: lama moves to the new app")
    assert plan.meta["takeover"]["reason"].startswith("SK 12/2026")
    assert any("adopting a hand-made name" in n for n in plan.notes)
    assert report.ok and dig(bind_zone.secondary_addr, "lama.batam.test") == ["203.0.113.99"]
    assert [c.action for c in plan.changes] == ["update", "create"]  # A taken over, ownership added


def test_other_requests_name_refused_naming_owner_then_forced(bind_zone: BindPair, provider: CountingProvider) -> None:
    spec = make_spec([{"name": "sisekolah", "type": "A", "values": ["203.0.113.50"]}])
    apply(provider, spec)
    mine = make_spec([{"name": "sisekolah", "type": "A", "values": ["203.0.113.77"]}])
    with pytest.raises(NotOwned) as e:
        provider.provider.plan(mine, "REQ-2026-0009", "Dinas Kesehatan")
    assert "owned by request REQ-2026-0001 (Dinas Pendidikan)" in str(e.value)
    assert "--force --reason" in str(e.value)
    plan = provider.provider.plan(mine, "REQ-2026-0009", "Dinas Kesehatan", force=True, reason="handover")
    report = provider.provider.apply(plan, MemoryRecorder())
    assert report.ok
    assert dig(bind_zone.secondary_addr, "_provision-owner.sisekolah.batam.test", "TXT") == [
        '"kominfo-provision request=REQ-2026-0009 types=A opd=Dinas Kesehatan"']
    assert provider.provider.plan_delete(REQ).empty  # the old owner no longer owns it


def test_hand_made_record_beside_owned_name_left_alone(bind_zone: BindPair, provider: CountingProvider) -> None:
    apply(provider, make_spec(APP))
    nsupdate(bind_zone, 'update add sisekolah.batam.test. 300 IN MX 10 mail.batam.test.')
    plan, report = apply(provider, make_spec(APP[:1]))
    assert "sisekolah.batam.test. MX" not in [c.target for c in plan.changes]
    assert any("MX: made by hand, left untouched" in n for n in plan.notes)
    delete = provider.provider.plan_delete(REQ)
    provider.provider.apply(delete, MemoryRecorder())
    assert dig(bind_zone.secondary_addr, "sisekolah.batam.test", "MX") == ["10 mail.batam.test."]
    assert dig(bind_zone.secondary_addr, "sisekolah.batam.test") == []


def test_forged_ownership_label_refused_before_network(bind_zone: BindPair, provider: CountingProvider) -> None:
    from provision.errors import ValidationError
    spec = make_spec([{"name": "_provision-owner.sisekolah", "type": "TXT", "values": ["x"]}])
    with pytest.raises(ValidationError) as e:
        provider.provider.plan(spec, REQ, OPD)
    assert "ownership records and cannot be set" in str(e.value)
    assert provider.sent == 0


def test_list_names_with_owners(bind_zone: BindPair, provider: CountingProvider) -> None:
    apply(provider, make_spec(APP))
    rows = {r["name"]: r for r in provider.provider.list_names()}
    assert rows["sisekolah.batam.test."]["owner"] == REQ and rows["sisekolah.batam.test."]["opd"] == OPD
    assert rows["sisekolah.batam.test."]["types"] == ["A", "TXT"]
    assert rows["www.batam.test."]["owner"] is None
    assert "_provision-owner.sisekolah.batam.test." not in rows


def test_safety_threshold_refuses_mass_delete_without_force(bind_zone: BindPair) -> None:
    from provision.errors import UnsafePlan
    from tests.dns.conftest import settings_for
    cp = CountingProvider(settings_for(bind_zone))  # default 30 % shares
    apply(cp, make_spec(APP))
    with pytest.raises(UnsafePlan) as e:
        cp.provider.plan_delete(REQ)
    assert e.value.exit_code == ExitCode.UNSAFE_PLAN
    assert "would delete 5 of 15 existing resources, more than the 30% allowed" in str(e.value)
    assert cp.sent == 1
    assert cp.provider.plan_delete(REQ, force=True).count("delete") == 5


def test_hand_made_type_clashing_at_owned_name_refused_then_adopted(bind_zone: BindPair, provider: CountingProvider) -> None:
    apply(provider, make_spec(APP[:1]))
    nsupdate(bind_zone, 'update add sisekolah.batam.test. 300 IN TXT "added by hand"')
    spec = make_spec([APP[0], {"name": "sisekolah", "type": "TXT", "values": ["from the spec"]}])
    with pytest.raises(NotOwned, match=r"record sets this request did not make \(TXT\)"):
        provider.provider.plan(spec, REQ, OPD)
    plan, report = apply(provider, spec, adopt=True, reason="the TXT was ours all along")
    assert any("adopting the record sets made by hand" in n for n in plan.notes)
    assert {c.target: c.action for c in plan.changes}["sisekolah.batam.test. TXT"] == "update"
    assert report.ok and dig(bind_zone.secondary_addr, "sisekolah.batam.test", "TXT") == ['"from the spec"']


def test_secondary_refusing_transfers_verified_record_by_record(bind_factory: Any) -> None:
    from tests.dns.conftest import settings_for
    bind = bind_factory(secondary_transfers=False)
    cp = CountingProvider(settings_for(bind))
    _, report = apply(cp, make_spec(APP))
    ver = {v["server"]: v for v in report.details["verification"]}
    assert ver[bind.secondary_addr]["ok"] and ver[bind.secondary_addr]["method"] == "query"
    assert ver[bind.primary_addr]["method"] == "read back"
    # and a wrong answer there is caught: delete by hand on the primary, the secondary follows
    nsupdate(bind, "update delete www.sisekolah.batam.test. CNAME")
    from provision.dns.transport import parse_server
    from provision.dns.verify import verify_servers
    results = verify_servers(cp.provider.transport, [parse_server(bind.secondary_addr)], 2026010103,
                             {c.data.key: c.data.new for c in report.applied}, 1.0, 2026010101,
                             {c.data.key: c.data.old for c in report.applied})
    assert not results[0].ok and results[0].method == "query"
    assert any(w.startswith("www.sisekolah.batam.test. CNAME holds nothing") for w in results[0].wrong)
