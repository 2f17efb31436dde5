"""DNS failures, each mapped onto the project's error tree with one distinct message.

`translate(exc, server, what)` is the single boundary where dnspython and socket
exceptions become ProvisionErrors (`raise translate(e, ...) from e`); `rcode_error`
does the same for an answer's RCODE.
"""

from __future__ import annotations

import socket

import dns.exception
import dns.rcode
import dns.tsig
import dns.xfr

from provision.errors import (
    AuthError,
    ConfigError,
    Conflict,
    OwnershipError,
    ProviderError,
    ProvisionError,
    Unreachable,
)


class DnsUnreachable(Unreachable):
    """No connection to the server (refused, no route, reset)."""


class DnsTimeout(Unreachable):
    """The server accepted no answer within dns.timeout."""


class TsigBadSignature(AuthError):
    """BADSIG: the key's name is known to the server but the secret differs."""


class TsigBadKey(AuthError):
    """BADKEY: the server knows no key by that name."""


class UpdateRefused(AuthError):
    """REFUSED: the server's policy (update-policy / allow-transfer) does not allow it."""


class NotAuthoritative(ConfigError):
    """NOTAUTH: the server is not the primary for the zone (or not authoritative at all)."""


class NotZone(ConfigError):
    """NOTZONE: a name in the update lies outside the zone."""


class ServerFailure(ProviderError):
    """SERVFAIL: the server failed to apply the update (BIND's limits, disk, journal)."""


class ZoneChanged(Conflict):
    """The zone's SOA is no longer the one the plan was made against."""


class PrerequisiteFailed(Conflict):
    """YXDOMAIN / YXRRSET / NXDOMAIN / NXRRSET: a record the plan relied on differs."""


class NotOwned(OwnershipError):
    """The name is hand-made (no ownership record) or owned by another request."""


class ReadBackMismatch(ProviderError):
    """The server answered NOERROR but the zone does not hold what was sent."""


class DnsKeyError(ConfigError):
    """The TSIG key file cannot be used."""


_PREREQ = {
    dns.rcode.YXDOMAIN: "a name the plan expected to be absent now exists (YXDOMAIN)",
    dns.rcode.YXRRSET: "a record set the plan expected to be absent now exists (YXRRSET)",
    dns.rcode.NXDOMAIN: "a name the plan expected to exist is gone (NXDOMAIN)",
    dns.rcode.NXRRSET: "a record set no longer holds the exact values the plan was made "
                       "against (NXRRSET)",
}

_PLAN_AGAIN = "Run `provision dns plan` again and review the new plan."


def rcode_error(rcode: dns.rcode.Rcode, server: str, zone: str, what: str) -> ProvisionError:
    """The ProvisionError for a non-NOERROR answer to `what` (e.g. "update 2 of 3")."""
    name = dns.rcode.to_text(rcode)
    if rcode in _PREREQ:
        return PrerequisiteFailed(f"{what} refused by {server}: {_PREREQ[rcode]}; "
                                  "nothing in that message was applied.", _PLAN_AGAIN)
    if rcode == dns.rcode.REFUSED:
        return UpdateRefused(
            f"{what} refused by {server} (REFUSED): its policy does not allow this key to do it.",
            f"Grant the key in the zone's update-policy / allow-transfer for {zone}, "
            "or check the record types it allows.")
    if rcode == dns.rcode.NOTAUTH:
        return NotAuthoritative(
            f"{what}: {server} is not authoritative for {zone} (NOTAUTH).",
            "Check dns.primary and dns.zone: updates must go to the zone's primary.")
    if rcode == dns.rcode.NOTZONE:
        return NotZone(f"{what}: {server} says a name lies outside {zone} (NOTZONE).",
                       "Check dns.zone and the record names in the spec.")
    if rcode == dns.rcode.SERVFAIL:
        return ServerFailure(
            f"{what}: {server} failed to apply it (SERVFAIL); nothing in that message was applied.",
            "Read the server's log (BIND limits such as max-records-per-type, disk, journal).")
    return ProviderError(f"{what}: {server} answered {name}.", "Read the server's log.")


def translate(exc: BaseException, server: str, zone: str, what: str) -> ProvisionError:
    """The ProvisionError for an exception raised while talking to `server`."""
    if isinstance(exc, ProvisionError):
        return exc
    if isinstance(exc, dns.tsig.PeerBadSignature):
        return TsigBadSignature(
            f"{what}: {server} rejected the TSIG signature (BADSIG): the key's secret differs "
            "from the server's.", "Check dns.tsig_key_file against the key in named.conf.")
    if isinstance(exc, dns.tsig.PeerBadKey):
        return TsigBadKey(f"{what}: {server} does not know the TSIG key (BADKEY).",
                          "Check the key name in dns.tsig_key_file against named.conf.")
    if isinstance(exc, (dns.tsig.PeerBadTime, dns.tsig.PeerBadTruncation, dns.tsig.PeerError)):
        return AuthError(f"{what}: {server} rejected the TSIG signature ({exc}).",
                         "Check the key file and the clocks of both machines.")
    if isinstance(exc, dns.tsig.BadSignature):
        return TsigBadSignature(f"{what}: the answer from {server} carries a bad TSIG signature.",
                                "Check dns.tsig_key_file against the key in named.conf.")
    if isinstance(exc, dns.xfr.TransferError):
        return rcode_error(exc.rcode, server, zone, what)
    if isinstance(exc, dns.exception.Timeout) or isinstance(exc, (socket.timeout, TimeoutError)):
        return DnsTimeout(f"{what}: no answer from {server} within the timeout.",
                          "Check that the server is up, or raise dns.timeout.")
    if isinstance(exc, ConnectionRefusedError):
        return DnsUnreachable(f"{what}: {server} refused the connection (nothing listens there).",
                              "Check dns.primary / dns.verify_servers and that named runs.")
    if isinstance(exc, OSError):
        return DnsUnreachable(f"{what}: cannot reach {server}: {exc.strerror or exc}.",
                              "Check the address and the network path to the server.")
    if isinstance(exc, dns.exception.FormError):
        return ProviderError(f"{what}: {server} sent a malformed answer ({exc}).")
    if isinstance(exc, dns.exception.DNSException):
        return ProviderError(f"{what}: DNS error with {server}: {exc}.")
    raise exc

__all__ = ["DnsUnreachable", "DnsTimeout", "TsigBadSignature", "TsigBadKey", "UpdateRefused",
           "NotAuthoritative", "NotZone", "ServerFailure", "ZoneChanged", "PrerequisiteFailed",
           "NotOwned", "ReadBackMismatch", "DnsKeyError", "rcode_error", "translate"]
