"""Proof after an apply: read back from the primary, then every authoritative server.

BIND answers NOERROR to some updates it silently ignores, so the only proof is the zone
itself. Each server is polled (bounded by dns.verify_timeout) until it serves at least
the new serial and exactly the record sets the plan produced; each gets its own result.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype

from provision.dns.records import Key, RRset, key_text
from provision.dns.transport import Transport, parse_server, server_text
from provision.dns.zone import ZoneState
from provision.errors import ProvisionError

Progress = Callable[[str], None]


def serial_ge(a: int, b: int) -> bool:
    """RFC 1982 serial arithmetic: a is b or later."""
    return a == b or 0 < ((a - b) % 2**32) < 2**31


def expected_of(changes: list) -> dict[Key, RRset | None]:  # list[Change]
    return {c.data.key: c.data.new for c in changes}


def before_of(changes: list) -> dict[Key, RRset | None]:  # list[Change]
    return {c.data.key: c.data.old for c in changes}


def changed_state(records: list[tuple[dns.name.Name, dns.rdatatype.RdataType, int, dns.rdata.Rdata]],
                  before: Mapping[Key, RRset | None]) -> tuple[int, dict[Key, RRset]]:
    """(serial, record sets of `before`'s keys) after the IXFR answer `records`.

    Applies the answer's deletions and additions (RFC 1995) to `before`; an answer in
    AXFR form (the whole zone) is read as such. Keys outside `before` are ignored.
    """
    if not records or records[0][1] != dns.rdatatype.SOA:
        raise ProvisionError("the transfer did not start with the zone's SOA")
    serial = int(records[0][3].serial)  # type: ignore[attr-defined]
    state: dict[Key, tuple[int, set[dns.rdata.Rdata]]] = {}
    full = len(records) > 1 and records[1][1] != dns.rdatatype.SOA
    if not full:
        for key, rrset in before.items():
            if rrset is not None:
                state[key] = (rrset.ttl, set(rrset.rdatas))
    adding = True
    for name, rdtype, ttl, rd in records[1:-1] if len(records) > 1 else []:
        if rdtype == dns.rdatatype.SOA and not full:
            adding = not adding  # old SOA opens deletions, new SOA opens additions
            continue
        key = (name, rdtype)
        if key not in before:
            continue
        _, values = state.setdefault(key, (ttl, set()))
        if adding:
            values.add(rd)
            state[key] = (ttl, values)
        else:
            values.discard(rd)
    return serial, {k: RRset(ttl, frozenset(v)) for k, (ttl, v) in state.items() if v}


def mismatches(rrsets: dict[Key, RRset], expected: dict[Key, RRset | None]) -> dict[Key, str]:
    """Record sets that differ from what was expected, with what is there instead."""
    out: dict[Key, str] = {}
    for key, want in expected.items():
        got = rrsets.get(key)
        if want is None:
            if got is not None:
                out[key] = f"still holds {got.as_json()['values']}"
        elif got != want:
            out[key] = "holds nothing" if got is None else f"holds {got.as_json()} instead of {want.as_json()}"
    return out


@dataclass
class ServerResult:
    server: str
    ok: bool = False
    serial: int | None = None
    seconds: float = 0.0
    method: str = ""  # "axfr" or "query"
    wrong: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"server": self.server, "ok": self.ok, "serial": self.serial,
                "seconds": round(self.seconds, 3), "method": self.method, "wrong": self.wrong,
                "error": self.error}


def default_servers(state: ZoneState) -> list[tuple[str, int]]:
    """The zone's NS set, each target resolved from the zone's own glue, else the resolver."""
    out: list[tuple[str, int]] = []
    ns = state.rrsets.get((state.origin, dns.rdatatype.NS))
    for rd in sorted(ns.rdatas if ns else [], key=lambda r: r.to_text()):
        target: dns.name.Name = rd.target  # type: ignore[attr-defined]
        addrs = [r.to_text() for t in (dns.rdatatype.A, dns.rdatatype.AAAA)
                 for r in (state.rrsets[(target, t)].rdatas if (target, t) in state.rrsets else [])]
        if not addrs:
            try:
                addrs = sorted({str(ai[4][0]) for ai in socket.getaddrinfo(target.to_text(), 53,
                                                                      type=socket.SOCK_STREAM)})
            except OSError:
                addrs = []
        out += [(a, 53) for a in addrs]
    return out


def servers_from(config_servers: list[str], state: ZoneState) -> list[tuple[str, int]]:
    return [parse_server(s) for s in config_servers] if config_servers else default_servers(state)


def _query_rrsets(transport: Transport, server: tuple[str, int], keys: list[Key],
                  timeout: float) -> dict[Key, RRset]:
    got: dict[Key, RRset] = {}
    for name, rdtype in keys:
        r: dns.message.Message = transport.query(server, name, rdtype, timeout=timeout)
        if r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise ProvisionError(f"{server_text(*server)} answered {dns.rcode.to_text(r.rcode())} "
                                 f"for {name} {dns.rdatatype.to_text(rdtype)}")
        for rrset in r.answer:
            if rrset.name == name and rrset.rdtype == rdtype:
                got[(name, rdtype)] = RRset(rrset.ttl, frozenset(rrset))
    return got


def verify_server(transport: Transport, server: tuple[str, int], serial: int,
                  expected: dict[Key, RRset | None], timeout: float, since: int,
                  before: dict[Key, RRset | None], progress: Progress | None = None) -> ServerResult:
    """Poll one server until it serves `serial` (or later) and `expected`, or time runs out.

    Records are read by an IXFR since the plan's serial (the changes only), or record by
    record when the server refuses us transfers.
    """
    res = ServerResult(server_text(*server))
    start = time.monotonic()
    deadline = start + timeout
    use_xfr = True
    last_line, last_at = "", 0.0
    while True:
        left = max(0.2, deadline - time.monotonic())
        try:
            soa = transport.soa(server, timeout=min(transport.timeout, left))
            res.serial = int(soa.serial)  # type: ignore[attr-defined]
            if serial_ge(res.serial, serial):
                if use_xfr:
                    try:
                        res.serial, rrsets = changed_state(transport.ixfr(since, server), before)
                        res.method = "ixfr"
                    except ProvisionError:
                        use_xfr = False  # transfers not allowed to us there: ask record by record
                if not use_xfr:
                    rrsets = _query_rrsets(transport, server, list(expected), min(transport.timeout, left))
                    res.method = "query"
                wrong = mismatches(rrsets, expected)
                res.wrong = [f"{key_text(k)} {why}" for k, why in sorted(wrong.items())]
                res.error = None
                if not wrong:
                    res.ok = True
                    break
            else:
                res.error = f"serves serial {res.serial}, waiting for {serial}"
        except ProvisionError as e:
            res.error = str(e)
        if time.monotonic() >= deadline:
            break
        line = f"{res.server}: {res.error or 'records not there yet'}"
        if progress and (line != last_line or time.monotonic() - last_at >= 1.0):  # at most 1/s
            progress(line)
            last_line, last_at = line, time.monotonic()
        time.sleep(0.05)
    res.seconds = time.monotonic() - start
    if not res.ok and res.error is None:
        res.error = f"wrong records after {timeout:.0f} s: " + "; ".join(res.wrong[:5])
    return res


def verify_servers(transport: Transport, servers: list[tuple[str, int]], serial: int,
                   expected: dict[Key, RRset | None], timeout: float, since: int,
                   before: dict[Key, RRset | None], progress: Progress | None = None) -> list[ServerResult]:
    """Every server checked at once; results in the order given."""
    if not servers:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(servers))) as pool:
        futures = [pool.submit(verify_server, transport, s, serial, expected, timeout, since, before, progress)
                   for s in servers]
        return [f.result() for f in futures]
