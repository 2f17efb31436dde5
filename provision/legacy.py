"""`provision import`: the applications that existed before the toolkit, as legacy records.

    estate = read_estate(app)                       # AXFR + one SSH round trip per host
    plans, review = plan_import(app, estate, mapping)  # [legacy plan, DNS ownership plan]
    apply_legacy(app, plans[0])                     # requests and hosting rows, audited

An application is one enabled nginx site on an inventory server (its names, document
root, certificate, PHP pool), or a zone name with no site that the map attributes. The
map (`--map FILE`, YAML) says which OPD owns what; an application without an OPD is
listed for a person to decide, never imported. Each imported application becomes a
request of kind "legacy" (no SOP steps) whose `imported` field names the source of every
fact, a hosting registry row, and ownership records for its names in the zone (adopted
as `dns apply --adopt` does, with the reason in the audit log). Importing again finds the
applications by their key (host and site file, or zone name) and plans nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype

from provision.errors import Problem, ProvisionError, ValidationError
from provision.plan import ApplyReport, Change, Plan

PROVIDER = "legacy"
OPD_FIELDS = ("opd_code", "opd_name", "application")


@dataclass(frozen=True)
class Owner:
    """One map entry: who owns a name or a site."""

    opd_code: str
    opd_name: str
    application: str


def load_map(path: str | None) -> dict[str, Owner]:
    """`--map FILE`: {name or site file: {opd_code, opd_name, application}}. Checked whole
    before anything is read (ValidationError names each bad field, exit 2)."""
    if not path:
        return {}
    import yaml

    from provision.requests import OPD_CODE

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ValidationError([Problem("--map", f"cannot read {path}: {e}")], "import map") from e
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise ValidationError([Problem("--map", "must be a mapping of name or site -> "
                                       "{opd_code, opd_name, application}")], "import map")
    out: dict[str, Owner] = {}
    for key, body in data.items():
        where = str(key)
        if not isinstance(body, dict):
            problems.append(Problem(where, "must be a mapping with opd_code, opd_name, application"))
            continue
        for f in sorted(set(body) - set(OPD_FIELDS)):
            problems.append(Problem(f"{where}.{f}", "unknown field (opd_code, opd_name, application)"))
        for f in OPD_FIELDS:
            v = body.get(f)
            if not isinstance(v, str) or not v.strip() or len(v) > 200:
                problems.append(Problem(f"{where}.{f}", "required: text of 1-200 characters"))
        if isinstance(body.get("opd_code"), str) and not OPD_CODE.match(body["opd_code"]):
            problems.append(Problem(f"{where}.opd_code", "must be 2-32 lowercase letters, digits or hyphens, "
                                    "starting with a letter"))
        if not problems:
            out[where.rstrip(".").lower()] = Owner(body["opd_code"], body["opd_name"].strip(),
                                                   body["application"].strip())
    if problems:
        raise ValidationError(problems, "import map")
    return out


@dataclass
class Estate:
    """What exists: the zone as transferred and each inventory host's enabled sites."""

    zone: Any  # provision.dns.zone.ZoneState
    primary: str
    sites: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    projects: list[dict[str, Any]] = field(default_factory=list)  # GitLab projects under the root group
    gitlab_source: str = ""  # "" when gitlab.url is not set: no project is linked


def read_estate(app: Any) -> Estate:
    from concurrent.futures import ThreadPoolExecutor

    from provision.dns import DnsProvider
    from provision.hosting.vhosts import read_sites
    from provision.install.inventory import load_inventory

    dnsp = DnsProvider.from_config(app.config)
    zone = dnsp.read_zone()
    cfg = app.config.hosting
    inv = load_inventory(cfg.inventory)
    hosts = inv.hosts

    def one(host: str) -> list[dict[str, Any]]:
        return read_sites(host, inv.connection(host), cfg.ssh_config, cfg.known_hosts)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(hosts)))) as pool:
        sites = dict(zip(hosts, pool.map(one, hosts)))
    estate = Estate(zone, dnsp.transport.primary_text, sites)
    g = app.config.gitlab
    if g.url and g.root_group:
        from provision.gitlab.client import GitLabClient, enc

        client = GitLabClient.from_config(app.config)
        estate.projects = [{"path": p["path"], "full_path": p["path_with_namespace"], "id": p["id"]}
                           for p in client.list(f"/groups/{enc(g.root_group)}/projects",
                                                "the projects under the root group", include_subgroups=True)]
        estate.gitlab_source = f"GitLab {g.url}, projects under {g.root_group}"
    return estate


def match_project(estate: Estate, c: Candidate) -> tuple[dict[str, Any] | None, str | None]:
    """The GitLab project whose path is the site file's stem or a name's first label; a
    note instead when several match (a person links it)."""
    keys = {n.split(".")[0] for n in c.names}
    if c.site is not None:
        keys.add(c.site["file"][:-5] if c.site["file"].endswith(".conf") else c.site["file"])
    found = [p for p in estate.projects if p["path"].lower() in keys]
    if len(found) > 1:
        return None, f"{len(found)} GitLab projects match ({', '.join(p['full_path'] for p in found)}): none linked"
    return (found[0], None) if found else (None, None)


@dataclass
class Candidate:
    """One application found: a site (host + file) or a zone name without a site."""

    key: str
    names: list[str]  # lowercase, no trailing dot
    host: str | None = None
    site: dict[str, Any] | None = None
    owner: Owner | None = None
    request_id: str | None = None  # an earlier import's request
    notes: list[str] = field(default_factory=list)


@dataclass
class Review:
    """What a person must decide: applications without an OPD, names nobody can attribute."""

    unmapped: list[dict[str, Any]] = field(default_factory=list)
    unattributed: list[str] = field(default_factory=list)
    imported: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"applications": self.imported, "unmapped": self.unmapped, "unattributed": self.unattributed}


def _data_names(zone: Any, prefix: str) -> list[dns.name.Name]:
    ns = zone.rrsets.get((zone.origin, dns.rdatatype.NS))
    glue = {rd.target for rd in ns.rdatas} if ns else set()
    out = []
    for name in sorted(zone.by_name):
        if name == zone.origin or name in glue or not zone.by_name.get(name):
            continue
        if name.labels and name.labels[0].lower() == prefix.encode().lower():
            continue
        out.append(name)
    return out


def _text(name: dns.name.Name) -> str:
    return name.to_text().rstrip(".").lower()


def _legacy_rows(app: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """key -> (request ID, imported facts) of every earlier import."""
    from sqlalchemy import select

    from provision.store.models import Request

    with app.store.read() as s:
        rows = s.execute(select(Request.id, Request.imported).where(Request.kind == "legacy")).all()
    out = {}
    for rid, text in rows:
        facts = json.loads(text or "{}")
        out[facts.get("key", rid)] = (rid, facts)
    return out


def find_candidates(app: Any, estate: Estate, mapping: dict[str, Owner]) -> tuple[list[Candidate], Review]:
    zone, prefix = estate.zone, app.config.dns.ownership_prefix
    earlier = _legacy_rows(app)
    in_zone = {_text(n): n for n in _data_names(zone, prefix)}
    covered: set[str] = set()
    found: list[Candidate] = []
    for host in sorted(estate.sites):
        for site in estate.sites[host]:
            names = [n.rstrip(".").lower() for n in site["names"]]
            if not names:  # a catch-all (server_name _, the distribution's default): no application
                continue
            covered |= set(names)
            stem = site["file"][:-5] if site["file"].endswith(".conf") else site["file"]
            owner = next((mapping[k] for k in [f"{host}:{stem}", stem, site["file"], *names] if k in mapping), None)
            found.append(Candidate(f"site:{host}:{site['file']}", names, host, site, owner))
    for text, name in sorted(in_zone.items()):
        if text in covered or name in zone.owners:
            continue
        found.append(Candidate(f"dns:{text}", [text], owner=mapping.get(text)))
    review = Review()
    out: list[Candidate] = []
    for c in found:
        if c.key in earlier:
            c.request_id = earlier[c.key][0]
            facts = earlier[c.key][1]
            c.owner = c.owner or Owner(facts["opd"]["opd_code"], facts["opd"]["opd_name"], facts["application"])
        if c.owner is None:
            if c.site is None:
                review.unattributed.append(c.names[0])
            else:
                review.unmapped.append({"host": c.host, "site": c.site["file"], "names": c.names})
            continue
        out.append(c)
    return out, review


def _facts(c: Candidate, estate: Estate, mapping_file: str | None) -> dict[str, Any]:
    """Every fact of the application with where it came from."""
    from provision.hosting.tls import parse_pem

    assert c.owner is not None
    zone_src = f"AXFR of {estate.zone.origin.to_text()} from {estate.primary}, serial {estate.zone.serial}"
    facts: dict[str, Any] = {"key": c.key, "opd": {"opd_code": c.owner.opd_code, "opd_name": c.owner.opd_name},
                             "application": c.owner.application, "sources": {}}
    src = facts["sources"]
    src["opd"] = src["application"] = f"map {mapping_file}" if mapping_file else "an earlier import"
    names_in_zone = [n for n in c.names if dns.name.from_text(n + ".") in estate.zone.by_name]
    facts["names"] = c.names
    facts["names_in_zone"] = names_in_zone
    src["names_in_zone"] = zone_src
    if c.site is not None:
        site_src = f"nginx site /etc/nginx/sites-enabled/{c.site['file']} on {c.host} (over SSH)"
        facts.update(host=c.host, site=c.site["file"], root=c.site["root"], php_socket=c.site["php_socket"],
                     certificate=c.site["cert"])
        for k in ("host", "names", "site", "root", "php_socket", "certificate"):
            src[k] = site_src
        info = parse_pem(c.site["cert_pem"]) if c.site.get("cert_pem") else None
        facts["tls_expiry"] = info.not_after.isoformat() if info else None
        src["tls_expiry"] = f"certificate {c.site['cert']} on {c.host}" if info else "no readable certificate"
    project, _ = match_project(estate, c)
    if project is not None:
        facts["gitlab_project"] = project["full_path"]
        src["gitlab_project"] = estate.gitlab_source
    return facts


def _notes(c: Candidate, facts: dict[str, Any], now: dt.datetime) -> list[str]:
    label = facts["application"]
    out = []
    missing = [n for n in c.names if n not in facts["names_in_zone"]]
    if c.site is not None and missing:
        out.append(f"{label}: {', '.join(missing)} not in the zone (a site without DNS)")
    exp = facts.get("tls_expiry")
    if c.site is not None and exp and dt.datetime.fromisoformat(exp) < now:
        out.append(f"{label}: the certificate {facts['certificate']} expired on {exp[:10]}")
    if c.site is not None and not c.site.get("root_exists", True):
        out.append(f"{label}: the document root {facts['root']} does not exist")
    if c.site is None:
        out.append(f"{label}: {c.names[0]} has no nginx site on an inventory server (ownership only)")
    return out


def _hosting_row(facts: dict[str, Any]) -> dict[str, Any] | None:
    if not facts.get("host"):
        return None
    return {"host": facts["host"], "domain": facts["names"][0] if facts["names"] else facts["site"],
            "runtime": "php" if facts.get("php_socket") else "static", "database": "none",
            "tls_expiry": facts.get("tls_expiry"), "status": "active"}


def plan_import(app: Any, estate: Estate, mapping: dict[str, Owner],
                mapping_file: str | None = None) -> tuple[list[Plan], Review]:
    """The legacy plan (requests, hosting rows) and the DNS plan (ownership records)."""
    from provision.dns.planner import make_plan
    from provision.hosting import registry

    candidates, review = find_candidates(app, estate, mapping)
    zone = estate.zone
    legacy = Plan(PROVIDER, "import", existing=len(_legacy_rows(app)))
    dns_changes: list[Change] = []
    dns_notes: list[str] = []
    adopted: dict[str, dict[str, Any]] = {}
    next_n = _next_number(app)
    now = dt.datetime.now(dt.UTC)
    ttl = min(max(300, app.config.dns.ttl_min), app.config.dns.ttl_max)
    for c in candidates:
        assert c.owner is not None
        facts = _facts(c, estate, mapping_file)
        rid = c.request_id
        if rid is None:
            rid = f"{app.requests.prefix}-{app.requests.today().year}-{next_n:04d}"
            next_n += 1
            legacy.changes.append(Change("create", "legacy.request", rid, after={
                "opd_code": c.owner.opd_code, "opd_name": c.owner.opd_name,
                "application": c.owner.application, "key": c.key, "gitlab_project": facts.get("gitlab_project"),
                "sources": facts["sources"]},
                data=facts))
        else:  # an earlier import: link a GitLab project found since
            known = _legacy_rows(app)[c.key][1]
            if facts.get("gitlab_project") and known.get("gitlab_project") != facts["gitlab_project"]:
                linked = {**known, "gitlab_project": facts["gitlab_project"],
                          "sources": {**known.get("sources", {}), "gitlab_project": estate.gitlab_source}}
                legacy.changes.append(Change("update", "legacy.request", rid,
                                             before={"gitlab_project": known.get("gitlab_project")},
                                             after={"gitlab_project": facts["gitlab_project"]}, data=linked))
        review.imported.append({"request": rid, "application": c.owner.application, "opd": c.owner.opd_code,
                                "names": c.names, "host": c.host, "gitlab_project": facts.get("gitlab_project")})
        legacy.notes += _notes(c, facts, now)
        ambiguous = match_project(estate, c)[1]
        if ambiguous:
            legacy.notes.append(f"{c.owner.application}: {ambiguous}")
        row = _hosting_row(facts)
        if row is not None:
            before = _registry_row(registry.get(app.store, rid))
            if before != row:
                legacy.changes.append(Change("update" if before else "create", "hosting.registry", rid,
                                             before=before, after=row, data=row))
        wanted = {k: v for k, v in zone.rrsets.items()
                  if _text(k[0]) in facts["names_in_zone"] and k[0] not in zone.owners}
        if wanted:
            reason = f"provision import: legacy application {c.owner.application} ({c.key})"
            p = make_plan(zone, wanted, rid, c.owner.opd_name, estate.primary, adopt=True, reason=reason,
                          owner_ttl=ttl)
            dns_changes += p.changes
            dns_notes += p.notes
            adopted[rid] = {"reason": reason, "names": sorted({_text(k[0]) for k in wanted})}
    dnsplan = Plan("dns", "import", changes=dns_changes, existing=zone.count(), notes=dns_notes, meta={
        "zone": zone.origin.to_text(), "primary": estate.primary, "serial": zone.serial,
        "soa": zone.soa.to_text()})
    dnsplan.data["adopted"] = adopted
    return [legacy, dnsplan], review


def _registry_row(row: Any) -> dict[str, Any] | None:
    """A hosting row as _hosting_row writes it (the database may drop the time zone)."""
    if row is None:
        return None
    exp = row.tls_expiry
    if exp is not None and exp.tzinfo is None:
        exp = exp.replace(tzinfo=dt.UTC)
    return {"host": row.host, "domain": row.domain, "runtime": row.runtime, "database": row.database,
            "tls_expiry": exp.isoformat() if exp else None, "status": row.status}


def _next_number(app: Any) -> int:
    rid = app.requests._next_id(app.requests.today().year)
    return int(rid.rsplit("-", 1)[1])


def apply_legacy(app: Any, plan: Plan) -> ApplyReport:
    """Write the legacy requests and hosting rows, each audited (attempt, then outcome).
    A request ID taken since the plan fails that change (IntegrityError): plan again."""
    from sqlalchemy.exc import IntegrityError

    from provision.audit import utcnow
    from provision.hosting import registry
    from provision.store.models import Request

    report = ApplyReport(plan)
    today = app.requests.today()
    for i, c in enumerate(plan.changes):
        aid = app.audit.attempt(PROVIDER, c)
        try:
            if c.kind == "legacy.request" and c.action == "update":
                with app.store.write() as s:
                    req = s.get(Request, c.target)
                    req.imported = json.dumps(c.data, sort_keys=True)
            elif c.kind == "legacy.request":
                f = c.data
                with app.store.write() as s:
                    s.add(Request(id=c.target, opd_code=f["opd"]["opd_code"], opd_name=f["opd"]["opd_name"],
                                  app_name=f["application"], letter_number="-", letter_date=today,
                                  status="open", opened_at=utcnow(), opened_by=app.audit.actor,
                                  current_step=None, current_due=None, kind="legacy",
                                  imported=json.dumps(f, sort_keys=True)))
            else:
                r = c.data
                exp = dt.datetime.fromisoformat(r["tls_expiry"]) if r["tls_expiry"] else None
                registry.upsert(app.store, c.target, host=r["host"], domain=r["domain"], runtime=r["runtime"],
                                database=r["database"], tls_expiry=exp, status=r["status"])
        except (IntegrityError, ProvisionError) as e:
            why = "the request ID was taken since the plan" if isinstance(e, IntegrityError) else str(e)
            app.audit.failed(aid, PROVIDER, c, why)
            report.failed.append((c, why))
            report.not_attempted = plan.changes[i + 1:]
            return report
        app.audit.succeeded(aid, PROVIDER, c)
        report.applied.append(c)
    return report
