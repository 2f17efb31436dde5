"""Where an application lives on its server, the part that hosting (the site) and install
(the release) must agree on: the PHP version a spec gets when it names none, the
loopback port of a Python or Node app server, and where the site's certificate is."""

from __future__ import annotations

import zlib
from typing import Any

#: The PHP version of a spec whose runtime names none, and of a web host whose inventory
#: does not set `provision_php_versions`.
DEFAULT_PHP = "8.2"


def app_port(instance: str) -> int:
    """A stable port per instance for python/node app servers (127.0.0.1 only)."""
    return 20000 + zlib.crc32(instance.encode()) % 10000


def php_version(runtime: Any) -> str:
    """The PHP version of a spec's `runtime` (its own, or DEFAULT_PHP)."""
    return str(runtime.version) if runtime.kind == "php" and runtime.version else DEFAULT_PHP


def cert_paths(tls_source: str, instance: str) -> tuple[str, str]:
    """The certificate chain and key of a site on its server: certbot's lineage for ACME,
    the toolkit's directory for a local CA or a given certificate."""
    base = f"/etc/letsencrypt/live/{instance}" if tls_source == "acme" else f"/etc/ssl/kominfo-provision/{instance}"
    return f"{base}/fullchain.pem", f"{base}/privkey.pem"


def staging_cert_paths(instance: str) -> tuple[str, str]:
    """A staging instance's self-signed certificate and key, made on its server by the
    install (roles/tls_cert, self_signed.yml): staging is served only over TLS."""
    return cert_paths("local-ca", instance)


def tls_paths(app: Any, request_id: str) -> tuple[str, str] | None:
    """For `provision install --env production`: the certificate and key the hosting put on
    the server for this request (pass them as app_tls_cert/app_tls_key so the install's
    vhost keeps TLS), or None when the request is not hosted with TLS."""
    from provision.store.models import Hosting

    with app.store.read() as s:
        row = s.get(Hosting, request_id)
    source = app.config.hosting.tls_source
    if row is None or row.status != "active" or row.tls_expiry is None or source == "none":
        return None
    return cert_paths(source, app.specs.get(request_id).application.slug)
