"""What one request made, everywhere, with its own names replaced by placeholders, so
two requests' results can be compared: the zone, the GitLab emulator, the server's files,
users, databases and services, the state database and the audit log.

    snap = snapshot(stack, rid, slug)
    diff(snap_a, snap_b)    # [] when equal; else one line per difference

Everything is a sorted list of strings (or counts), so a duplicate shows up as a line
twice and a missing thing as a missing line.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from typing import Any

import dns.name
import dns.rdatatype
import requests

from tests.e2e.stack import Stack

Snapshot = dict[str, Any]


def normaliser(rid: str, slug: str, extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    subs = {rid: "{REQ}", slug: "{APP}", slug.capitalize(): "{APP}", **(extra or {})}
    pattern = re.compile("|".join(re.escape(k) for k in sorted(subs, key=len, reverse=True)))

    def norm(text: str) -> str:
        text = pattern.sub(lambda m: subs[m.group(0)], str(text))
        text = re.sub(r"\b[0-9a-f]{40}\b", "{SHA}", text)
        return re.sub(r"\b[0-9a-f]{12}\b", "{COMMIT}", text)

    return norm


# -- the zone ---------------------------------------------------------------------------
def zone_lines(stack: Stack) -> list[tuple[str, str, int, str]]:
    """Every record of the zone (by AXFR from the primary): (name, type, ttl, rdata)."""
    from provision.dns.transport import Transport, load_keyring

    cfg = stack.settings()["dns"]
    host, port = cfg["primary"].rsplit(":", 1)
    zone = Transport(dns.name.from_text(cfg["zone"]), (host, int(port)), load_keyring(cfg["tsig_key_file"]),
                     timeout=10).axfr()
    out = []
    for name, node in zone.nodes.items():
        for rds in node.rdatasets:
            for rd in rds:
                out.append((str(name), dns.rdatatype.to_text(rds.rdtype), rds.ttl, rd.to_text()))
    return out


def zone_part(lines: list[tuple[str, str, int, str]], rid: str, slug: str) -> list[str]:
    norm = normaliser(rid, slug)
    return sorted(norm(f"{n} {t} {ttl} {rd}") for n, t, ttl, rd in lines
                  if slug in n or rid in rd or slug in rd)


# -- GitLab ------------------------------------------------------------------------------
def gitlab_part(stack: Stack, rid: str, slug: str) -> list[str]:
    cfg = stack.settings()
    url, token = cfg["gitlab"]["url"], open(cfg["gitlab"]["token_file"]).read().strip()
    norm = normaliser(rid, slug)

    def get(route: str) -> Any:
        r = requests.get(f"{url}/api/v4{route}", headers={"PRIVATE-TOKEN": token}, timeout=10,
                         params={"per_page": 100})
        if r.status_code == 404 and route.endswith(("/protected_tags", "/repository/tags")):
            return [{"name": "(no API)"}]  # not in the emulator (the provider does not use them)
        r.raise_for_status()
        return r.json()

    out: list[str] = []
    projects = [p for p in get("/projects") if slug in p["path_with_namespace"] or slug in p["name"]]
    out.append(f"projects named after the app: {len(projects)}")
    for p in projects:
        pid = p["id"]
        keep = ("path_with_namespace", "name", "description", "visibility", "default_branch",
                "merge_method", "only_allow_merge_if_pipeline_succeeds", "issues_enabled",
                "wiki_enabled", "request_access_enabled", "archived", "topics")
        out += [norm(f"project {k}={json.dumps(p.get(k), sort_keys=True)}") for k in keep]
        out += [f"member {m['username']} {m['access_level']}" for m in get(f"/projects/{pid}/members")]
        out += [norm(f"deploy key {k['title']} push={k.get('can_push')}") for k in get(f"/projects/{pid}/deploy_keys")]
        for b in get(f"/projects/{pid}/protected_branches"):
            levels = {k: sorted(a.get("access_level") for a in b.get(k, []))
                      for k in ("push_access_levels", "merge_access_levels")}
            out.append(f"protected branch {b['name']} {json.dumps(levels, sort_keys=True)}")
        for t in get(f"/projects/{pid}/protected_tags"):
            out.append(f"protected tag {t['name']} {sorted(a.get('access_level') for a in t.get('create_access_levels') or [])}")
        out += [norm(f"variable {v['key']} protected={v.get('protected')} masked={v.get('masked')} "
                     f"scope={v.get('environment_scope')}") for v in get(f"/projects/{pid}/variables")]
        out += [f"branch {b['name']}" for b in get(f"/projects/{pid}/repository/branches")]
        out += [f"tag {t['name']}" for t in get(f"/projects/{pid}/repository/tags")]
    return sorted(out)


# -- the server --------------------------------------------------------------------------
SERVER_SCRIPT = r"""
set -u
app="$1"; rid="$2"
for d in /srv/apps/"$app" /srv/apps/"$app"-staging; do
  [ -e "$d" ] && find "$d" -path '*/cache/.git' -prune -o -printf 'file %p %M %u %g %y %l\n'
done
find /etc /var/lib /var/www /tmp /run -xdev \( -name "*$app*" -o -name ".*$app*" \) -not -path '/var/lib/mysql/*/*' \
  -printf 'named %p %M %u %g %y\n' 2>/dev/null
for f in /etc/nginx/sites-available/"$app"*.conf /etc/php/8.2/fpm/pool.d/"$app"*.conf; do
  [ -f "$f" ] && echo "content $f $(sed "s/$rid/{REQ}/g; s/$app/{APP}/g; s/[0-9a-f]\{12\}/{COMMIT}/g" "$f" | sha256sum | cut -c1-16)"
done
for f in /srv/apps/"$app"/shared/.env /srv/apps/"$app"-staging/shared/.env /srv/apps/"$app"/shared/.env.hosting; do
  [ -f "$f" ] && echo "env keys $f $(sed -n 's/^\([A-Z_]*\)=.*/\1/p' "$f" | sort | tr '\n' ' ')"
done
getent passwd | awk -F: -v a="$app" 'index($1, a) == 1 {print "user " $1 " " $6 " " $7}'
getent group | awk -F: -v a="$app" 'index($1, a) == 1 {print "group " $1}'
mysql -N -e "select concat('db ', schema_name) from information_schema.schemata where schema_name like '$app%';
             select concat('db user ', user, '@', host) from mysql.user where user like '$app%';"
runuser -u postgres -- psql -tA -c "select 'pg db ' || datname from pg_database where datname like '$app%'" 2>/dev/null
for s in nginx php8.2-fpm mariadb; do echo "service $s $(systemctl is-active $s)"; done
ls /srv/apps/"$app"/current/public/index.php >/dev/null 2>&1 && echo "current serves index.php"
"""


def server_part(stack: Stack, rid: str, slug: str) -> list[str]:
    r = subprocess.run(["ssh", "-F", str(stack.state / "ssh_config"), "kominfo1", "bash", "-s", "--", slug, rid],
                       input=SERVER_SCRIPT, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"the server snapshot failed: {r.stderr}")
    norm = normaliser(rid, slug)
    return sorted(norm(line) for line in r.stdout.splitlines() if line.strip())


def https_part(stack: Stack, slug: str) -> list[str]:
    """The application over HTTPS through the sandbox's forwarder, trusted by the local CA."""
    p443 = stack.ports[1]
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(stack.state / "ca" / "ca.pem"),
                        "--resolve", f"{slug}.batam.test:{p443}:127.0.0.1", "-o", "/dev/null",
                        "-w", "%{http_code}", f"https://{slug}.batam.test:{p443}/"],
                       capture_output=True, text=True, timeout=30)
    return [f"https / -> {r.stdout.strip() or r.stderr.strip()}"]


# -- the state database ------------------------------------------------------------------
def state_part(stack: Stack, rid: str, slug: str) -> list[str]:
    from sqlalchemy import select

    from provision.store.models import Document, Hosting, Install, RequestStep

    norm = normaliser(rid, slug)
    store = stack.store()
    out: list[str] = []
    try:
        with store.read() as s:
            for st in s.execute(select(RequestStep).where(RequestStep.request_id == rid)).scalars():
                out.append(f"step {st.number} {st.status}")
            kinds = Counter(d.kind for d in s.execute(select(Document).where(Document.request_id == rid)).scalars())
            out += [f"documents {k}: {n}" for k, n in kinds.items()]
            installs = Counter((i.env, i.ref) for i in s.execute(select(Install).where(Install.request_id == rid)).scalars()
                               if i.status == "succeeded")
            out += [f"installs succeeded {env} {ref}: {n}" for (env, ref), n in installs.items()]
            hostings = list(s.execute(select(Hosting).where(Hosting.request_id == rid)).scalars())
            out.append(f"hosting records: {len(hostings)}")
    finally:
        store.engine.dispose()
    return sorted(norm(x) for x in out)


def snapshot(stack: Stack, rid: str, slug: str, zone: list[tuple[str, str, int, str]] | None = None) -> Snapshot:
    return {
        "zone": zone_part(zone if zone is not None else zone_lines(stack), rid, slug),
        "gitlab": gitlab_part(stack, rid, slug),
        "server": server_part(stack, rid, slug),
        "https": https_part(stack, slug),
        "state": state_part(stack, rid, slug),
    }


def diff(a: Snapshot, b: Snapshot) -> list[str]:
    """Differences between two snapshots, one line each ('-' only in a, '+' only in b)."""
    out: list[str] = []
    for part in sorted(set(a) | set(b)):
        ca, cb = Counter(a.get(part, [])), Counter(b.get(part, []))
        out += [f"{part}: - {x}" for x in sorted((ca - cb).elements())]
        out += [f"{part}: + {x}" for x in sorted((cb - ca).elements())]
    return out


def duplicates(snap: Snapshot) -> list[str]:
    """Lines that appear more than once within one part (a record, member, key made twice)."""
    return [f"{part}: {x} x{n}" for part, lines in snap.items() for x, n in Counter(lines).items() if n > 1]
