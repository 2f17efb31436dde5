"""Validation of a spec's DNS records against the configuration, before any network I/O.

The spec already checked names (RFC 1035/1123, IDNA 2008), types, duplicates and CNAME
beside other data when it was loaded; `spec.check_record_values` adds the checks that
depend on configuration (private addresses, CNAME targets outside the zone). This module
adds what only the DNS provider knows: the zone is configured, TTL bounds from
`dns.ttl_min/ttl_max`, the reserved-name list, names that would forge an ownership
record, BIND's 100-records-per-RRset limit, and that every value becomes wire data.
It returns the wanted record sets; it raises ValidationError with every problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import dns.name
import dns.rdatatype

from provision import names
from provision.config import Dns as DnsSettings
from provision.dns.records import MAX_RECORDS_PER_RRSET, Key, RRset, make_rdata
from provision.errors import ConfigError, Problem, ValidationError


class RecordLike(Protocol):
    name: str
    type: str
    ttl: int
    values: list[str]


def zone_name(settings: DnsSettings) -> dns.name.Name:
    """The configured zone as an absolute name; ConfigError if unset or malformed."""
    if not settings.zone:
        raise ConfigError("dns.zone is not set.", "Set dns.zone (e.g. batam.go.id) in provision.toml.")
    msg = names.check_hostname(settings.zone.rstrip(".") + ".", allow_idn=True)
    if msg:
        raise ConfigError(f"dns.zone {settings.zone!r}: {msg}.")
    return dns.name.from_text(names.to_ascii(settings.zone.rstrip(".")) + ".")


def _line(spec: Any, path: tuple[object, ...]) -> int | None:
    line_of = getattr(spec, "line_of", None)
    return line_of(path) if callable(line_of) else None


def check_records(records: Iterable[RecordLike], settings: DnsSettings, origin: dns.name.Name,
                  reserved: Iterable[str] | None = None, spec: Any = None) -> tuple[dict[Key, RRset], list[Problem]]:
    """(wanted record sets, problems) for a list of records relative to `origin`."""
    reserved_set = {r.lower() for r in (names.DEFAULT_RESERVED if reserved is None else reserved)}
    prefix = settings.ownership_prefix.lower()
    wanted: dict[Key, RRset] = {}
    problems: list[Problem] = []
    for i, rec in enumerate(records):
        base = ("dns", "records", i)
        field = f"dns.records[{i}]"

        def add(sub: str, msg: str, path: tuple[object, ...] = base) -> None:
            problems.append(Problem(f"{field}.{sub}", msg, _line(spec, path + (sub,))))  # noqa: B023 - called in the same iteration

        if rec.name in ("@", "") or rec.name.endswith("."):
            add("name", f"{rec.name!r}: give a name relative to the zone (apex and absolute names are refused)")
            continue
        msg = names.check_hostname(rec.name, allow_underscore=rec.type in ("TXT", "CNAME"))
        if msg:
            add("name", msg)
            continue
        ascii_name = names.to_ascii(rec.name).lower()
        labels = ascii_name.split(".")
        if any(label.startswith(prefix) or label.startswith("_provision") for label in labels):
            add("name", f"{rec.name!r}: labels starting with {prefix!r} are the toolkit's ownership "
                        "records and cannot be set by a spec")
        top = labels[-1]
        if top in reserved_set:
            add("name", f"{top!r} is reserved (dns names.reserved list): pick another subdomain")
        try:
            name = dns.name.from_text(ascii_name, origin=origin)
        except dns.exception.DNSException as e:
            add("name", f"{rec.name!r} is not a valid name under {origin}: {e}")
            continue
        if not settings.ttl_min <= rec.ttl <= settings.ttl_max:
            add("ttl", f"{rec.ttl} is outside the configured bounds {settings.ttl_min}..{settings.ttl_max}")
        if len(rec.values) > MAX_RECORDS_PER_RRSET:
            add("values", f"{len(rec.values)} values: BIND refuses more than {MAX_RECORDS_PER_RRSET} "
                          "records in one record set (max-records-per-type)")
        try:
            rdtype = dns.rdatatype.from_text(rec.type)
        except dns.exception.DNSException:
            add("type", f"unknown record type {rec.type!r}")
            continue
        rdatas = set()
        for j, value in enumerate(rec.values):
            try:
                rdatas.add(make_rdata(rec.type, value, origin))
            except ValueError as e:
                problems.append(Problem(f"{field}.values[{j}]", f"{value!r} is not a valid {rec.type} value: {e}",
                                        _line(spec, base + ("values", j))))
        if (name, rdtype) in wanted:
            add("type", f"a second {rec.type} record at {rec.name!r}: put all values in one record")
        wanted[(name, rdtype)] = RRset(rec.ttl, frozenset(rdatas))
    by_name: dict[dns.name.Name, set[int]] = {}
    for name, rdtype in wanted:
        by_name.setdefault(name, set()).add(rdtype)
    for name, types in by_name.items():
        if dns.rdatatype.CNAME in types and len(types) > 1:
            problems.append(Problem("dns.records", f"a CNAME at {name} cannot sit beside other data"))
    return wanted, problems


def validate_spec(spec: Any, settings: DnsSettings, reserved: Iterable[str] | None = None) -> dict[Key, RRset]:
    """The wanted record sets of a spec, or ValidationError with every problem found.

    Uses only the spec and the configuration: no network I/O.
    """
    origin = zone_name(settings)
    problems: list[Problem] = []
    try:
        from provision.spec import check_record_values
    except ImportError:  # pragma: no cover - spec.py is part of the package
        check_record_values = None  # type: ignore[assignment]
    if check_record_values is not None and hasattr(spec, "dns") and hasattr(spec, "line_of"):
        problems += check_record_values(spec, settings.allow_private_addresses,
                                        list(settings.cname_suffixes), origin.to_text())
    wanted, more = check_records(spec.dns.records, settings, origin, reserved, spec)
    seen = {(p.field, p.message) for p in problems}
    problems += [p for p in more if (p.field, p.message) not in seen]
    if problems:
        raise ValidationError(problems, "DNS records")
    return wanted
