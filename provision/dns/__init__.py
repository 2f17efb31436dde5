"""Step 15's subdomain records: RFC 2136 dynamic updates with TSIG against the zone's primary.

`DnsProvider` (provider.py) is the entry point; see docs/dns.md for the ownership model,
the prerequisites every UPDATE carries, and the errors with their exit codes.
"""

from provision.dns.provider import DnsPartialApply, DnsProvider, VerificationFailed

__all__ = ["DnsProvider", "DnsPartialApply", "VerificationFailed"]
