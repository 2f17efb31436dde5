"""Talking to DNS servers: signed UPDATEs and zone transfers to the primary, queries to
any authoritative server. Every failure leaves as a ProvisionError (errors.translate).

Tests wrap `send_update` to count the messages a run sends.
"""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import dns.zone

from provision.addresses import parse_server, server_text  # noqa: F401 (parse_server: DNS modules import it from here)
from provision.dns.errors import DnsKeyError, rcode_error, translate
from provision.secrets import check_secret_file

#: The TSIG algorithms accepted, with the shortest secret (bytes) for each: the hash
#: length (RFC 8945 section 6; hmac-md5 and hmac-sha1 are refused).
TSIG_ALGORITHMS = {"hmac-sha256": 32, "hmac-sha384": 48, "hmac-sha512": 64}


def load_keyring(path: str) -> dict[dns.name.Name, dns.tsig.Key]:
    """The TSIG key from a tsig-keygen file; refused if group or others can read it."""
    if not path:
        raise DnsKeyError("dns.tsig_key_file is not set.",
                          "Point it at the key made by `tsig-keygen -a hmac-sha256 NAME` (mode 0600).")
    p = Path(path).expanduser()
    check_secret_file(p, "dns.tsig_key_file")
    try:
        keyring = dns.tsigkeyring.from_file(str(p))
    except Exception as e:  # dnspython raises several kinds for a malformed file
        raise DnsKeyError(f"dns.tsig_key_file {p} is not a tsig-keygen key file: {e}.",
                          "Make it with `tsig-keygen -a hmac-sha256 NAME > FILE`.") from e
    if not keyring:
        raise DnsKeyError(f"dns.tsig_key_file {p} holds no key.")
    for name, key in keyring.items():
        algorithm = str(getattr(key, "algorithm", "")).rstrip(".").lower()
        if algorithm not in TSIG_ALGORITHMS:
            raise DnsKeyError(f"dns.tsig_key_file {p}: the key {name} uses {algorithm}; only "
                              "hmac-sha256, hmac-sha384, hmac-sha512 are accepted.",
                              "Make a new key with `tsig-keygen -a hmac-sha256 NAME` and put it in named.conf too.")
        if len(key.secret) < TSIG_ALGORITHMS[algorithm]:
            raise DnsKeyError(f"dns.tsig_key_file {p}: the key {name}'s secret is {len(key.secret)} bytes; "
                              f"{algorithm} needs at least {TSIG_ALGORITHMS[algorithm]} (the hash length).",
                              "Make a new key with `tsig-keygen -a hmac-sha256 NAME` and put it in named.conf too.")
    return keyring


class Transport:
    """Signed DNS messages to one zone's servers, with one timeout."""

    def __init__(self, zone: dns.name.Name, primary: tuple[str, int],
                 keyring: dict[dns.name.Name, dns.tsig.Key], timeout: float) -> None:
        self.zone = zone
        self.primary = primary
        self.keyring = keyring
        self.keyname = next(iter(keyring))
        self.timeout = timeout

    @property
    def primary_text(self) -> str:
        return server_text(*self.primary)

    def new_update(self) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(self.zone, keyring=self.keyring, keyname=self.keyname)

    def send_update(self, msg: dns.update.UpdateMessage, what: str) -> None:
        """Send one UPDATE over TCP; raise the mapped error unless the answer is NOERROR."""
        host, port = self.primary
        try:
            resp = dns.query.tcp(msg, host, port=port, timeout=self.timeout)
        except Exception as e:
            raise translate(e, self.primary_text, self.zone.to_text(), what) from e
        if resp.rcode() != dns.rcode.NOERROR:
            raise rcode_error(resp.rcode(), self.primary_text, self.zone.to_text(), what)

    def axfr(self, server: tuple[str, int] | None = None) -> dns.zone.Zone:
        """The whole zone by a TSIG-signed AXFR (from the primary unless `server`)."""
        host, port = server or self.primary
        where = server_text(host, port)
        what = f"zone transfer of {self.zone}"
        try:
            xfr = dns.query.xfr(host, self.zone, keyring=self.keyring, keyname=self.keyname,
                                port=port, timeout=self.timeout, lifetime=self.timeout * 6,
                                relativize=False)
            return dns.zone.from_xfr(xfr, relativize=False, check_origin=False)
        except Exception as e:
            raise translate(e, where, self.zone.to_text(), what) from e

    def ixfr(self, since: int, server: tuple[str, int] | None = None) -> list[tuple[dns.name.Name, dns.rdatatype.RdataType, int, dns.rdata.Rdata]]:
        """The records of a TSIG-signed IXFR from serial `since`, in order, as
        (name, rdtype, ttl, rdata). The server may answer with the whole zone instead."""
        host, port = server or self.primary
        what = f"incremental transfer of {self.zone} since serial {since}"
        out: list[tuple[dns.name.Name, dns.rdatatype.RdataType, int, dns.rdata.Rdata]] = []
        try:
            for msg in dns.query.xfr(host, self.zone, rdtype=dns.rdatatype.IXFR, serial=since,
                                     keyring=self.keyring, keyname=self.keyname, port=port,
                                     timeout=self.timeout, lifetime=self.timeout * 6, relativize=False):
                for rrset in msg.answer:
                    out.extend((rrset.name, rrset.rdtype, rrset.ttl, rd) for rd in rrset)
        except Exception as e:
            raise translate(e, server_text(host, port), self.zone.to_text(), what) from e
        return out

    def query(self, server: tuple[str, int], qname: dns.name.Name, rdtype: dns.rdatatype.RdataType,
              timeout: float | None = None) -> dns.message.Message:
        """One query (UDP, TCP when truncated); the answer whatever its RCODE."""
        host, port = server
        q = dns.message.make_query(qname, rdtype)
        q.flags &= ~dns.flags.RD
        t = self.timeout if timeout is None else timeout
        try:
            r, _ = dns.query.udp_with_fallback(q, host, port=port, timeout=t)
            return r
        except Exception as e:
            raise translate(e, server_text(host, port), self.zone.to_text(),
                            f"query {qname} {dns.rdatatype.to_text(rdtype)}") from e

    def soa(self, server: tuple[str, int] | None = None, timeout: float | None = None) -> dns.rdata.Rdata:
        """The zone's SOA as `server` (default: the primary) serves it, over TCP."""
        host, port = server or self.primary
        where = server_text(host, port)
        q = dns.message.make_query(self.zone, dns.rdatatype.SOA)
        try:
            r = dns.query.tcp(q, host, port=port, timeout=self.timeout if timeout is None else timeout)
        except Exception as e:
            raise translate(e, where, self.zone.to_text(), f"SOA query for {self.zone}") from e
        if r.rcode() != dns.rcode.NOERROR:
            raise rcode_error(r.rcode(), where, self.zone.to_text(), f"SOA query for {self.zone}")
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA and rrset.name == self.zone:
                return rrset[0]
        raise rcode_error(dns.rcode.NOTAUTH, where, self.zone.to_text(), f"SOA query for {self.zone}")
