"""What to host for one request: names, paths and database, checked before any server.

Everything that ends up in a configuration file, a path or SQL is derived from names
the spec already validated (slug, DNS labels) and is checked here again against the
narrow patterns the playbook asserts, so a bad name fails with exit 2 and a field name
instead of half-way through a play.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from provision import names as namerules
from provision.errors import ConfigError, Problem, ValidationError
from provision.placement import app_port, php_version
from provision.spec import check_aliases

INSTANCE = re.compile(r"^[a-z][a-z0-9-]{1,31}\Z")
DB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")
SERVER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\Z")
ROOT = re.compile(r"^/[A-Za-z0-9._/-]+\Z")


@dataclass
class HostingTarget:
    request_id: str
    opd_name: str
    app_name: str
    host: str
    instance: str  # the user, php-fpm pool, vhost and certificate name: the slug
    root: str
    kind: str
    php_version: str
    document_root: str
    port: int
    server_names: list[str]
    database: str  # none | mariadb | postgresql
    db_name: str
    tls: bool
    tls_source: str
    acme_challenge: str = "http-01"  # acme: http-01 | dns-01 (the spec's choice, else the configuration's)
    spec: Any = field(default=None, repr=False)

    @property
    def domain(self) -> str:
        return self.server_names[0]

    @property
    def runtime(self) -> str:
        return f"{self.kind} {self.php_version}" if self.kind == "php" else self.kind

    def extravars(self, password_file: str = "", cert: str = "", key: str = "", acme_email: str = "",
                  acme_server: str = "", acme: dict[str, Any] | None = None) -> dict[str, Any]:
        """One item of hosting.yml's hosting_apps: paths of secret files, never secrets."""
        return {"host": self.host, "instance": self.instance, "root": self.root, "kind": self.kind,
                "php_version": self.php_version, "server_names": self.server_names,
                "document_root": self.document_root, "port": self.port, "app_name": self.app_name,
                "database": self.database, "db_name": self.db_name, "db_user": self.db_name,
                "db_password_file": password_file, "tls": self.tls, "tls_source": self.tls_source,
                "tls_src_cert": cert, "tls_src_key": key, "acme_email": acme_email, "acme_server": acme_server,
                "writable": list(self.spec.runtime.writable) if self.spec else [],
                "process_exec": bool(self.spec.runtime.process_exec) if self.spec else False,
                "acme_challenge": self.acme_challenge, **(acme or {})}

    def as_dict(self) -> dict[str, Any]:
        return {"request": self.request_id, "host": self.host, "instance": self.instance, "root": self.root,
                "runtime": self.runtime, "server_names": self.server_names, "database": self.database,
                "db_name": self.db_name if self.database != "none" else None, "tls": self.tls,
                "tls_source": self.tls_source if self.tls else None,
                **({"acme_challenge": self.acme_challenge} if self.tls and self.tls_source == "acme" else {})}


def db_name_for(slug: str) -> str:
    return slug.replace("-", "_")


def resolve_target(app: Any, request_id: str, inventory: Any | None = None) -> HostingTarget:
    """The hosting of one request. Raises ValidationError (exit 2) listing every bad name,
    NotFound for a host not in the inventory, ConfigError for missing configuration."""
    req = app.requests.get(request_id)
    spec = app.specs.get(request_id)
    cfg = app.config
    h = cfg.hosting
    zone = (cfg.dns.zone or "").rstrip(".")
    if not zone:
        raise ConfigError("dns.zone is not set: the hosting step names the site <subdomain>.<zone>.",
                          "Set [dns] zone in provision.toml (e.g. batam.go.id).")
    if inventory is not None:
        inventory.require(spec.hosting.host)
    reserved = cfg.names.reserved or namerules.DEFAULT_RESERVED
    problems: list[Problem] = list(check_aliases(spec, zone, reserved, h.alias_suffixes))
    slug = spec.application.slug
    if not INSTANCE.match(slug):
        problems.append(Problem("application.slug", f"{slug!r} cannot name a Unix user and vhost "
                                "([a-z][a-z0-9-]{1,31})"))
    server_names = spec.hostnames(zone)
    for tmpl in h.aliases:
        try:
            extra = tmpl.format(subdomain=spec.subdomain, slug=slug, zone=zone)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"hosting.aliases: {tmpl!r} has an unknown placeholder {e} "
                              "(use {subdomain}, {slug}, {zone}).") from e
        server_names.append(extra[:-1] if extra.endswith(".") else f"{extra}.{zone}")
    seen: list[str] = []
    for i, n in enumerate(server_names):
        n = n.lower()
        msg = namerules.check_hostname(n)
        if msg or not SERVER_NAME.match(n):
            where = "application.subdomain" if i == 0 else "hosting.aliases"
            problems.append(Problem(where, f"{n!r} cannot be a server name: {msg or 'letters, digits, dots and hyphens only'}"))
        if n not in seen:
            seen.append(n)
    root = f"{h.apps_root.rstrip('/')}/{slug}"
    if not ROOT.match(root) or ".." in root.split("/"):
        problems.append(Problem("hosting.apps_root", f"{h.apps_root!r} is not a plain absolute path"))
    rt = spec.runtime
    if not re.match(r"^[A-Za-z0-9._/-]+\Z", rt.document_root) or ".." in rt.document_root.split("/"):
        problems.append(Problem("runtime.document_root", f"{rt.document_root!r} cannot be served"))
    db = db_name_for(slug)
    if spec.hosting.database != "none" and not DB_NAME.match(db):
        problems.append(Problem("application.slug", f"{db!r} cannot name a database"))
    tls = spec.hosting.tls and h.tls_source != "none"
    if tls and h.tls_source == "local-ca" and not (h.local_ca_cert and h.local_ca_key_file):
        problems.append(Problem("hosting.local_ca_cert", "tls_source is local-ca: set local_ca_cert and local_ca_key_file"))
    challenge = spec.hosting.acme_challenge or h.acme_challenge
    if tls and h.tls_source == "acme" and challenge == "dns-01" and not h.acme_tsig_key_file:
        problems.append(Problem("hosting.acme_tsig_key_file", "the certificate is to be validated by DNS-01: set "
                                "the TSIG key limited to _acme-challenge names (docs/hosting.md)"))
    if problems:
        raise ValidationError(problems, "hosting")
    return HostingTarget(
        request_id=request_id, opd_name=req.opd_name, app_name=spec.application.name, host=spec.hosting.host,
        instance=slug, root=root, kind=rt.kind, php_version=php_version(rt),
        document_root=rt.document_root, port=app_port(slug), server_names=seen, database=spec.hosting.database,
        db_name=db, tls=tls, tls_source=h.tls_source, acme_challenge=challenge, spec=spec)
