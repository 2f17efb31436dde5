"""Record sets as the provider compares them, ownership records, and their text forms.

An `RRset` here is (ttl, frozenset of dnspython Rdata): Rdata compare by their
canonical wire form, so "the same values" means the same bytes the server holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.TXT import TXT

HERITAGE = b"kominfo-provision"
TXT_CHUNK = 255
#: BIND 9.18 (since the CVE-2024-1737 fix) refuses an RRset of more than 100 records
#: (`max-records-per-type`): such an update gets SERVFAIL, whatever the message size.
MAX_RECORDS_PER_RRSET = 100

RdType = dns.rdatatype.RdataType
Key = tuple[dns.name.Name, RdType]  # (absolute owner name, rdtype)


@dataclass(frozen=True)
class RRset:
    ttl: int
    rdatas: frozenset[dns.rdata.Rdata]

    def same_values(self, other: RRset | None) -> bool:
        return other is not None and self.rdatas == other.rdatas

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RRset) and self.ttl == other.ttl and self.rdatas == other.rdatas

    def __hash__(self) -> int:
        return hash((self.ttl, self.rdatas))

    def as_json(self) -> dict[str, object]:
        return {"ttl": self.ttl, "values": sorted(value_text(r) for r in self.rdatas)}


def txt_from_text(value: str) -> TXT:
    """A TXT record from the value's UTF-8 bytes in strings of at most 255 bytes.

    Never parsed as zone-file text, which would drop everything after a ';'.
    """
    raw = value.encode("utf-8")
    chunks = [raw[i:i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]
    return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)


def txt_value(rdata: dns.rdata.Rdata) -> str:
    """The joined strings of a TXT record, decoded as UTF-8 (replacement for bad bytes)."""
    return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]


def value_text(rdata: dns.rdata.Rdata) -> str:
    """A record's value as shown in plans and the audit log (TXT as its joined text)."""
    if rdata.rdtype == dns.rdatatype.TXT:
        strings = rdata.strings  # type: ignore[attr-defined]
        if strings and strings[0] == HERITAGE:  # an ownership record: its fields apart
            return " ".join(s.decode("utf-8", "replace") for s in strings)
        return txt_value(rdata)
    return rdata.to_text()


def make_rdata(rtype: str, value: str, origin: dns.name.Name) -> dns.rdata.Rdata:
    """Rdata for one spec value. Names without a final dot are relative to the zone.

    Raises ValueError (with dnspython's reason) for a value that does not parse.
    """
    rdtype = dns.rdatatype.from_text(rtype)
    if rdtype == dns.rdatatype.TXT:
        return txt_from_text(value)
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=origin,
                                   relativize=False)
    except dns.exception.DNSException as e:
        raise ValueError(str(e) or type(e).__name__) from e


# ---- ownership ------------------------------------------------------------------------

@dataclass(frozen=True)
class Owner:
    """Who owns a name: the request ID and the OPD, from the TXT at the prefixed name."""

    request_id: str
    opd: str
    valid: bool = True  # False: a TXT is there but it is not ours to read
    types: frozenset[RdType] | None = None  # record types this request made at the name

    def describe(self) -> str:
        if not self.valid:
            return "an unreadable ownership record"
        return f"request {self.request_id} ({self.opd})" if self.opd else f"request {self.request_id}"


def owner_name(name: dns.name.Name, prefix: str) -> dns.name.Name:
    """`_provision-owner.<name>`: a different name, so it never sits beside a CNAME."""
    return dns.name.Name((prefix.encode("ascii"),) + name.labels)


def is_owner_name(name: dns.name.Name, prefix: str) -> bool:
    return bool(name.labels) and name.labels[0].lower() == prefix.encode("ascii").lower()


def owner_rdata(request_id: str, opd: str, types: frozenset[RdType]) -> TXT:
    """The ownership record: ONE character-string of at most 255 bytes.

    `kominfo-provision request=REQ-2026-0001 types=A,TXT opd=Dinas Pendidikan`. One
    string survives octoDNS and provider APIs that join a record's strings into one
    value and re-chunk it; the OPD comes last (it may hold spaces) and is cut, on a
    character boundary, so the whole fits in one string.
    """
    tlist = ",".join(sorted(dns.rdatatype.to_text(t) for t in types))
    head = HERITAGE + f" request={request_id} types={tlist} opd=".encode()
    room = max(TXT_CHUNK - len(head), 0)
    opd_b = opd.encode("utf-8")[:room].decode("utf-8", "ignore").encode("utf-8")
    return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [(head + opd_b)[:TXT_CHUNK]])


#: The old multi-string form joined into one value (as octoDNS and provider APIs do):
#: `kominfo-provisionrequest=REQ-2026-0001opd=Dinas Pendidikantypes=A,TXT`.
_JOINED_OLD = re.compile(r"request=(?P<request>\S+?)(?:opd=(?P<opd>.*?))?(?:types=(?P<types>[A-Z0-9,]*))?",
                         re.DOTALL)


def _fields(strings: list[bytes]) -> dict[str, str] | None:
    """The fields of an ownership record in any of its three forms, or None."""
    if len(strings) > 1 and strings[0] == HERITAGE:  # the old form: one field a string
        fields: dict[str, str] = {}
        for s in strings[1:]:
            k, sep, v = s.decode("utf-8", "replace").partition("=")
            if sep:
                fields[k] = v
        return fields
    joined = b"".join(strings)
    if joined.startswith(HERITAGE + b" "):  # the single-string form
        rest = joined[len(HERITAGE) + 1:].decode("utf-8", "replace")
        fields = {}
        while rest:
            k, sep, v = rest.partition("=")
            if not sep:
                return None
            if k == "opd":  # last: the rest of the string, spaces and all
                fields[k] = v
                break
            v, _, rest = v.partition(" ")
            fields[k] = v
        return fields
    if joined.startswith(HERITAGE + b"request="):  # the old form, joined by someone else
        m = _JOINED_OLD.fullmatch(joined[len(HERITAGE):].decode("utf-8", "replace"))
        if m is None:
            return None
        return {k: v for k, v in m.groupdict().items() if v is not None}
    return None


def parse_owner(rdatas: frozenset[dns.rdata.Rdata]) -> Owner:
    """The owner a TXT RRset names; `valid=False` when it is not exactly one of ours.

    Reads the single-string form, the old one-field-a-string form, and that old form
    joined into one string (octoDNS, provider APIs); the planner rewrites the old forms.
    """
    if len(rdatas) != 1:
        return Owner("?", "", valid=False)
    (rd,) = tuple(rdatas)
    fields = _fields(list(getattr(rd, "strings", ())))
    if not fields or not fields.get("request"):
        return Owner("?", "", valid=False)
    types = None
    if "types" in fields:
        try:
            types = frozenset(dns.rdatatype.from_text(t) for t in fields["types"].split(",") if t)
        except dns.exception.DNSException:
            return Owner(fields["request"], fields.get("opd", ""), valid=False)
    return Owner(fields["request"], fields.get("opd", ""), types=types)


def key_text(key: Key) -> str:
    return f"{key[0].to_text()} {dns.rdatatype.to_text(key[1])}"
