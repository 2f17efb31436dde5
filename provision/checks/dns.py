"""DNS checks: each authoritative server serves the records the specs say; no dangling
records; names no request owns are listed.

Units: one per authoritative server (a TSIG-signed AXFR, then every request's record sets
compared in memory) and one for the zone as the primary serves it (ownership, dangling
CNAMEs and A/AAAA records). Nothing here asks a recursive resolver: CNAME targets inside
the zone are followed in the transferred zone, targets outside it only through the
servers in `checks.resolvers`, and addresses are probed (TCP to `checks.probe_ports`)
only inside `checks.probe_networks`. "Same organisation" is decided with the Public
Suffix List (bundled with tldextract, never fetched): the last two labels of
`batam.go.id` are `go.id`, which every Indonesian government shares.
"""

from __future__ import annotations

import functools
import socket
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from provision.checks.guard import AddressGuard
from provision.checks.results import Result, failed, passed, warned
from provision.checks.runner import Deadline, Unit
from provision.checks.targets import AppTarget, Inventory, split_hostport
from provision.dns.records import Key, RRset, key_text
from provision.dns.transport import Transport, load_keyring, parse_server, server_text
from provision.dns.validate import validate_spec, zone_name
from provision.dns.zone import ZoneState
from provision.errors import ProvisionError

KIND = "dns"
ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


@lru_cache(maxsize=1)
def _psl() -> Any:
    import tldextract

    # suffix_list_urls=() and no cache: the snapshot bundled with the package, no network.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def organisation(name: str) -> str:
    """The registrable domain of `name` by the Public Suffix List (`app.batam.go.id` ->
    `batam.go.id`). A name under no listed suffix falls under the PSL's default rule `*`."""
    name = name.rstrip(".").lower()
    r = _psl()(name)
    if r.suffix and r.domain:
        return f"{r.domain}.{r.suffix}"
    if r.suffix:  # the name is itself a public suffix
        return name
    labels = name.split(".")
    return ".".join(labels[-2:])


def same_organisation(a: str, b: str) -> bool:
    return organisation(a) == organisation(b)


def probe(address: str, ports: list[int], timeout: float, guard: AddressGuard) -> int | None:
    """The first port of `ports` accepting a TCP connection, else None. Refuses (raises
    NotAllowed) for an address outside the allow-list: nothing is sent to it."""
    guard.require(address)
    for port in ports:
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return port
        except OSError:
            continue
    return None


def servers_of(config: Any, zone: ZoneState) -> list[tuple[str, int]]:
    """dns.verify_servers, else the zone's NS set through its own glue (never a resolver)."""
    if config.dns.verify_servers:
        return [parse_server(s) for s in config.dns.verify_servers]
    out: list[tuple[str, int]] = []
    ns = zone.rrsets.get((zone.origin, dns.rdatatype.NS))
    for rd in sorted(ns.rdatas if ns else [], key=lambda r: r.to_text()):
        for t in ADDRESS_TYPES:
            glue = zone.rrsets.get((rd.target, t))  # type: ignore[attr-defined]
            out += [(r.to_text(), 53) for r in (glue.rdatas if glue else [])]
    return out


class DnsChecks:
    """Builds the DNS units for a run; the primary's zone is read once, up front."""

    def __init__(self, config: Any, targets: list[AppTarget], inventory: Inventory, guard: AddressGuard,
                 transport: Transport | None = None, active: set[str] | None = None) -> None:
        self.config = config
        self.active = active if active is not None else {t.request_id for t in targets}
        self.settings = config.dns
        self.targets = targets
        self.inventory = inventory
        self.guard = guard
        self.origin = zone_name(self.settings)
        self.transport = transport or Transport(self.origin, parse_server(self.settings.primary),
                                                load_keyring(self.settings.tsig_key_file),
                                                min(self.settings.timeout, config.checks.timeout))
        self.wanted: dict[str, dict[Key, RRset]] = {}
        self.invalid: dict[str, str] = {}
        for t in targets:
            if t.spec is None and t.legacy:
                continue  # adopted as it was: its ownership and address are checked, not a spec
            if t.spec is None:
                self.invalid[t.request_id] = t.spec_error or "no spec"
                continue
            try:
                self.wanted[t.request_id] = validate_spec(t.spec, self.settings, config.names.reserved)
            except ProvisionError as e:
                self.invalid[t.request_id] = str(e)

    def units(self) -> list[Unit]:
        timeout = self.config.checks.timeout
        rids = [t.request_id for t in self.targets]
        units = [Unit(KIND, f"zone {self.origin} from {self.transport.primary_text}", rids or [None],
                      self.zone_results, timeout, name="zone")]
        if self.settings.verify_servers:
            servers = [parse_server(s) for s in self.settings.verify_servers]
        else:  # the NS set's glue: needs the zone before the units start
            try:
                servers = servers_of(self.config, self.read_zone())
            except (ProvisionError, ValueError):
                servers = []  # the zone unit reports the failed transfer
        for server in servers:
            units.append(Unit(KIND, f"authoritative server {server_text(*server)}", rids,
                              functools.partial(self.server_results, server), timeout,
                              name=f"served by {server_text(*server)}"))
        return units

    def read_zone(self, server: tuple[str, int] | None = None) -> ZoneState:
        return ZoneState.from_zone(self.transport.axfr(server), self.settings.ownership_prefix)

    # -- one authoritative server -----------------------------------------------------------
    def server_results(self, server: tuple[str, int], deadline: Deadline) -> list[Result]:
        where = server_text(*server)
        name = f"served by {where}"
        zone = self.read_zone(server)
        out: list[Result] = []
        for t in self.targets:
            rid = t.request_id
            if rid in self.invalid:
                out.append(failed(KIND, rid, name, f"the spec's records cannot be checked: {self.invalid[rid]}"))
                continue
            if rid not in self.wanted:  # a legacy application: no records recorded to compare
                continue
            wrong = []
            for key, want in sorted(self.wanted[rid].items()):
                got = zone.rrsets.get(key)
                if got is None:
                    wrong.append(f"{key_text(key)} is missing (want {_values(want)})")
                elif got != want:
                    wrong.append(f"{key_text(key)} is {_values(got)} instead of {_values(want)}")
            if wrong:
                out.append(failed(KIND, rid, name, f"{where} (serial {zone.serial}): " + "; ".join(wrong)))
            else:
                out.append(passed(KIND, rid, name, f"{len(self.wanted[rid])} record sets as recorded "
                                                   f"(serial {zone.serial})"))
        return out

    # -- the zone: ownership and dangling records --------------------------------------------
    def zone_results(self, deadline: Deadline) -> list[Result]:
        zone = self.read_zone()
        active = self.active
        out: list[Result] = []
        for t in self.targets:
            rid = t.request_id
            owned = set(zone.owned_by(rid))
            missing = sorted({k[0] for k in self.wanted.get(rid, {})} - owned)
            if missing:
                out.append(failed(KIND, rid, "ownership", "no ownership record for "
                                  + ", ".join(n.to_text() for n in missing) + f" (expected request {rid})"))
            elif rid in self.wanted:
                out.append(passed(KIND, rid, "ownership", f"{len(owned)} names owned"))
            elif t.legacy:
                out.append(self._legacy_ownership(zone, t, owned))
        out += self.host_addresses(zone)
        for name in sorted(n for n in zone.by_name if self._is_data_name(zone, n)):
            if name in zone.owners:
                owner = zone.owners[name]
                if owner.valid and owner.request_id not in active and owner.request_id != "?":
                    out.append(warned(KIND, None, f"name {name}", f"owned by request {owner.request_id}, "
                                      "which has no active hosting"))
                continue
            types = ", ".join(sorted(dns.rdatatype.to_text(t) for t in zone.by_name.get(name, [])))
            out.append(warned(KIND, None, f"name {name}", f"no request owns this name ({types})"))
        out += self.dangling(zone, deadline, active)
        return _dedupe(out)

    @staticmethod
    def _legacy_ownership(zone: ZoneState, t: Any, owned: set[dns.name.Name]) -> Result:
        """An imported application owns its domain when the zone has it (it may not: a site
        without DNS, imported as found)."""
        try:
            name = dns.name.from_text(t.domain + ".")
        except dns.exception.DNSException:
            return failed(KIND, t.request_id, "ownership", f"{t.domain} is not a DNS name")
        if name not in zone.by_name:
            return warned(KIND, t.request_id, "ownership", f"{t.domain} is not in the zone (legacy application "
                          "imported without DNS)")
        if name not in owned:
            return failed(KIND, t.request_id, "ownership", f"no ownership record for {t.domain} "
                          f"(expected request {t.request_id})")
        return passed(KIND, t.request_id, "ownership", f"{len(owned)} names owned (legacy)")

    def host_addresses(self, zone: ZoneState) -> list[Result]:
        """The registry's domain resolves (in the zone) to its registry host's addresses:
        a rebuilt server with a new address and an unchanged record shows here."""
        out: list[Result] = []
        for t in self.targets:
            want = set(self.inventory.addresses(t.host))
            if not want:
                continue
            try:
                name = dns.name.from_text(t.domain + ".")
            except dns.exception.DNSException:
                continue
            if not name.is_subdomain(zone.origin):
                continue
            label = f"{t.domain} points to {t.host}"
            got = _address_list(zone, name)
            if got is None:
                out.append(warned(KIND, t.request_id, label, f"{t.domain} leaves the zone by a CNAME: not compared"))
            elif not got:
                out.append(failed(KIND, t.request_id, label, f"{t.domain} has no address in the zone "
                                  f"(the registry says it is hosted on {t.host})"))
            elif not set(got) & want:
                out.append(failed(KIND, t.request_id, label, f"{t.domain} points to {', '.join(got)}, not to its "
                                  f"host {t.host} ({', '.join(sorted(want))})"))
            else:
                out.append(passed(KIND, t.request_id, label, ", ".join(got)))
        return out

    def _is_data_name(self, zone: ZoneState, name: dns.name.Name) -> bool:
        if name == zone.origin:
            return False
        types = zone.by_name.get(name, [])
        if not types:
            return False
        labels = name.labels
        if labels and labels[0].lower() == self.settings.ownership_prefix.encode().lower():
            return False
        return not self._is_ns_glue(zone, name)

    @staticmethod
    def _is_ns_glue(zone: ZoneState, name: dns.name.Name) -> bool:
        ns = zone.rrsets.get((zone.origin, dns.rdatatype.NS))
        return ns is not None and any(getattr(rd, "target", None) == name for rd in ns.rdatas)

    def _owner_of(self, zone: ZoneState, name: dns.name.Name, active: set[str]) -> str | None:
        owner = zone.owners.get(name)
        return owner.request_id if owner and owner.valid and owner.request_id in active else None

    def dangling(self, zone: ZoneState, deadline: Deadline, active: set[str]) -> list[Result]:
        out: list[Result] = []
        probes: list[tuple[str | None, str, str]] = []  # (request, record text, address)
        hosts = self.inventory.all_addresses()
        for (name, rdtype), rrset in sorted(zone.rrsets.items()):
            if name == zone.origin or self._is_ns_glue(zone, name):
                continue
            rid = self._owner_of(zone, name, active)
            if rdtype == dns.rdatatype.CNAME:
                for rd in rrset.rdatas:
                    out += self._cname(zone, rid, name, rd.target, deadline)  # type: ignore[attr-defined]
            elif rdtype in ADDRESS_TYPES:
                for rd in rrset.rdatas:
                    probes.append((rid, f"{name} {dns.rdatatype.to_text(rdtype)} {rd.to_text()}", rd.to_text()))
        cfg = self.config.checks
        allowed = [p for p in probes if self.guard.allowed(p[2])]
        for rid, text, addr in probes:
            if not self.guard.allowed(addr):
                host = hosts.get(addr)
                why = f"inventory host {host}" if host else "not an inventory host"
                out.append(warned(KIND, rid, f"record {text}", f"{why}; {addr} is outside "
                                  f"checks.probe_networks ({self.guard.describe()}): not probed"))
        addrs = sorted({a for _, _, a in allowed})
        answers: dict[str, int | None] = {}
        if addrs:
            with ThreadPoolExecutor(max_workers=min(16, len(addrs))) as pool:
                timeout = min(cfg.probe_timeout, deadline.left())
                for a, port in zip(addrs, pool.map(lambda a: probe(a, list(cfg.probe_ports), timeout,
                                                                   self.guard), addrs)):
                    answers[a] = port
        ports = ", ".join(str(p) for p in cfg.probe_ports)
        for rid, text, addr in allowed:
            host, port = hosts.get(addr), answers.get(addr)
            if port is None and host:
                out.append(failed(KIND, rid, f"record {text}", f"dangling: inventory host {host} "
                                  f"at {addr} does not answer on TCP {ports}"))
            elif port is None:
                out.append(failed(KIND, rid, f"record {text}", f"dangling: {addr} is not an inventory "
                                  f"host and does not answer on TCP {ports}"))
            elif not host:
                out.append(warned(KIND, rid, f"record {text}", f"{addr} answers on TCP {port} but is "
                                  "not an inventory host"))
            elif rid:
                out.append(passed(KIND, rid, f"record {text}", f"inventory host {host} answers on TCP {port}"))
        return out

    def _cname(self, zone: ZoneState, rid: str | None, name: dns.name.Name, target: dns.name.Name,
               deadline: Deadline) -> list[Result]:
        label = f"record {name} CNAME {target}"
        if target.is_subdomain(zone.origin):
            chain = _follow(zone, target)
            if chain is None:
                return [failed(KIND, rid, label, f"dangling: {target} does not resolve in the zone "
                               "(no A/AAAA at the end of the chain)")]
            return [passed(KIND, rid, label, f"resolves to {chain}")] if rid else []
        org_note = ""
        if not same_organisation(target.to_text(), zone.origin.to_text()):
            org_note = (f"; {target} belongs to another organisation ({organisation(target.to_text())}, "
                        f"not {organisation(zone.origin.to_text())})")
        resolvers = [split_hostport(r, "checks.resolvers") for r in self.config.checks.resolvers]
        if not resolvers:
            return [warned(KIND, rid, label, "outside the zone and no checks.resolvers to resolve it "
                           f"with: not resolved{org_note}")]
        addrs, why = _resolve_outside(target, resolvers, min(self.config.checks.probe_timeout * 2, deadline.left()))
        if not addrs:
            return [failed(KIND, rid, label, f"dangling: {target} does not resolve ({why}){org_note}")]
        if org_note:
            return [warned(KIND, rid, label, f"resolves to {', '.join(addrs)}{org_note}")]
        return [passed(KIND, rid, label, f"resolves to {', '.join(addrs)}")] if rid else []


def _follow(zone: ZoneState, name: dns.name.Name, depth: int = 0) -> str | None:
    """The addresses a name inside the zone ends at, following CNAMEs (at most 8)."""
    if depth > 8:
        return None
    addrs = [rd.to_text() for t in ADDRESS_TYPES for rd in (zone.rrsets[(name, t)].rdatas
                                                              if (name, t) in zone.rrsets else [])]
    if addrs:
        return ", ".join(sorted(addrs))
    cname = zone.rrsets.get((name, dns.rdatatype.CNAME))
    if cname:
        nxt = next(iter(cname.rdatas)).target  # type: ignore[attr-defined]
        if nxt.is_subdomain(zone.origin):
            return _follow(zone, nxt, depth + 1)
        return str(nxt)  # leaves the zone: resolved by its own record's check
    return None


def _address_list(zone: ZoneState, name: dns.name.Name, depth: int = 0) -> list[str] | None:
    """Addresses of a name inside the zone, following CNAMEs; None when a CNAME leaves it."""
    if depth > 8:
        return []
    got = sorted(rd.to_text() for t in ADDRESS_TYPES for rd in (zone.rrsets[(name, t)].rdatas
                                                                 if (name, t) in zone.rrsets else []))
    if got:
        return got
    cname = zone.rrsets.get((name, dns.rdatatype.CNAME))
    if cname:
        nxt = next(iter(cname.rdatas)).target  # type: ignore[attr-defined]
        return _address_list(zone, nxt, depth + 1) if nxt.is_subdomain(zone.origin) else None
    return []


def _resolve_outside(target: dns.name.Name, resolvers: list[tuple[str, int]],
                     timeout: float) -> tuple[list[str], str]:
    why = "no answer"
    for host, port in resolvers:
        addrs: list[str] = []
        try:
            for rdtype in ADDRESS_TYPES:
                q = dns.message.make_query(target, rdtype)
                r = dns.query.udp(q, host, port=port, timeout=timeout)
                if r.rcode() == dns.rcode.NXDOMAIN:
                    return [], f"NXDOMAIN from {server_text(host, port)}"
                if r.rcode() != dns.rcode.NOERROR:
                    why = f"{dns.rcode.to_text(r.rcode())} from {server_text(host, port)}"
                    continue
                for rrset in r.answer:
                    if rrset.rdtype in ADDRESS_TYPES:
                        addrs += [rd.to_text() for rd in rrset]
        except Exception as e:  # noqa: BLE001 - one resolver down: try the next
            why = f"{server_text(host, port)}: {type(e).__name__}"
            continue
        if addrs:
            return sorted(set(addrs)), ""
        why = why if why != "no answer" else f"no address from {server_text(host, port)}"
    return [], why


def _values(rrset: RRset) -> str:
    j = rrset.as_json()
    return f"{j['values']} ttl {j['ttl']}"


def _dedupe(results: list[Result]) -> list[Result]:
    return list(dict.fromkeys(results))
