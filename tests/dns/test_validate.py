"""Validation before any network I/O: the provider below points at nothing and has no key
file, so reaching the network would raise Unreachable or SecretError instead."""

from __future__ import annotations

from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import pytest

from provision.config import Dns
from provision.dns import DnsProvider
from provision.dns.records import owner_rdata, parse_owner, txt_from_text
from provision.dns.validate import validate_spec
from provision.errors import ExitCode, ValidationError
from tests.dns.conftest import OPD, REQ, make_spec

ZONE = dns.name.from_text("batam.test.")


def settings(**over: Any) -> Dns:
    base: dict[str, Any] = dict(zone="batam.test", primary="127.0.0.1:9", tsig_key_file="/nonexistent/key")
    base.update(over)
    return Dns(**base)


def problems(records: list[dict[str, Any]], **over: Any) -> str:
    with pytest.raises(ValidationError) as e:
        DnsProvider(settings(**over)).plan(make_spec(records), REQ, OPD)
    assert e.value.exit_code == ExitCode.USAGE
    return str(e.value)


@pytest.mark.parametrize("value, fragment", [
    ("10.1.2.3", "not a public address"),
    ("127.0.0.1", "not a public address"),
    ("169.254.1.1", "not a public address"),
    ("203.0.113.5", "not a public address"),  # documentation range
])
def test_private_addresses_refused_unless_allowed(value: str, fragment: str) -> None:
    assert fragment in problems([{"name": "sisekolah", "type": "A", "values": [value]}])
    wanted = validate_spec(make_spec([{"name": "sisekolah", "type": "A", "values": [value]}]),
                           settings(allow_private_addresses=True))
    assert [r.to_text() for r in wanted[(dns.name.from_text("sisekolah", ZONE), dns.rdatatype.A)].rdatas] == [value]


def test_cname_target_outside_zone_only_under_configured_suffix() -> None:
    rec = [{"name": "sisekolah", "type": "CNAME", "values": ["apps.cdn.example.net."]}]
    assert "outside batam.test and the allowed CNAME suffixes" in problems(rec)
    wanted = validate_spec(make_spec(rec), settings(cname_suffixes=["cdn.example.net"]))
    (rrset,) = wanted.values()
    assert [r.to_text() for r in rrset.rdatas] == ["apps.cdn.example.net."]


def test_ttl_bounds_from_configuration() -> None:
    msg = problems([{"name": "sisekolah", "type": "A", "ttl": 120, "values": ["8.8.8.8"]}], ttl_min=300)
    assert "dns.records[0].ttl" in msg and "120 is outside the configured bounds 300..86400" in msg


def test_more_than_100_values_refused() -> None:
    values = [f"8.8.{i // 200}.{i % 200 + 1}" for i in range(101)]
    assert "BIND refuses more than 100 records in one record set" in problems(
        [{"name": "sisekolah", "type": "A", "values": values}])


def test_every_problem_reported_at_once() -> None:
    msg = problems([{"name": "sisekolah", "type": "A", "ttl": 120, "values": ["10.0.0.1"]},
                    {"name": "_provision-owner.sisekolah", "type": "TXT", "values": ["forged"]}], ttl_min=300)
    assert "(3 problems)" in msg
    assert "ownership records and cannot be set" in msg and "not a public address" in msg
    assert "120 is outside the configured bounds" in msg


def test_idn_name_converted_to_a_label() -> None:
    spec = make_spec([{"name": "sekolah.pendidikan", "type": "A", "values": ["8.8.8.8"]}], slug="pendidikan")
    wanted = validate_spec(spec, settings())
    assert list(wanted)[0][0].to_text() == "sekolah.pendidikan.batam.test."
    spec = make_spec([{"name": "bücher.pendidikan", "type": "A", "values": ["8.8.8.8"]}], slug="pendidikan")
    wanted = validate_spec(spec, settings())
    assert list(wanted)[0][0].to_text() == "xn--bcher-kva.pendidikan.batam.test."


def test_txt_is_bytes_in_255_byte_strings_never_zone_text() -> None:
    rd = txt_from_text("v=DKIM1; k=rsa; p=" + "A" * 400)
    assert [len(s) for s in rd.strings] == [255, 163]
    assert b"".join(rd.strings).startswith(b"v=DKIM1; k=rsa; p=AAA")
    assert txt_from_text("café").strings == (b"caf\xc3\xa9",)


def test_ownership_record_round_trip() -> None:
    rd = owner_rdata("REQ-2026-0001", "Dinas Pendidikan dan Kebudayaan", frozenset({dns.rdatatype.A, dns.rdatatype.TXT}))
    owner = parse_owner(frozenset({rd}))
    assert owner.valid and owner.request_id == "REQ-2026-0001" and owner.opd == "Dinas Pendidikan dan Kebudayaan"
    assert owner.types == frozenset({dns.rdatatype.A, dns.rdatatype.TXT})
    assert not parse_owner(frozenset({txt_from_text("request=REQ-2026-0001")})).valid  # no heritage marker


def test_ownership_record_is_one_string_of_at_most_255_bytes() -> None:
    rd = owner_rdata("REQ-2026-0001", "Dinas Pendidikan", frozenset({dns.rdatatype.A, dns.rdatatype.TXT}))
    assert rd.strings == (b"kominfo-provision request=REQ-2026-0001 types=A,TXT opd=Dinas Pendidikan",)
    long_opd = "Dinas Kependudukan dan Pencatatan Sipil " + "é" * 200  # cut on a character boundary
    rd = owner_rdata("REQ-2026-0002", long_opd, frozenset({dns.rdatatype.CNAME}))
    assert len(rd.strings) == 1 and len(rd.strings[0]) <= 255
    owner = parse_owner(frozenset({rd}))
    assert owner.valid and owner.request_id == "REQ-2026-0002" and long_opd.startswith(owner.opd)
    assert len(owner.opd) > 40 and owner.types == frozenset({dns.rdatatype.CNAME})


def test_old_multi_string_ownership_record_read_as_is_and_joined() -> None:
    from dns.rdtypes.ANY.TXT import TXT
    old = [b"kominfo-provision", b"request=REQ-2026-0001", b"opd=Dinas Pendidikan", b"types=A,TXT"]
    for strings in (old, [b"".join(old)], [b"".join(old)[:20], b"".join(old)[20:]]):  # as written, joined, re-chunked
        rd = TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)
        owner = parse_owner(frozenset({rd}))
        assert owner.valid, strings
        assert (owner.request_id, owner.opd) == ("REQ-2026-0001", "Dinas Pendidikan"), strings
        assert owner.types == frozenset({dns.rdatatype.A, dns.rdatatype.TXT}), strings
    for bad in ([b"kominfo-provision"], [b"kominfo-provision opd=X"], [b"kominfo-provisionX"],
                [b"kominfo-provision request=REQ-1 types=NOPE opd=X"]):
        assert not parse_owner(frozenset({TXT(dns.rdataclass.IN, dns.rdatatype.TXT, bad)})).valid, bad


def test_zone_must_be_configured() -> None:
    from provision.errors import ConfigError
    with pytest.raises(ConfigError, match="dns.zone is not set"):
        DnsProvider(Dns())


def test_default_servers_are_the_zone_ns_set_from_its_glue() -> None:
    import dns.zone

    from provision.dns.verify import default_servers
    from provision.dns.zone import ZoneState
    text = ("$ORIGIN batam.test.\n@ 300 IN SOA ns1 h 1 1 1 1 1\n@ 300 IN NS ns1\n@ 300 IN NS ns2\n"
            "ns1 300 IN A 127.0.0.53\nns1 300 IN AAAA ::1\nns2 300 IN A 127.0.0.54\n")
    state = ZoneState.from_zone(dns.zone.from_text(text, relativize=False), "_provision-owner")
    servers = default_servers(state)
    # from the zone's own glue: no resolver is asked
    assert servers == [("127.0.0.53", 53), ("::1", 53), ("127.0.0.54", 53)]
