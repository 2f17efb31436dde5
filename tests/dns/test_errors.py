"""Every DNS failure against a real BIND: its own message, its exit code, nothing half-applied,
and a failed audit event with the reason."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.name
import dns.update
import pytest

from devstack.sandbox import free_port
from devstack.sandbox.bind import BindPair
from provision.dns import DnsProvider
from provision.dns.errors import (
    DnsTimeout,
    DnsUnreachable,
    NotAuthoritative,
    NotZone,
    PrerequisiteFailed,
    ServerFailure,
    TsigBadKey,
    TsigBadSignature,
    UpdateRefused,
    ZoneChanged,
)
from provision.errors import ExitCode, SecretError
from tests.dns.conftest import (
    OPD,
    REQ,
    ZONE,
    CountingProvider,
    MemoryRecorder,
    checked_zone,
    dig,
    make_spec,
    nsupdate,
    settings_for,
)

SPEC = [{"name": "sisekolah", "type": "A", "values": ["203.0.113.50"]}]


def key_file(tmp_path: Path, name: str, secret: str) -> str:
    p = tmp_path / f"{name}.key"
    p.write_text(f'key "{name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n')
    p.chmod(0o600)
    return str(p)


WRONG_SECRET = "c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1zZXJ2ZXJzLW9uZQ=="


def test_wrong_secret_is_badsig(bind_zone: BindPair, tmp_path: Path) -> None:
    p = DnsProvider(settings_for(bind_zone, tsig_key_file=key_file(tmp_path, "provision-key", WRONG_SECRET)))
    with pytest.raises(TsigBadSignature) as e:
        p.plan(make_spec(SPEC), REQ, OPD)
    assert e.value.exit_code == ExitCode.AUTH
    assert "rejected the TSIG signature (BADSIG)" in str(e.value)


def test_unknown_key_is_badkey(bind_zone: BindPair, tmp_path: Path) -> None:
    p = DnsProvider(settings_for(bind_zone, tsig_key_file=key_file(tmp_path, "nobody-key", WRONG_SECRET)))
    with pytest.raises(TsigBadKey) as e:
        p.plan(make_spec(SPEC), REQ, OPD)
    assert e.value.exit_code == ExitCode.AUTH
    assert "does not know the TSIG key (BADKEY)" in str(e.value)


def test_update_with_wrong_secret_records_failure_and_changes_nothing(bind_zone: BindPair, tmp_path: Path) -> None:
    good = DnsProvider(settings_for(bind_zone))
    plan = good.plan(make_spec(SPEC), REQ, OPD)
    bad = DnsProvider(settings_for(bind_zone, tsig_key_file=key_file(tmp_path, "provision-key", WRONG_SECRET)))
    rec = MemoryRecorder()
    with pytest.raises(TsigBadSignature):
        bad.apply(plan, rec)
    assert rec.outcomes("attempted") == rec.outcomes("failed") == [c.target for c in plan.changes]
    assert all("BADSIG" in reason for o, _, _, reason in rec.events if o == "failed")
    assert dig(bind_zone.primary_addr, "sisekolah.batam.test") == []


def test_key_file_readable_by_others_refused(bind_zone: BindPair, tmp_path: Path) -> None:
    path = key_file(tmp_path, "provision-key", WRONG_SECRET)
    Path(path).chmod(0o644)
    with pytest.raises(SecretError, match="readable or writable by group or others"):
        DnsProvider(settings_for(bind_zone, tsig_key_file=path)).plan(make_spec(SPEC), REQ, OPD)


def test_unreachable_port(bind_zone: BindPair) -> None:
    p = DnsProvider(settings_for(bind_zone, primary=f"127.0.0.1:{free_port()}"))
    with pytest.raises(DnsUnreachable) as e:
        p.plan(make_spec(SPEC), REQ, OPD)
    assert e.value.exit_code == ExitCode.UNREACHABLE
    assert "refused the connection (nothing listens there)" in str(e.value)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP listener on 127.0.0.1 that accepts and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        s.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"127.0.0.1:{s.getsockname()[1]}"
    stop.set()
    t.join()
    for c in held:
        c.close()
    s.close()


def test_timeout(bind_zone: BindPair, silent_server: str) -> None:
    p = DnsProvider(settings_for(bind_zone, primary=silent_server, timeout=0.3))
    with pytest.raises(DnsTimeout) as e:
        p.plan(make_spec(SPEC), REQ, OPD)
    assert e.value.exit_code == ExitCode.UNREACHABLE
    assert "no answer from" in str(e.value) and "within the timeout" in str(e.value)


def test_refused_by_update_policy(bind_factory: Callable[..., BindPair]) -> None:
    bind = bind_factory(policy="grant provision-key zonesub A TXT;", secondary=False)
    p = DnsProvider(settings_for(bind))
    spec = make_spec([{"name": "sisekolah", "type": "AAAA", "values": ["2001:db8::1"]}])
    plan = p.plan(spec, REQ, OPD)
    rec = MemoryRecorder()
    with pytest.raises(UpdateRefused) as e:
        p.apply(plan, rec)
    assert e.value.exit_code == ExitCode.AUTH
    assert "(REFUSED): its policy does not allow this key" in str(e.value)
    assert len(rec.outcomes("failed")) == 2
    assert dig(bind.primary_addr, "_provision-owner.sisekolah.batam.test", "TXT") == []  # atomic


def test_notauth_for_a_zone_the_server_does_not_serve(bind_zone: BindPair) -> None:
    p = DnsProvider(settings_for(bind_zone, zone="kota-lain.test."))
    with pytest.raises(NotAuthoritative) as e:
        p.plan(make_spec(SPEC), REQ, OPD)
    assert e.value.exit_code == ExitCode.USAGE
    assert "is not authoritative for kota-lain.test. (NOTAUTH)" in str(e.value)


def test_notzone_for_a_name_outside_the_zone(bind_zone: BindPair) -> None:
    t = DnsProvider(settings_for(bind_zone)).transport
    msg = t.new_update()
    msg.add(dns.name.from_text("elsewhere.example."), 300, "A", "192.0.2.1")
    with pytest.raises(NotZone) as e:
        t.send_update(msg, "test update")
    assert e.value.exit_code == ExitCode.USAGE and "(NOTZONE)" in str(e.value)


def test_servfail_from_bind_limits(bind_factory: Callable[..., BindPair]) -> None:
    bind = bind_factory(options="    max-records-per-type 3;", secondary=False)
    p = DnsProvider(settings_for(bind))
    spec = make_spec([{"name": "sisekolah", "type": "A", "values": [f"203.0.113.{i}" for i in range(1, 5)]}])
    rec = MemoryRecorder()
    with pytest.raises(ServerFailure) as e:
        p.apply(p.plan(spec, REQ, OPD), rec)
    assert e.value.exit_code == ExitCode.FAILURE and "(SERVFAIL); nothing in that message was applied" in str(e.value)
    assert dig(bind.primary_addr, "sisekolah.batam.test") == []
    assert rec.outcomes("succeeded") == []


def test_prerequisite_yxdomain_and_nxrrset_mapped(bind_zone: BindPair) -> None:
    t = DnsProvider(settings_for(bind_zone)).transport
    msg = t.new_update()
    msg.absent(dns.name.from_text("www", dns.name.from_text(ZONE)))
    with pytest.raises(PrerequisiteFailed, match=r"expected to be absent now exists \(YXDOMAIN\)") as e:
        t.send_update(msg, "test update")
    assert e.value.exit_code == ExitCode.CONFLICT
    msg = t.new_update()
    msg.present(dns.name.from_text("www", dns.name.from_text(ZONE)), "A", "203.0.113.11")
    with pytest.raises(PrerequisiteFailed, match=r"exact values the plan was made against \(NXRRSET\)"):
        t.send_update(msg, "test update")


def test_concurrent_writer_between_plan_and_apply(bind_zone: BindPair, provider: CountingProvider) -> None:
    plan = provider.provider.plan(make_spec(SPEC), REQ, OPD)
    nsupdate(bind_zone, "update add other.batam.test. 300 IN A 203.0.113.77")  # someone else, elsewhere
    rec = MemoryRecorder()
    with pytest.raises(ZoneChanged) as e:
        provider.provider.apply(plan, rec)
    assert e.value.exit_code == ExitCode.CONFLICT
    assert "changed since the plan (serial 2026010101, now 2026010102)" in str(e.value)
    assert "nothing was applied" in str(e.value) and "Run `provision dns plan` again" in str(e.value)
    assert rec.outcomes("failed") == [c.target for c in plan.changes]
    assert dig(bind_zone.primary_addr, "sisekolah.batam.test") == []
    replan = provider.provider.plan(make_spec(SPEC), REQ, OPD)
    assert provider.provider.apply(replan, MemoryRecorder()).ok
    assert dig(bind_zone.secondary_addr, "other.batam.test") == ["203.0.113.77"]
    checked_zone(bind_zone, bind_zone.secondary_addr)


def test_concurrent_writer_racing_for_the_same_name(bind_zone: BindPair, provider: CountingProvider) -> None:
    plan = provider.provider.plan(make_spec(SPEC), REQ, OPD)
    nsupdate(bind_zone, "update add sisekolah.batam.test. 300 IN A 203.0.113.66")
    with pytest.raises(ZoneChanged):
        provider.provider.apply(plan, MemoryRecorder())
    assert dig(bind_zone.primary_addr, "sisekolah.batam.test") == ["203.0.113.66"]  # theirs, untouched
    from provision.dns.errors import NotOwned
    with pytest.raises(NotOwned, match="made by hand"):
        provider.provider.plan(make_spec(SPEC), REQ, OPD)


def test_secondary_not_serving_fails_verification_per_server(bind_zone: BindPair) -> None:
    from provision.dns import VerificationFailed
    assert bind_zone.secondary is not None
    bind_zone.secondary.stop()
    p = DnsProvider(settings_for(bind_zone, verify_timeout=1.0, timeout=0.3))
    with pytest.raises(VerificationFailed) as e:
        p.apply(p.plan(make_spec(SPEC), REQ, OPD), MemoryRecorder())
    assert e.value.exit_code == ExitCode.CHECKS_FAILED
    assert "1 of 2 authoritative servers do not serve serial 2026010102" in str(e.value)
    ver = {v["server"]: v for v in e.value.report.details["verification"]}
    assert ver[bind_zone.primary_addr]["ok"] is True
    assert ver[bind_zone.secondary_addr]["ok"] is False and "refused the connection" in ver[bind_zone.secondary_addr]["error"]
    assert e.value.report.ok  # applied and read back: only verification failed


def test_verification_progress_is_reported_at_most_once_a_second(bind_zone: BindPair) -> None:
    from provision.dns import VerificationFailed
    assert bind_zone.secondary is not None
    bind_zone.secondary.stop()
    lines: list[str] = []
    p = DnsProvider(settings_for(bind_zone, verify_timeout=2.5, timeout=0.3))
    with pytest.raises(VerificationFailed):
        p.apply(p.plan(make_spec(SPEC), REQ, OPD), MemoryRecorder(), progress=lines.append)
    waits = [x for x in lines if x.startswith(bind_zone.secondary_addr)]
    assert 1 <= len(waits) <= 4, lines  # 2.5 s of polling every 50 ms, reported once a second
    assert "refused the connection" in waits[0]
    assert lines[0] == "update part 1 of 1: 2 changes sent"


def test_update_without_answer_is_settled_by_the_read_back(bind_zone: BindPair) -> None:
    p = DnsProvider(settings_for(bind_zone))
    t = p.transport
    real = t.send_update

    def applied_but_answer_lost(msg: object, what: str) -> None:
        real(msg, what)  # type: ignore[arg-type]
        raise DnsTimeout(f"{what}: no answer from {t.primary_text} within the timeout.")

    t.send_update = applied_but_answer_lost  # type: ignore[method-assign]
    rec = MemoryRecorder()
    report = p.apply(p.plan(make_spec(SPEC), REQ, OPD), rec)
    assert report.ok and "no answer" in report.details["timeout"]
    assert report.details["parts"][0]["status"] == "no answer: outcome read back"
    assert rec.outcomes("succeeded") == ["sisekolah.batam.test. A", "_provision-owner.sisekolah.batam.test. TXT"]

    def lost_before_applied(msg: object, what: str) -> None:
        raise DnsTimeout(f"{what}: no answer from {t.primary_text} within the timeout.")

    t.send_update = lost_before_applied  # type: ignore[method-assign]
    spec = make_spec([{"name": "sisekolah", "type": "A", "values": ["203.0.113.51"]}])
    rec = MemoryRecorder()
    with pytest.raises(DnsTimeout):
        p.apply(p.plan(spec, REQ, OPD), rec)
    assert rec.outcomes("failed") == ["sisekolah.batam.test. A"]  # the only change: an update
    assert any("read back from the primary" in r for o, _, _, r in rec.events if o == "failed")
    assert dig(bind_zone.primary_addr, "sisekolah.batam.test") == ["203.0.113.50"]
