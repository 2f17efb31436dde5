"""DNS checks against a BIND primary and secondary: records as recorded on every server,
records changed by hand, dangling CNAMEs and A records, names nobody owns, and the
allow-list: a record pointing outside it is never probed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.sandbox.bind import BindPair
from tests.checks.env import by, open_request, register, spec_dict, write_config
from tests.dns.conftest import ZONE, nsupdate
from tests.helpers import run_cli

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture
def web_port() -> Iterator[int]:
    """A TCP listener on 127.0.0.1: the 'web server' an A record of ours points at."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection the checks open (still made), by address."""
    seen: list[tuple[str, int]] = []
    real = socket.create_connection

    def spy(address: tuple[str, int], *a: object, **kw: object) -> socket.socket:
        seen.append((address[0], address[1]))
        return real(address, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", spy)
    return seen


def configure(home: Path, bind: BindPair, web_port: int, **checks: object) -> None:
    inv = home / "inventory.yml"
    inv.write_text("all:\n  hosts:\n    web1:\n      provision_addresses: ['127.0.0.1']\n")
    known = home / "known_hosts"  # an inventory always comes with pinned host keys (none needed here)
    known.write_text("")
    write_config(home,
                 dns={"zone": ZONE, "primary": bind.primary_addr, "tsig_key_file": str(bind.client_key_file),
                      "verify_servers": bind.servers, "timeout": 2.0, "verify_timeout": 10.0,
                      "allow_private_addresses": True},
                 hosting={"inventory": str(inv), "known_hosts": str(known)},
                 checks={"probe_ports": [web_port], "probe_timeout": 0.5, "timeout": 8.0, **checks})


def apps(home: Path) -> tuple[str, str]:
    """Two requests with their records applied: sisekolah (A + a CNAME to arsip) and arsip (A)."""
    a = open_request(home, spec_dict("sisekolah", [
        {"name": "sisekolah", "type": "A", "values": ["127.0.0.1"]},
        {"name": "www.sisekolah", "type": "CNAME", "values": ["arsip"]}]))
    b = open_request(home, spec_dict("arsip", [{"name": "arsip", "type": "A", "values": ["127.0.0.1"]}]))
    from provision.context import App
    from provision.dns import DnsProvider

    app = App()  # the provider itself: `dns apply` now waits for a tested install (production gate)
    provider = DnsProvider.from_config(app.config)
    for rid, slug in ((a, "sisekolah"), (b, "arsip")):
        report = provider.apply(provider.plan(app.specs.get(rid), rid, "Dinas Pendidikan"), app.audit)
        assert not report.failed, report.failed
        register(rid, "web1", f"{slug}.batam.test")
    app.store.dispose()
    return a, b


def check_dns(*extra: str) -> tuple[int, list[dict], str]:
    r = run_cli("check", "--only", "dns", "--json", *extra)
    assert r.exit_code in (0, 3), r
    return r.exit_code, r.json["results"], r.stderr


def wait_secondary(bind: BindPair) -> None:
    serial = bind.soa_serial(int(bind.primary_addr.rsplit(":", 1)[1]))
    assert serial is not None
    bind.wait_secondary(serial)


def test_clean_zone_passes_and_hand_records_are_listed_not_probed(
        provision_home: Path, bind_zone: BindPair, web_port: int, connects: list) -> None:
    configure(provision_home, bind_zone, web_port)
    a, b = apps(provision_home)
    code, results, _ = check_dns()
    assert code == 0
    for rid in (a, b):
        for server in bind_zone.servers:
            [r] = by(results, request=rid, name=f"served by {server}")
            assert r["status"] == "pass" and "record sets as recorded" in r["message"], r
        assert by(results, request=rid, name="ownership")[0]["status"] == "pass"
    assert by(results, request=a, name="sisekolah.batam.test points to web1")[0]["message"] == "127.0.0.1"
    assert by(results, request=a, name="record sisekolah.batam.test. A 127.0.0.1")[0]["message"] == \
        f"inventory host web1 answers on TCP {web_port}"
    assert by(results, request=a, name="record www.sisekolah.batam.test. CNAME arsip.batam.test.")[0]["message"] \
        == "resolves to 127.0.0.1"
    # The hand-made names of the zone: listed as owned by nobody, never failed.
    unowned = {r["name"] for r in results if r["message"].startswith("no request owns this name")}
    assert unowned == {f"name {n}.batam.test." for n in ("www", "mail", "hand", "portal", "lama")}
    assert all(r["request"] is None and r["status"] == "warn" for r in results if r["name"] in unowned)
    # 203.0.113.x is outside checks.probe_networks: reported, and no packet sent to it.
    [www] = by(results, name="record www.batam.test. A 203.0.113.10")
    assert www["status"] == "warn"
    assert www["message"] == ("not an inventory host; 203.0.113.10 is outside checks.probe_networks "
                              "(127.0.0.0/8, ::1/128): not probed")
    assert not [c for c in connects if not c[0].startswith("127.")], connects
    assert ("127.0.0.1", web_port) in connects
    assert not [r for r in results if r["status"] == "fail"]


def test_record_changed_by_hand_and_dangling_records(
        provision_home: Path, bind_zone: BindPair, web_port: int) -> None:
    configure(provision_home, bind_zone, web_port)
    a, b = apps(provision_home)
    # Someone points sisekolah elsewhere by hand, and removes arsip's address.
    nsupdate(bind_zone, "update delete sisekolah.batam.test. A\nupdate add sisekolah.batam.test. 3600 A 127.0.0.66\n"
                        "update delete arsip.batam.test. A")
    wait_secondary(bind_zone)
    start = time.monotonic()
    code, results, err = check_dns()
    assert time.monotonic() - start < 8
    assert code == 3 and "checks failed" in err
    for server in bind_zone.servers:
        [r] = by(results, request=a, name=f"served by {server}")
        assert r["status"] == "fail"
        assert ("sisekolah.batam.test. A is ['127.0.0.66'] ttl 3600 instead of ['127.0.0.1'] ttl 3600"
                in r["message"]), r
        [r] = by(results, request=b, name=f"served by {server}")
        assert r["status"] == "fail" and "arsip.batam.test. A is missing (want ['127.0.0.1'] ttl 3600)" in r["message"]
    [r] = by(results, request=a, name="sisekolah.batam.test points to web1")
    assert r["status"] == "fail" and r["message"] == "sisekolah.batam.test points to 127.0.0.66, not to its host web1 (127.0.0.1)"
    [r] = by(results, request=b, name="arsip.batam.test points to web1")
    assert r["status"] == "fail"
    assert r["message"] == "arsip.batam.test has no address in the zone (the registry says it is hosted on web1)"
    [r] = by(results, name="record sisekolah.batam.test. A 127.0.0.66")
    assert (r["status"], r["request"]) == ("fail", a)
    assert r["message"] == f"dangling: 127.0.0.66 is not an inventory host and does not answer on TCP {web_port}"
    [r] = by(results, name="record www.sisekolah.batam.test. CNAME arsip.batam.test.")
    assert (r["status"], r["request"]) == ("fail", a)
    assert r["message"] == "dangling: arsip.batam.test. does not resolve in the zone (no A/AAAA at the end of the chain)"
    # Each failure is in the audit log against its request.
    events = run_cli("audit", "log", a, "--json").json
    failed = [e for e in events if e["provider"] == "check" and e["outcome"] == "failed"]
    assert any("127.0.0.66" in (e["reason"] or "") for e in failed), failed


def test_cname_outside_the_zone_same_organisation_and_resolvers(
        provision_home: Path, bind_zone: BindPair, web_port: int) -> None:
    configure(provision_home, bind_zone, web_port)
    nsupdate(bind_zone, "update add ext.batam.test. 300 CNAME app.jakarta.go.id.")
    # No application is registered: a zone-only audit says so (--allow-empty), or exits 12.
    assert run_cli("check", "--only", "dns").exit_code == 12
    code, results, _ = check_dns("--allow-empty")
    [r] = by(results, name="record ext.batam.test. CNAME app.jakarta.go.id.")
    assert r["status"] == "warn" and r["request"] is None
    assert r["message"] == ("outside the zone and no checks.resolvers to resolve it with: not resolved; "
                            "app.jakarta.go.id. belongs to another organisation (jakarta.go.id, not batam.test)")
    # With the sandbox's own servers as the only resolvers: they do not serve it, so it dangles.
    configure(provision_home, bind_zone, web_port, resolvers=[bind_zone.secondary_addr])
    code, results, _ = check_dns("--allow-empty")
    [r] = by(results, name="record ext.batam.test. CNAME app.jakarta.go.id.")
    assert r["status"] == "fail" and code == 3
    assert r["message"].startswith("dangling: app.jakarta.go.id. does not resolve (REFUSED from ")


def test_dead_dns_server_reported_within_the_timeout(provision_home: Path, bind_zone: BindPair,
                                                     web_port: int) -> None:
    configure(provision_home, bind_zone, web_port, timeout=2.0)
    a, _ = apps(provision_home)
    # A server that accepts connections and never answers.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        dead = f"127.0.0.1:{s.getsockname()[1]}"
        servers = bind_zone.servers + [dead]
        configure(provision_home, bind_zone, web_port, timeout=2.0)
        text = (provision_home / "provision.toml").read_text()
        (provision_home / "provision.toml").write_text(text.replace(
            f"verify_servers = {str(bind_zone.servers).replace(chr(39), chr(34))}",
            "verify_servers = [" + ", ".join(f'"{x}"' for x in servers) + "]"))
        start = time.monotonic()
        code, results, _ = check_dns()
        elapsed = time.monotonic() - start
    assert code == 3
    assert elapsed < 6, elapsed
    [r] = by(results, request=a, name=f"served by {dead}")
    assert r["status"] == "fail"
    assert dead in r["message"] and ("did not answer within 2 s" in r["message"] or "timed out" in r["message"]), r
    assert by(results, request=a, name=f"served by {bind_zone.primary_addr}")[0]["status"] == "pass"
    assert 1.5 < r["duration"] < 3.5


def test_one_request_only_its_own_findings(provision_home: Path, bind_zone: BindPair, web_port: int) -> None:
    configure(provision_home, bind_zone, web_port)
    a, b = apps(provision_home)
    nsupdate(bind_zone, "update delete arsip.batam.test. A")
    r = run_cli("check", "--only", "dns", "--request", a, "--json")
    assert r.exit_code == 3 and "checks failed" in r.stderr, r
    results = r.json["results"]
    assert {x["request"] for x in results} == {a}
    assert not [x for x in results if "no active hosting" in x["message"]]
    [cname] = by(results, name="record www.sisekolah.batam.test. CNAME arsip.batam.test.")
    assert cname["status"] == "fail" and cname["message"].startswith("dangling: arsip.batam.test. does not resolve")
    r = run_cli("check", "--only", "dns", "--request", b, "--json")
    assert r.exit_code == 3 and {x["request"] for x in r.json["results"]} == {b}
    assert by(r.json["results"], name=f"served by {bind_zone.primary_addr}")[0]["message"].startswith(
        f"{bind_zone.primary_addr} (serial ")
