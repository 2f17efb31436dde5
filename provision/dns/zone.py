"""The zone as read by a signed AXFR: every record set, the SOA, and who owns each name."""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdatatype
import dns.zone

from provision.dns.records import Key, Owner, RdType, RRset, is_owner_name, parse_owner


@dataclass
class ZoneState:
    origin: dns.name.Name
    soa: dns.rdata.Rdata
    rrsets: dict[Key, RRset]
    prefix: str
    by_name: dict[dns.name.Name, list[RdType]] = field(default_factory=dict)
    owners: dict[dns.name.Name, Owner] = field(default_factory=dict)  # managed name -> owner

    @classmethod
    def from_zone(cls, zone: dns.zone.Zone, prefix: str) -> ZoneState:
        origin = zone.origin
        assert origin is not None
        rrsets: dict[Key, RRset] = {}
        soa = None
        for name, node in zone.nodes.items():
            absname = name if name.is_absolute() else name.derelativize(origin)
            for rds in node.rdatasets:
                if rds.rdtype == dns.rdatatype.SOA and absname == origin:
                    soa = rds[0]
                    continue
                if rds.rdtype in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3):
                    continue
                rrsets[(absname, rds.rdtype)] = RRset(rds.ttl, frozenset(rds))
        if soa is None:
            raise ValueError(f"the transfer of {origin} holds no SOA")
        state = cls(origin=origin, soa=soa, rrsets=rrsets, prefix=prefix)
        state._index()
        return state

    def _index(self) -> None:
        self.by_name = {}
        for name, rdtype in self.rrsets:
            self.by_name.setdefault(name, []).append(rdtype)
        self.owners = {}
        for (name, rdtype), rrset in self.rrsets.items():
            if rdtype == dns.rdatatype.TXT and is_owner_name(name, self.prefix):
                self.owners[name.parent()] = parse_owner(rrset.rdatas)

    @property
    def serial(self) -> int:
        return int(self.soa.serial)  # type: ignore[attr-defined]

    def at(self, name: dns.name.Name) -> dict[RdType, RRset]:
        """Every record set at `name` (not counting its ownership record)."""
        return {t: self.rrsets[(name, t)] for t in self.by_name.get(name, [])}

    def owned_by(self, request_id: str) -> list[dns.name.Name]:
        return sorted(n for n, o in self.owners.items() if o.valid and o.request_id == request_id)

    def count(self) -> int:
        """Record sets in the zone (the base of the safety thresholds), SOA included."""
        return len(self.rrsets) + 1
