"""Host checks over SSH with testinfra (paramiko backend, host keys pinned).

One unit per inventory host: one SSH connection, one python3 process that gathers every
fact for every application on that host (services, vhost and php-fpm pool files, the app
user and its home's owner and mode, disk use, database answers), then one Result per
application and aspect. One round trip and one process per host instead of one per fact
keeps 200 applications within seconds; the layout checked is the one the playbooks create
(user and instance = the slug, home `<apps_root>/<slug>` owned `kominfo-deploy:<slug>` 0750,
`/etc/nginx/sites-{available,enabled}/<slug>.conf`, `/etc/php/<v>/fpm/pool.d/<slug>.conf`,
`<slug>.service` for python and node).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from provision.checks.results import Result, failed, passed, warned
from provision.checks.runner import Deadline, Unit
from provision.checks.targets import AppTarget, Inventory
from provision.errors import ConfigError
from provision.names import DEPLOY_USER

KIND = "host"

DB_SERVICES = {"mariadb": "mariadb", "postgresql": "postgresql@15-main"}


def ssh_settings(config: Any, hostvars: dict[str, Any]) -> tuple[str, str]:
    """(ssh_config, known_hosts) for a host: hosting.ssh_config else the inventory's `-F`;
    hosting.known_hosts only (never the ssh_config's UserKnownHostsFile nor
    ~/.ssh/known_hosts). ConfigError when no host key is pinned."""
    ssh_config = config.hosting.ssh_config
    if not ssh_config:
        words = shlex.split(str(hostvars.get("ansible_ssh_common_args", "")))
        ssh_config = next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "-F"), "")
    known = config.hosting.known_hosts
    if not known or not Path(known).expanduser().is_file():
        raise ConfigError("no pinned host keys (hosting.known_hosts is unset or missing): "
                          "the host check never accepts an unknown key")
    return ssh_config, known


def connect(name: str, config: Any, hostvars: dict[str, Any], timeout: float) -> Any:
    """A testinfra Host on the paramiko backend whose client accepts only the pinned key."""
    import paramiko
    import testinfra

    ssh_config, known = ssh_settings(config, hostvars)
    target = str(hostvars.get("ansible_host") or name)
    cfg = paramiko.SSHConfig.from_path(ssh_config).lookup(target) if ssh_config else {"hostname": target}
    client = paramiko.SSHClient()
    client.load_host_keys(str(Path(known).expanduser()))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    sock = paramiko.ProxyCommand(cfg["proxycommand"]) if cfg.get("proxycommand") else None
    keys = cfg.get("identityfile") or None
    client.connect(cfg.get("hostname", target), port=int(cfg.get("port", hostvars.get("ansible_port", 22))),
                   username=str(hostvars.get("ansible_user") or cfg.get("user", "root")), key_filename=keys,
                   sock=sock, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                   allow_agent=False, look_for_keys=False)
    host = testinfra.get_host(f"paramiko://{target}", ssh_config=ssh_config or None)
    host.backend.__dict__["client"] = client  # the backend builds its own, unpinned: use ours
    return host


FACTS = r"""
import json, os, pwd, grp, shutil, subprocess, sys
spec = json.loads(sys.argv[1])
def own(path):
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return "%s:%s:%o" % (user, group, st.st_mode & 0o7777)
def ex(path):
    return "ok" if os.path.exists(path) else "missing"
out = []
for a in spec["apps"]:
    i = a["instance"]
    try:
        uid = str(pwd.getpwnam(i).pw_uid)
    except KeyError:
        uid = "missing"
    out.append("user %s %s" % (i, uid))
    out.append("home %s %s" % (i, own(spec["root"] + "/" + i)))
    out.append("vhost %s %s %s" % (i, ex("/etc/nginx/sites-available/%s.conf" % i), ex("/etc/nginx/sites-enabled/%s.conf" % i)))
    if a["php"]:
        out.append("pool %s %s %s" % (i, ex("/etc/php/%s/fpm/pool.d/%s.conf" % (a["php"], i)), ex("/run/php/%s.sock" % i)))
units = spec["units"]
try:
    states = subprocess.run(["systemctl", "is-active"] + units, capture_output=True, text=True, timeout=20).stdout.split()
except Exception:
    states = []
for u, st in zip(units, states + ["unknown"] * len(units)):
    out.append("unit %s %s" % (u, st))
for db, cmd in spec["dbs"].items():
    try:
        ok = subprocess.run(cmd, capture_output=True, timeout=5).returncode == 0
    except Exception:
        ok = False
    out.append("db %s %s" % (db, "ok" if ok else "down"))
    if ok:
        try:
            names = subprocess.run(spec["lists"][db], capture_output=True, text=True, timeout=10).stdout.split()
            out.append("dbs %s %s" % (db, ",".join(names) or "-"))
        except Exception:
            pass
d = spec["root"] if os.path.isdir(spec["root"]) else "/"
u = shutil.disk_usage(d)
out.append("df %d%% %s" % (-(-u.used * 100 // (u.used + u.free)) if u.used + u.free else 0, d))
sys.stdout.write("\n".join(out) + "\n")
"""
DB_COMMANDS = {"mariadb": ["mysqladmin", "--connect-timeout=3", "ping"], "postgresql": ["pg_isready", "-t", "3", "-q"]}
DB_LISTS = {"mariadb": ["mysql", "--connect-timeout=3", "-N", "-B", "-e", "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"],
            "postgresql": ["runuser", "-u", "postgres", "--", "psql", "-X", "-tAc", "SELECT datname FROM pg_database"]}


def db_name(instance: str) -> str:
    """The application's database, as the hosting step names it (provision.hosting.target)."""
    return instance.replace("-", "_")


def script(apps: list[AppTarget], apps_root: str) -> str:
    """One python3 process on the host gathers every fact (Ansible needs python3 there anyway)."""
    units = ["nginx"]
    entries = []
    for a in apps:
        php = a.php_version if a.kind == "php" else ""
        if php:
            units.append(f"php{php}-fpm")
        elif a.kind in ("python", "node"):
            units.append(a.instance)
        if a.database in DB_SERVICES:
            units.append(DB_SERVICES[a.database])
        entries.append({"instance": a.instance, "php": php})
    spec = {"apps": entries, "root": apps_root, "units": list(dict.fromkeys(units)),
            "dbs": {db: DB_COMMANDS[db] for db in sorted({a.database for a in apps if a.database in DB_COMMANDS})},
            "lists": DB_LISTS}
    return f"python3 -c {shlex.quote(FACTS)} {shlex.quote(json.dumps(spec))}"


def parse(output: str) -> dict[tuple[str, str], list[str]]:
    facts: dict[tuple[str, str], list[str]] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            facts[(parts[0], parts[1])] = parts[2:]
    return facts


def judge(apps: list[AppTarget], facts: dict[tuple[str, str], list[str]], host: str,
          warn_pct: int, fail_pct: int, apps_root: str) -> list[Result]:
    out: list[Result] = []
    df_key = next((k for k in facts if k[0] == "df"), None)
    pct = df_key[1].rstrip("%") if df_key else ""
    use = int(pct) if pct.isdigit() else None
    mount = (facts[df_key] or ["/"])[0] if df_key else "/"

    def unit(name: str) -> str:
        return (facts.get(("unit", name)) or ["unknown"])[0]

    for a in apps:
        rid, i = a.request_id, a.instance
        need = ["nginx"] + ([f"php{a.php_version}-fpm"] if a.kind == "php" else []) + \
               ([i] if a.kind in ("python", "node") else []) + \
               ([DB_SERVICES[a.database]] if a.database in DB_SERVICES else [])
        down = [f"{u} is {unit(u)}" for u in need if unit(u) != "active"]
        out.append(failed(KIND, rid, f"{host}: services", "; ".join(down)) if down
                   else passed(KIND, rid, f"{host}: services", ", ".join(need) + " running"))
        if not a.legacy:  # an imported application keeps its own layout: not the toolkit's to judge
            avail, enabled = (facts.get(("vhost", i)) or ["missing", "missing"])[:2]
            if avail != "ok" or enabled != "ok":
                why = "missing" if avail != "ok" else "not enabled (no link in sites-enabled)"
                out.append(failed(KIND, rid, f"{host}: nginx vhost", f"/etc/nginx/sites-available/{i}.conf {why}"))
            else:
                out.append(passed(KIND, rid, f"{host}: nginx vhost", f"{i}.conf present and enabled"))
            if a.kind == "php":
                conf, sock = (facts.get(("pool", i)) or ["missing", "missing"])[:2]
                path = f"/etc/php/{a.php_version}/fpm/pool.d/{i}.conf"
                if conf != "ok":
                    out.append(failed(KIND, rid, f"{host}: php-fpm pool", f"{path} missing"))
                elif sock != "ok":
                    out.append(failed(KIND, rid, f"{host}: php-fpm pool", f"{path} present but /run/php/{i}.sock "
                                      "is missing (php-fpm not reloaded?)"))
                else:
                    out.append(passed(KIND, rid, f"{host}: php-fpm pool", f"pool {i} listening"))
            uid = (facts.get(("user", i)) or ["missing"])[0]
            home = (facts.get(("home", i)) or ["missing"])[0]
            want = f"{DEPLOY_USER}:{i}:750"
            if uid == "missing":
                out.append(failed(KIND, rid, f"{host}: app user", f"the user {i} does not exist"))
            elif home == "missing":
                out.append(failed(KIND, rid, f"{host}: app user", f"{apps_root}/{i} does not exist"))
            elif home != want:
                o, g, m = (home.split(":") + ["", "", ""])[:3]
                out.append(failed(KIND, rid, f"{host}: app user", f"{apps_root}/{i} is {o}:{g} mode {m}, "
                                  f"expected {DEPLOY_USER}:{i} mode 750"))
            else:
                out.append(passed(KIND, rid, f"{host}: app user", f"user {i} (uid {uid}), home {want}"))
        if use is None:
            out.append(failed(KIND, rid, f"{host}: disk space", "df gave no answer"))
        elif use >= fail_pct:
            out.append(failed(KIND, rid, f"{host}: disk space", f"{mount} is {use}% full (checks.disk_fail_percent={fail_pct})"))
        elif use >= warn_pct:
            out.append(warned(KIND, rid, f"{host}: disk space", f"{mount} is {use}% full (checks.disk_warn_percent={warn_pct})"))
        else:
            out.append(passed(KIND, rid, f"{host}: disk space", f"{mount} is {use}% full"))
        if a.database in DB_SERVICES:
            state = (facts.get(("db", a.database)) or ["down"])[0]
            names = (facts.get(("dbs", a.database)) or [""])[0].split(",")
            want = db_name(i)
            if state != "ok":
                out.append(failed(KIND, rid, f"{host}: database", f"{a.database} does not answer on {host}"))
            elif want not in names:
                out.append(failed(KIND, rid, f"{host}: database", f"{a.database} answers but has no database {want}"))
            else:
                out.append(passed(KIND, rid, f"{host}: database", f"{a.database} answers, database {want} present"))
    return out


def host_units(targets: list[AppTarget], inventory: Inventory, config: Any) -> list[Unit]:
    by_host: dict[str, list[AppTarget]] = {}
    for t in targets:
        by_host.setdefault(t.host, []).append(t)
    c = config.checks
    apps_root = config.hosting.apps_root.rstrip("/")
    units = []
    for host, apps in sorted(by_host.items()):
        def fn(d: Deadline, host: str = host, apps: list[AppTarget] = apps) -> list[Result]:
            if host not in inventory.hostvars:
                return [failed(KIND, a.request_id, f"{host}: inventory", f"the host {host} is not in the "
                               f"inventory ({config.hosting.inventory or 'hosting.inventory not set'})") for a in apps]
            h = connect(host, config, inventory.hostvars[host], d.left())
            try:
                r = h.run(script(apps, apps_root))
            finally:
                h.backend.client.close()
            if r.rc != 0 and not r.stdout:
                raise RuntimeError(f"the fact script exited {r.rc}: {r.stderr.strip()[-300:]}")
            return judge(apps, parse(r.stdout), host, c.disk_warn_percent, c.disk_fail_percent, apps_root)
        units.append(Unit(KIND, f"host {host}", [a.request_id for a in apps], fn, c.timeout, name=f"{host}: ssh"))
    return units
