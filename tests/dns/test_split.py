"""Plans too big for one UPDATE: split by size, each part pinned to the SOA the previous one
produced, and a failure in a later part reported part by part (exit 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import provision.dns.provider as provider_mod
import provision.dns.update as update_mod
from devstack.sandbox.bind import BindPair
from provision.dns import DnsPartialApply, DnsProvider
from provision.errors import ExitCode
from tests.dns.conftest import (
    OPD,
    REQ,
    CountingProvider,
    MemoryRecorder,
    checked_zone,
    dig,
    make_spec,
    nsupdate,
    settings_for,
)


def bulk(n: int, txt_bytes: int = 0, start: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        out.append({"name": f"n{i:04d}.bulk", "type": "A", "values": [f"203.0.{113 + i // 250 % 2}.{i % 250 + 1}"]})
        if txt_bytes:
            out.append({"name": f"n{i:04d}.bulk", "type": "TXT", "values": [f"{i:04d}" + "x" * txt_bytes]})
    return out


def test_large_plan_split_by_size_all_parts_applied_and_verified(bind_zone: BindPair, provider: CountingProvider) -> None:
    spec = make_spec(bulk(600, txt_bytes=300), slug="bulk")  # TXT of 304 bytes: two strings each
    plan = provider.provider.plan(spec, REQ, OPD)
    assert plan.count("create") == 1800
    report = provider.provider.apply(plan, MemoryRecorder())
    parts = report.details["parts"]
    assert provider.sent == len(parts) >= 4 and all(p["status"] == "sent" for p in parts)
    assert report.ok and len(report.applied) == 1800
    assert report.details["serial"] == 2026010101 + len(parts)  # one serial step per message
    assert all(v["ok"] for v in report.details["verification"])
    assert dig(bind_zone.secondary_addr, "n0599.bulk.batam.test", "TXT") == ['"0599' + "x" * 251 + '" "' + "x" * 49 + '"']
    again = provider.provider.plan(spec, REQ, OPD)
    assert again.empty
    checked_zone(bind_zone, bind_zone.secondary_addr)


def test_too_big_message_split_in_halves(bind_zone: BindPair, provider: CountingProvider,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update_mod, "BUDGET", 10**9)  # the estimate lets everything into one message
    spec = make_spec(bulk(200, txt_bytes=300), slug="bulk")  # about 85 KB in one message
    report = provider.provider.apply(provider.provider.plan(spec, REQ, OPD), MemoryRecorder())
    assert provider.sent == len(report.details["parts"]) == 2  # TooBig, so halved once
    assert report.ok and len(report.applied) == 600


def test_later_part_fails_report_says_which_parts_applied(bind_factory: Callable[..., BindPair],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bind = bind_factory(options="    max-records-per-type 3;")
    monkeypatch.setattr(update_mod, "BUDGET", 1500)  # a few names per message
    records = bulk(12) + [{"name": "zz.bulk", "type": "A", "values": [f"203.0.113.{i}" for i in range(1, 5)]}]
    records += [{"name": f"zzz{i}.bulk", "type": "A", "values": ["203.0.113.9"]} for i in range(8)]
    p = DnsProvider(settings_for(bind))
    plan = p.plan(make_spec(records, slug="bulk"), REQ, OPD)
    rec = MemoryRecorder()
    with pytest.raises(DnsPartialApply) as e:
        p.apply(plan, rec)
    err = e.value
    assert err.exit_code == ExitCode.PARTIAL_APPLY
    parts = err.report.details["parts"]
    statuses = [x["status"] for x in parts]
    failed_at = statuses.index("failed")
    assert failed_at >= 1 and statuses[:failed_at] == ["sent"] * failed_at
    assert "zz.bulk.batam.test. A" in parts[failed_at]["changes"]
    assert "SERVFAIL" in parts[failed_at]["error"]
    assert f"{len(err.report.applied)} changes applied" in str(err)
    applied = [c.target for c in err.report.applied]
    assert applied == [t for x in parts[:failed_at] for t in x["changes"]]
    assert rec.outcomes("succeeded") == applied  # the audit log agrees with the report
    assert rec.outcomes("failed") == parts[failed_at]["changes"]
    never = [c.target for c in err.report.not_attempted]
    assert never and not set(never) & set(rec.outcomes("attempted"))
    assert dig(bind.primary_addr, "n0000.bulk.batam.test") == ["203.0.113.1"]
    assert dig(bind.primary_addr, "zz.bulk.batam.test") == [] and dig(bind.primary_addr, "zzz7.bulk.batam.test") == []


def test_writer_between_parts_stops_the_apply(bind_zone: BindPair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update_mod, "BUDGET", 1500)
    cp = CountingProvider(settings_for(bind_zone))
    t = cp.provider.transport
    sent = t.send_update

    def then_someone_else(msg: Any, what: str) -> None:
        sent(msg, what)
        nsupdate(bind_zone, "update add intruder.batam.test. 300 IN A 203.0.113.200")

    t.send_update = then_someone_else  # type: ignore[method-assign]
    plan = cp.provider.plan(make_spec(bulk(12), slug="bulk"), REQ, OPD)
    with pytest.raises(DnsPartialApply) as e:
        cp.provider.apply(plan, MemoryRecorder())
    parts = e.value.report.details["parts"]
    assert parts[0]["status"] == "sent" and len(parts) >= 2
    assert [x["status"] for x in parts[1:]] == ["not attempted"] * (len(parts) - 1)
    assert "the zone changed during the apply" in str(e.value)
    assert [c.target for c in e.value.report.applied] == parts[0]["changes"]
    assert len(e.value.report.not_attempted) == plan.count("create") - len(parts[0]["changes"])


def test_noerror_without_effect_caught_by_read_back(bind_zone: BindPair, monkeypatch: pytest.MonkeyPatch) -> None:
    real_build = provider_mod.build

    def drop_the_a_record(msg: Any, groups: Any, soa: Any, origin: Any, prefix: str) -> Any:
        m = real_build(msg, groups, soa, origin, prefix)
        m.update = [rr for rr in m.update if rr.rdtype != 1]  # the server never sees the A record
        return m

    monkeypatch.setattr(provider_mod, "build", drop_the_a_record)
    p = DnsProvider(settings_for(bind_zone))
    plan = p.plan(make_spec([{"name": "sisekolah", "type": "A", "values": ["203.0.113.50"]}]), REQ, OPD)
    rec = MemoryRecorder()
    with pytest.raises(DnsPartialApply) as e:
        p.apply(plan, rec)
    assert "the server answered NOERROR but the zone does not hold 1 of the changes" in str(e.value)
    assert [c.target for c, _ in e.value.report.failed] == ["sisekolah.batam.test. A"]
    assert rec.outcomes("failed") == ["sisekolah.batam.test. A"]
    assert "read back from the primary: sisekolah.batam.test. A holds nothing" in rec.events[-1][3] or any(
        "holds nothing" in r for o, _, _, r in rec.events if o == "failed")


def test_batching_recorder_gets_one_call_per_message(bind_zone: BindPair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update_mod, "BUDGET", 1500)

    class Batching(MemoryRecorder):
        calls: list[tuple[str, int]] = []

        def attempt_many(self, provider: str, changes: list) -> list[int]:
            self.calls.append(("attempt", len(changes)))
            return [self.attempt(provider, c) for c in changes]

        def succeeded_many(self, provider: str, items: list) -> None:
            self.calls.append(("succeeded", len(items)))
            for i, c, detail in items:
                self.succeeded(i, provider, c, detail)

    rec = Batching()
    p = DnsProvider(settings_for(bind_zone))
    report = p.apply(p.plan(make_spec(bulk(12), slug="bulk"), REQ, OPD), rec)
    parts = report.details["parts"]
    assert len(parts) >= 2
    assert rec.calls == [("attempt", len(x["changes"])) for x in parts] + [("succeeded", 24)]
    assert rec.outcomes("succeeded") == [c.target for c in report.applied]


def test_ixfr_answer_in_axfr_form_is_read_as_the_whole_zone() -> None:
    import dns.name
    import dns.rdata
    import dns.rdatatype

    from provision.dns.records import RRset
    from provision.dns.verify import changed_state
    SOA, A = dns.rdatatype.SOA, dns.rdatatype.A
    z = dns.name.from_text("batam.test.")
    soa = dns.rdata.from_text("IN", "SOA", "ns1.batam.test. h.batam.test. 7 1 1 1 1")
    a = dns.name.from_text("a", z)
    rd1 = dns.rdata.from_text("IN", "A", "192.0.2.1")
    rd2 = dns.rdata.from_text("IN", "A", "192.0.2.2")
    key = (a, dns.rdatatype.A)
    before = {key: RRset(300, frozenset({rd1}))}
    full = [(z, SOA, 300, soa), (a, A, 300, rd2), (z, SOA, 300, soa)]
    assert changed_state(full, before) == (7, {key: RRset(300, frozenset({rd2}))})
    old_soa = dns.rdata.from_text("IN", "SOA", "ns1.batam.test. h.batam.test. 6 1 1 1 1")
    incremental = [(z, SOA, 300, soa), (z, SOA, 300, old_soa), (a, A, 300, rd1), (z, SOA, 300, soa),
                   (a, A, 600, rd2), (z, SOA, 300, soa)]
    assert changed_state(incremental, before) == (7, {key: RRset(600, frozenset({rd2}))})
    assert changed_state([(z, SOA, 300, soa)], before) == (7, before)  # no change since
