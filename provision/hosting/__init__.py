"""Step 15: the application's hosting (user, vhost with TLS, runtime, isolated database),
the hosting registry, and the production gate. See docs/hosting.md."""

from provision.hosting.gate import GateRefused, require_passing_test
from provision.hosting.planner import DatabaseUnavailable, HostOutOfDisk, NginxConfigBroken
from provision.hosting.provider import HostingFailed, HostingProvider
from provision.hosting.tls import CertificateError

__all__ = ["CertificateError", "DatabaseUnavailable", "GateRefused", "HostOutOfDisk", "HostingFailed",
           "HostingProvider", "NginxConfigBroken", "require_passing_test"]
