"""`provision doctor`: everything the configuration depends on, checked once, each item
with a result (pass, warn, fail, skip), a hint and a documented code (DR-...,
docs/troubleshooting.md, "provision doctor").

Read-only: the DNS check sends a signed SOA query and an UPDATE holding only a
prerequisite (nothing to change); SSH runs `sudo -n true` and `dpkg-query`; the state
store is opened without migrating. The core never prints: it returns a Report.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from provision.errors import AuthError, ProvisionError, Unreachable
from provision.placement import DEFAULT_PHP

#: What an application server needs (besides sshd): checked on every inventory host.
#: `provision server prepare` installs the same baseline; keep the two lists one (the lead
#: unifies them). PHP and database packages are added per host from its variables.
BASELINE_PACKAGES: tuple[str, ...] = ("nginx", "git", "acl", "python3", "sudo")
#: PHP versions assumed when a host does not set `provision_php_versions` (a spec's default).
DEFAULT_PHP_VERSIONS: tuple[str, ...] = (DEFAULT_PHP,)
DB_PACKAGES: dict[str, str] = {"mariadb": "mariadb-server", "postgresql": "postgresql"}

#: code -> what it checks (each has an entry in docs/troubleshooting.md).
CODES: dict[str, str] = {
    "DR-CONFIG": "configuration valid and complete for each command group in use",
    "DR-STATE": "state store reachable and writable",
    "DR-SCHEMA": "state store schema current",
    "DR-GITLAB": "GitLab URL reachable",
    "DR-TOKEN": "GitLab token valid and its scopes sufficient",
    "DR-DNS": "DNS primary reachable",
    "DR-TSIG": "TSIG key accepted for queries and updates",
    "DR-VERIFY": "every DNS verification server answering",
    "DR-INVENTORY": "inventory readable",
    "DR-SSH": "inventory host reachable with its pinned key",
    "DR-SUDO": "sudo working on the host",
    "DR-PACKAGES": "application server packages present",
    "DR-ACME": "ACME directory reachable",
    "DR-DIR": "output directory writable by this user",
}


@dataclass
class Item:
    code: str
    name: str  # what was checked, e.g. "GitLab token" or "host web1: sudo"
    status: str  # pass | warn | fail | skip
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Report:
    items: list[Item] = field(default_factory=list)

    def add(self, code: str, name: str, status: str, message: str, hint: str = "") -> Item:
        assert code in CODES and status in ("pass", "warn", "fail", "skip")
        item = Item(code, name, status, message, hint)
        self.items.append(item)
        return item

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(i.status == s for i in self.items) for s in ("pass", "warn", "fail", "skip")}

    @property
    def ok(self) -> bool:
        """Nothing failed (warnings and skipped groups allowed: docs/operations.md)."""
        return self.counts["fail"] == 0

    def line(self) -> str:
        c = self.counts
        return f"{c['pass']} passed, {c['warn']} warnings, {c['fail']} failed, {c['skip']} skipped"


def _err(e: BaseException) -> tuple[str, str]:
    if isinstance(e, ProvisionError):
        return str(e.args[0] if e.args else e), e.hint or ""
    return f"{type(e).__name__}: {e}", ""


# ---- configuration ------------------------------------------------------------------------

def check_configuration(config: Any, report: Report) -> dict[str, str]:
    """DR-CONFIG: check_config's problems, then each command group's keys. Returns each
    group's state (configured, not configured, partial)."""
    from provision.config import check_config, group_status

    problems = check_config(config)
    if problems:
        report.add("DR-CONFIG", "configuration", "fail",
                   "; ".join(f"{p.field}: {p.message}" for p in problems),
                   "Run `provision config check` and correct each key it names.")
    else:
        report.add("DR-CONFIG", "configuration", "pass", f"valid ({config.file or 'defaults and environment'})")
    states: dict[str, str] = {}
    for g in group_status(config):
        states[g.group] = g.state
        if g.state == "configured":
            report.add("DR-CONFIG", f"group {g.group}", "pass", "configured")
        elif g.state == "not configured":
            report.add("DR-CONFIG", f"group {g.group}", "skip", f"not configured (missing {', '.join(g.missing)})",
                       f"Set {', '.join(g.missing)} to use `provision {g.group}`.")
        else:
            report.add("DR-CONFIG", f"group {g.group}", "fail", f"partly configured: missing {', '.join(g.missing)}",
                       f"Set {', '.join(g.missing)} (docs/configuration.md), or remove the group's other keys.")
    return states


# ---- state store --------------------------------------------------------------------------

def check_state(config: Any, report: Report) -> None:
    """DR-STATE and DR-SCHEMA: opened without migrating and without creating anything."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    from provision.secrets import REDACTOR
    from provision.store.db import HEAD_REVISION, _known_revision

    url = config.database_url
    shown = REDACTOR.text(url)
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1]) if "///" in url else None
        if path is not None and not path.exists():
            parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("/"))
            if os.access(parent, os.W_OK | os.X_OK):
                report.add("DR-STATE", "state store", "pass", f"{shown} does not exist yet; {parent} is writable")
                report.add("DR-SCHEMA", "state schema", "warn", f"empty: the first command creates schema {HEAD_REVISION}",
                           "Run `provision db upgrade` to create it now.")
            else:
                report.add("DR-STATE", "state store", "fail", f"{shown} does not exist and this user cannot create it "
                           f"({parent} is not writable)", "Give this user write access to general.state_dir "
                           "(the kominfo-provision group, docs/operations.md), or set database.url.")
                report.add("DR-SCHEMA", "state schema", "skip", "no state store")
            return
        if path is not None and not (os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
            report.add("DR-STATE", "state store", "fail", f"{shown} is not readable and writable by this user",
                       "Add this user to the kominfo-provision group (docs/operations.md).")
            report.add("DR-SCHEMA", "state schema", "skip", "state store not usable")
            return
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        try:
            password = config.secret("database", "password")
        except ProvisionError as e:
            report.add("DR-STATE", "state store", "fail", *_err(e))
            return
        kwargs["connect_args"] = {"connect_timeout": 10, **({"password": password} if password else {})}
    try:
        engine = create_engine(url, **kwargs)
        with engine.connect() as conn:
            try:
                rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except SQLAlchemyError:
                conn.rollback()
                rev = None
            read_only = (url.startswith("postgresql")
                         and conn.execute(text("SHOW transaction_read_only")).scalar() == "on")
        engine.dispose()
    except (SQLAlchemyError, ModuleNotFoundError) as e:
        first = REDACTOR.text(str(getattr(e, "orig", None) or e)).splitlines()[0]
        report.add("DR-STATE", "state store", "fail", f"cannot open {shown}: {first}",
                   "Check database.url / PROVISION_DATABASE_URL, that the server is up, and for "
                   "PostgreSQL the postgresql extra (pip install 'kominfo-provision[postgresql]').")
        report.add("DR-SCHEMA", "state schema", "skip", "state store not reachable")
        return
    if read_only:
        report.add("DR-STATE", "state store", "fail", f"{shown} is read-only", "Point database.url at the primary.")
    else:
        report.add("DR-STATE", "state store", "pass", f"{shown} reachable and writable")
    if rev == HEAD_REVISION:
        report.add("DR-SCHEMA", "state schema", "pass", f"at {HEAD_REVISION}")
    elif rev is None:
        report.add("DR-SCHEMA", "state schema", "warn", f"empty: the first command creates schema {HEAD_REVISION}",
                   "Run `provision db upgrade` to create it now.")
    elif not _known_revision(rev):
        report.add("DR-SCHEMA", "state schema", "fail", f"at {rev}, newer than this toolkit knows ({HEAD_REVISION})",
                   "Upgrade kominfo-provision on this machine.")
    else:
        report.add("DR-SCHEMA", "state schema", "fail", f"at {rev}, not {HEAD_REVISION}", "Run `provision db upgrade`.")


# ---- GitLab -------------------------------------------------------------------------------

def check_gitlab(config: Any, report: Report) -> None:
    from provision.gitlab.client import GitLabClient, ScopeError

    try:
        client = GitLabClient.from_config(config)
        info = client.check_token()
    except Unreachable as e:
        report.add("DR-GITLAB", "GitLab URL", "fail", *_err(e))
        report.add("DR-TOKEN", "GitLab token", "skip", "GitLab not reachable")
        return
    except ScopeError as e:
        report.add("DR-GITLAB", "GitLab URL", "pass", f"{config.gitlab.url} answers")
        report.add("DR-TOKEN", "GitLab token", "fail", *_err(e))
        return
    except AuthError as e:
        report.add("DR-GITLAB", "GitLab URL", "pass", f"{config.gitlab.url} answers")
        report.add("DR-TOKEN", "GitLab token", "fail", *_err(e))
        return
    except ProvisionError as e:
        report.add("DR-GITLAB", "GitLab URL", "fail", *_err(e))
        report.add("DR-TOKEN", "GitLab token", "skip", "GitLab not usable")
        return
    report.add("DR-GITLAB", "GitLab URL", "pass", f"{config.gitlab.url} answers")
    scopes = ", ".join(info.get("scopes") or []) or "unknown (GitLab before 15.5)"
    report.add("DR-TOKEN", "GitLab token", "pass", f"valid, scopes: {scopes}")


# ---- DNS ----------------------------------------------------------------------------------

def check_dns(config: Any, report: Report) -> None:
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype

    from provision.dns.errors import rcode_error, translate
    from provision.dns.transport import Transport, load_keyring, parse_server, server_text

    d = config.dns
    zone = dns.name.from_text(d.zone)
    try:
        keyring = load_keyring(d.tsig_key_file)
    except ProvisionError as e:
        report.add("DR-TSIG", "TSIG key", "fail", *_err(e))
        return
    t = Transport(zone, parse_server(d.primary), keyring, d.timeout)
    host, port = t.primary
    where = server_text(host, port)
    q = dns.message.make_query(zone, dns.rdatatype.SOA)
    q.use_tsig(keyring, keyname=t.keyname)
    try:
        r = dns.query.tcp(q, host, port=port, timeout=d.timeout)
        if r.rcode() != dns.rcode.NOERROR:
            raise rcode_error(r.rcode(), where, d.zone, f"signed SOA query for {d.zone}")
    except Exception as e:  # noqa: BLE001 - translated and reported
        err = translate(e, where, d.zone, f"signed SOA query for {d.zone}")
        if isinstance(err, AuthError):
            report.add("DR-DNS", "DNS primary", "pass", f"{where} answers")
            report.add("DR-TSIG", "TSIG key", "fail", *_err(err))
        else:
            report.add("DR-DNS", "DNS primary", "fail", *_err(err))
            report.add("DR-TSIG", "TSIG key", "skip", "DNS primary not reachable")
        return
    report.add("DR-DNS", "DNS primary", "pass", f"{where} answers for {d.zone}")
    # An UPDATE whose only content is a prerequisite ("the zone's SOA exists"): the server
    # checks the key and its policy, and there is nothing to change.
    upd = t.new_update()
    upd.present(zone, dns.rdatatype.SOA)
    try:
        t.send_update(upd, f"prerequisite-only update of {d.zone}")
    except ProvisionError as e:
        report.add("DR-TSIG", "TSIG key", "fail", *_err(e))
    else:
        report.add("DR-TSIG", "TSIG key", "pass", f"key {t.keyname} signs queries and updates on {where}")
    if not d.verify_servers:
        report.add("DR-VERIFY", "DNS verification servers", "skip", "dns.verify_servers is empty: the zone's NS set is used")
    for text_ in d.verify_servers:
        server = parse_server(text_)
        try:
            ans = t.query(server, zone, dns.rdatatype.SOA)
            if ans.rcode() != dns.rcode.NOERROR or not ans.answer:
                raise rcode_error(ans.rcode(), text_, d.zone, f"SOA query for {d.zone}")
        except ProvisionError as e:
            report.add("DR-VERIFY", f"DNS verification server {text_}", "fail", *_err(e))
        else:
            report.add("DR-VERIFY", f"DNS verification server {text_}", "pass", f"serves {d.zone}")


# ---- inventory hosts ----------------------------------------------------------------------

def host_packages(hostvars: dict[str, Any]) -> list[str]:
    """The packages a host needs: the baseline, php<V>-fpm for each PHP version and the DB servers."""
    php = hostvars.get("provision_php_versions") or list(DEFAULT_PHP_VERSIONS)
    dbs = hostvars.get("provision_db_engines") or []
    return [*BASELINE_PACKAGES, *(f"php{v}-fpm" for v in php), *(DB_PACKAGES[e] for e in dbs if e in DB_PACKAGES)]


def check_hosts(config: Any, report: Report, timeout: float = 15, acme: bool = False) -> None:
    from provision.install.inventory import load_inventory
    from provision.install.remote import connect

    try:
        inventory = load_inventory(config.hosting.inventory)
    except ProvisionError as e:
        report.add("DR-INVENTORY", "inventory", "fail", *_err(e))
        return
    report.add("DR-INVENTORY", "inventory", "pass", f"{len(inventory.hosts)} host(s) in {inventory.path}")
    for host in inventory.hosts:
        try:
            conn = connect(config, inventory, host, timeout=timeout)
        except ProvisionError as e:
            report.add("DR-SSH", f"host {host}: SSH", "fail", *_err(e))
            continue
        try:
            report.add("DR-SSH", f"host {host}: SSH", "pass", "reachable, host key matches hosting.known_hosts")
            r = conn.run("sudo -n true", warn=True, hide=True, in_stream=False, timeout=timeout)
            if r.exited != 0:
                report.add("DR-SUDO", f"host {host}: sudo", "fail",
                           f"`sudo -n true` as {conn.user} failed: {(r.stderr or '').strip()[:200]}",
                           f"Give {conn.user} passwordless sudo (a file in /etc/sudoers.d) on {host}.")
            else:
                report.add("DR-SUDO", f"host {host}: sudo", "pass", f"{conn.user} has passwordless sudo")
            wanted = host_packages(inventory.hostvars.get(host, {}))
            r = conn.run("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' " + " ".join(wanted),
                         warn=True, hide=True, in_stream=False, timeout=timeout)
            installed = {ln.split()[0] for ln in r.stdout.splitlines() if len(ln.split()) > 1 and ln.split()[1] == "ii"}
            missing = [p for p in wanted if p not in installed]
            if missing:
                report.add("DR-PACKAGES", f"host {host}: packages", "fail", f"missing: {', '.join(missing)}",
                           f"Install them (apt-get install {' '.join(missing)}) or run `provision server prepare {host}`.")
            else:
                report.add("DR-PACKAGES", f"host {host}: packages", "pass", f"present: {', '.join(wanted)}")
            if acme:
                check_acme(config, conn, host, report, timeout)
        finally:
            conn.close()


# ---- ACME ---------------------------------------------------------------------------------

#: Run on an application server (python3 is in the baseline): certbot runs there, so the
#: ACME directory must answer there, trusting hosting.acme_ca_bundle when it is set.
ACME_PROBE = r"""
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cadata=sys.argv[2] or None)
try:
    d = json.load(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=float(sys.argv[3])))
except Exception as e:
    sys.stdout.write(f"{type(e).__name__}: {e}"[:300]); raise SystemExit(1)
if not isinstance(d, dict) or "newAccount" not in d or "newOrder" not in d:
    sys.stdout.write("the answer is not an ACME directory (no newAccount, newOrder)"); raise SystemExit(1)
"""
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


def check_acme(config: Any, conn: Any, host: str, report: Report, timeout: float) -> None:
    import shlex

    h = config.hosting
    url = h.acme_server or LETS_ENCRYPT
    cadata = Path(h.acme_ca_bundle).expanduser().read_text() if h.acme_ca_bundle else ""
    line = " ".join(shlex.quote(a) for a in ("python3", "-c", ACME_PROBE, url, cadata, str(timeout)))
    r = conn.run(line, warn=True, hide=True, in_stream=False, timeout=timeout + 5)
    if r.exited != 0:
        report.add("DR-ACME", f"host {host}: ACME directory", "fail", f"{url}: {(r.stdout or r.stderr).strip()[:300]}",
                   f"Check hosting.acme_server, hosting.acme_ca_bundle and the network path from {host} to the CA.")
    else:
        report.add("DR-ACME", f"host {host}: ACME directory", "pass", f"{url} answers from {host}")


# ---- directories --------------------------------------------------------------------------

def check_dirs(config: Any, report: Report, textfile: str | None) -> None:
    from provision.checks.output import check_writable

    reports = Path(config.reports.output_dir).expanduser() if config.reports.output_dir else config.state_dir / "reports"
    targets = [("reports.output_dir", reports / ".doctor")]
    if textfile:
        targets.append(("--textfile", Path(textfile)))
    for what, path in targets:
        d = path.parent
        if what == "reports.output_dir" and not d.exists():
            parent = next((p for p in d.parents if p.exists()), Path("/"))
            if os.access(parent, os.W_OK | os.X_OK):
                report.add("DR-DIR", f"{what} {d}", "pass", f"does not exist yet; created under {parent}")
                continue
        try:
            check_writable(path, what)
        except ProvisionError as e:
            report.add("DR-DIR", f"{what} {d}", "fail", *_err(e))
        else:
            report.add("DR-DIR", f"{what} {d}", "pass", "writable by this user")


def run_doctor(config: Any, textfile: str | None = None, ssh_timeout: float = 15) -> Report:
    """Every check, in order; a group that is not configured is skipped."""
    report = Report()
    groups = check_configuration(config, report)
    check_state(config, report)
    if groups.get("repo") == "configured":
        check_gitlab(config, report)
    if groups.get("dns") == "configured":
        check_dns(config, report)
    if config.hosting.inventory and config.hosting.known_hosts:
        acme = groups.get("hosting") == "configured" and config.hosting.tls_source == "acme"
        check_hosts(config, report, ssh_timeout, acme=acme)
    check_dirs(config, report, textfile)
    return report
