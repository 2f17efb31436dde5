"""Compare what a server holds (the probe) with what a HostingTarget wants: the Changes.

Pure functions: no I/O. `plan_target` raises the refusals that a probe can prove
before anything is touched (database server down, disk full, nginx already broken).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from provision import placement
from provision.errors import ProvisionError, Unreachable
from provision.hosting.probe import HostState
from provision.hosting.target import HostingTarget
from provision.hosting.tls import CertInfo, parse_pem
from provision.plan import Change

DUMP_DIR = "/var/backups/kominfo-provision"
CRED_KEYS = ["DB_CONNECTION", "DB_DATABASE", "DB_HOST", "DB_PASSWORD", "DB_PORT", "DB_USERNAME"]


class DatabaseUnavailable(Unreachable):
    """The database server on the host does not answer (exit 8)."""


class HostOutOfDisk(ProvisionError):
    """Too little free disk space on the host to start (exit 1)."""


class NginxConfigBroken(ProvisionError):
    """nginx's configuration on the host is already invalid: no vhost change can be checked."""


def cert_paths(t: HostingTarget) -> tuple[str, str]:
    return placement.cert_paths(t.tls_source, t.instance)


def probe_item(t: HostingTarget) -> dict[str, Any]:
    cert, key = cert_paths(t)
    return {"instance": t.instance, "root": t.root, "php_version": t.php_version,
            "cert_path": cert if t.tls else "", "key_path": key if t.tls else ""}


def probe_paths(targets: list[HostingTarget]) -> list[str]:
    return sorted({t.root for t in targets} | {"/etc/nginx", "/var/lib/mysql", "/var/lib/postgresql"})


def check_host(state: HostState, min_free_mb: int) -> None:
    for path, free in sorted(state.disk.items()):
        if free < min_free_mb:
            raise HostOutOfDisk(f"{state.host} is out of disk space: {path} has {free} MB free, "
                                f"at least {min_free_mb} MB are needed.",
                                "Free some space (or raise the disk) and run again. Nothing was changed.")
    if not state.nginx_ok:
        raise NginxConfigBroken(f"nginx's configuration on {state.host} is already invalid, so no vhost change "
                                f"can be checked: {' '.join(state.nginx_error.split())[-300:]}",
                                "Fix it first (`nginx -t` on the server names the file). Nothing was changed.")


def _cert_reason(t: HostingTarget, info: CertInfo | None, ca_key_id: str | None) -> str | None:
    if info is None:
        return "no certificate yet"
    if not info.covers(t.server_names):
        missing = sorted(set(t.server_names) - set(info.names))
        return f"does not cover {', '.join(missing)}"
    if info.due():
        return f"expires {info.not_after:%Y-%m-%d}"
    if t.tls_source == "local-ca" and ca_key_id and info.issuer_fingerprint and info.issuer_fingerprint != ca_key_id:
        return f"issued by another CA ({info.issuer})"
    return None


def plan_target(t: HostingTarget, state: HostState, ca_key_id: str | None = None) -> tuple[list[Change], dict[str, Any]]:
    """The changes for one target, and facts for apply (e.g. whether to issue a certificate)."""
    s = state.apps[t.instance]
    where = f"on {t.host}"
    changes: list[Change] = []
    facts: dict[str, Any] = {"issue_cert": False, "cert": None}
    if not s["user"]:
        changes.append(Change("create", "hosting.user", f"{t.instance} {where}", None,
                              {"user": t.instance, "home": t.root, "shell": "/usr/sbin/nologin"}, t))
    if t.database != "none":
        db = state.db.get(t.database) or {"ok": False, "error": "not probed"}
        if not db["ok"]:
            name = "MariaDB" if t.database == "mariadb" else "PostgreSQL"
            raise DatabaseUnavailable(f"{name} on {t.host} is not answering: {db['error'] or 'no reply'}.",
                                      f"Start it (systemctl start {t.database}) and run again. Nothing was changed.")
        present = {"database": t.db_name in db["databases"], "user": t.db_name in db["users"]}
        if not all(present.values()):
            changes.append(Change("create" if not any(present.values()) else "update", "hosting.database",
                                  f"{t.database} {t.db_name} {where}", present if any(present.values()) else None,
                                  {"engine": t.database, "database": t.db_name, "user": t.db_name,
                                   "privileges": "its own database only"}, t))
        if "DB_PASSWORD" not in s["env_keys"]:
            changes.append(Change("create", "hosting.credentials", f"{t.root}/shared/.env.hosting {where}", None,
                                  {"keys": CRED_KEYS, "mode": "0600", "owner": "root",
                                   "password": "generated, written only to this file"}, t))
    if t.tls:
        info = parse_pem(s["cert_pem"]) if s.get("cert_pem") else None
        reason = _cert_reason(t, info, ca_key_id) or (None if s.get("cert_key") else "its key is missing")
        facts["cert"] = info
        if reason:
            facts["issue_cert"] = True
            changes.append(Change("create" if info is None else "update", "hosting.tls", f"{t.domain} {where}",
                                  info.as_dict() if info else None,
                                  {"names": t.server_names, "source": t.tls_source, "reason": reason}, t))
    if t.kind == "php" and not s["pool"]:
        changes.append(Change("create", "hosting.runtime", f"php{t.php_version}-fpm pool {t.instance} {where}", None,
                              {"pool": t.instance, "user": t.instance, "socket": f"/run/php/{t.instance}.sock"}, t))
    want_cert = cert_paths(t)[0] if t.tls else None
    want = {"names": t.server_names, "tls": want_cert, "enabled": True}
    have = {"names": s["vhost_names"], "tls": s["vhost_cert"], "enabled": s["vhost_enabled"]}
    if not s["vhost"]:
        changes.append(Change("create", "hosting.vhost", f"{t.domain} {where}", None,
                              {**want, "https_redirect": t.tls, "hsts": t.tls}, t))
    elif have != want:
        changes.append(Change("update", "hosting.vhost", f"{t.domain} {where}", have, want, t))
    return changes, facts


def plan_withdraw(t: HostingTarget, state: HostState, purge: bool, stamp: dt.datetime) -> tuple[list[Change], str]:
    """Changes for `hosting delete`; returns them and the dump path ('' when no dump)."""
    s = state.apps[t.instance]
    where = f"on {t.host}"
    changes: list[Change] = []
    if s["vhost_enabled"]:
        changes.append(Change("delete", "hosting.vhost", f"{t.domain} {where}", {"enabled": True},
                              None if purge else {"enabled": False}, t))
    if s["pool"]:
        changes.append(Change("delete", "hosting.runtime", f"php{t.php_version}-fpm pool {t.instance} {where}",
                              {"active": True}, None if purge else {"active": False}, t))
    if s["unit"]:
        changes.append(Change("delete", "hosting.runtime", f"service {t.instance} {where}", {"active": True},
                              None if purge else {"active": False}, t))
    db = state.db.get(t.database, {}) if t.database != "none" else {}
    has_db = bool(db.get("ok")) and t.db_name in db.get("databases", [])
    if t.database != "none" and not db.get("ok") and (changes or purge):
        name = "MariaDB" if t.database == "mariadb" else "PostgreSQL"
        raise DatabaseUnavailable(f"{name} on {t.host} is not answering, so the database cannot be dumped: "
                                  f"{db.get('error') or 'no reply'}.", "Start it and run again. Nothing was changed.")
    purge_more = purge and (has_db or s["user"] or s["root"] or s["vhost"] or s.get("cert_pem") or s["pool_disabled"])
    dump = ""
    if has_db and (changes or purge_more):
        ext = "sql.gz" if t.database == "mariadb" else "dump"
        dump = f"{DUMP_DIR}/{t.instance}/{t.db_name}-{stamp:%Y%m%dT%H%M%SZ}.{ext}"
        changes.append(Change("create", "hosting.dump", f"{dump} {where}", None,
                              {"engine": t.database, "database": t.db_name, "restore": restore_hint(t, dump)}, t))
    if purge:
        if has_db:
            changes.append(Change("delete", "hosting.database", f"{t.database} {t.db_name} {where}",
                                  {"database": t.db_name, "user": t.db_name}, None, t))
        if s.get("cert_pem"):
            changes.append(Change("delete", "hosting.tls", f"{t.domain} {where}", {"names": t.server_names}, None, t))
        if s["vhost"] or s["pool_disabled"]:
            changes.append(Change("delete", "hosting.config", f"vhost and pool files of {t.instance} {where}",
                                  {"vhost": s["vhost"], "pool": s["pool_disabled"]}, None, t))
        if s["user"] or s["root"]:
            changes.append(Change("delete", "hosting.user", f"{t.instance} {where}",
                                  {"user": t.instance, "home": t.root}, None, t))
    return changes, dump


def restore_hint(t: HostingTarget, dump: str) -> str:
    if t.database == "mariadb":
        return f"mariadb -e 'CREATE DATABASE {t.db_name}' && gunzip -c {dump} | mariadb {t.db_name}"
    return f"runuser -u postgres -- createdb {t.db_name} && runuser -u postgres -- pg_restore -d {t.db_name} {dump}"
