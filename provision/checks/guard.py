"""The probe allow-list: the only addresses a check may open a connection to.

Addresses come from DNS records, which anyone with write access to the zone can point
anywhere; a checker that followed them blindly would scan other people's networks. Every
TCP connection the http, tls and dns checks open goes through `AddressGuard.allowed`
first. The default list is loopback only; operators add the ranges their servers live in
(`checks.probe_networks`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from provision.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class NotAllowed(Exception):
    """An address outside the allow-list: nothing was sent to it."""


class AddressGuard:
    def __init__(self, networks: Iterable[str]) -> None:
        nets: list[IPNetwork] = []
        for text in networks:
            try:
                nets.append(ipaddress.ip_network(text, strict=False))
            except ValueError as e:
                raise ConfigError(f"checks.probe_networks: {text!r} is not a network ({e}).",
                                  "Write networks as 127.0.0.0/8, 192.0.2.0/24 or 2001:db8::/32.") from e
        self.networks = nets

    def allowed(self, address: str) -> bool:
        """True only for an IP literal inside one of the networks (never for a name)."""
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.networks)

    def require(self, address: str) -> None:
        if not self.allowed(address):
            raise NotAllowed(f"{address} is outside checks.probe_networks; not probed")

    def describe(self) -> str:
        return ", ".join(str(n) for n in self.networks) or "nothing"
