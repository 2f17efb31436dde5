"""Read what a server holds for the applications to host: one SSH round trip per host.

The probe is a small Python script run by the server's python3 as root. It reports
existence and a few attributes (never a secret: of the environment file only the
variable names come back), so plans are made against the real state in about a
second instead of a check-mode playbook run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provision.remote import run_python

PROBE = r'''
import json, os, pwd, re, subprocess, sys
P = json.loads(sys.stdin.readline())
def free_mb(p):
    while p and not os.path.exists(p):
        p = os.path.dirname(p)
    st = os.statvfs(p or "/")
    return st.f_bavail * st.f_frsize // (1024 * 1024)
def read(p):
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None
def run(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return r.returncode, r.stdout, r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, "", str(e)
out = {"disk": {}, "db": {}, "apps": {}}
for p in P["paths"]:
    out["disk"][p] = free_mb(p)
rc, _, err = run(["nginx", "-t"])
out["nginx_ok"], out["nginx_error"] = rc == 0, err.strip()[-600:]
for engine in P["engines"]:
    if engine == "mariadb":
        rc1, dbs, e1 = run(["mariadb", "-N", "-B", "-e", "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"])
        rc2, users, e2 = run(["mariadb", "-N", "-B", "-e", "SELECT User FROM mysql.user WHERE Host='localhost'"])
    else:
        q = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c"]
        rc1, dbs, e1 = run(q + ["SELECT datname FROM pg_database"])
        rc2, users, e2 = run(q + ["SELECT rolname FROM pg_roles"])
    ok = rc1 == 0 and rc2 == 0
    out["db"][engine] = {"ok": ok, "error": (e1 or e2).strip()[-400:] if not ok else "",
                         "databases": dbs.split() if ok else [], "users": users.split() if ok else []}
for a in P["apps"]:
    i, root = a["instance"], a["root"]
    s = {}
    try:
        pwd.getpwnam(i)
        s["user"] = True
    except KeyError:
        s["user"] = False
    s["root"] = os.path.isdir(root)
    s["current"] = os.readlink(root + "/current") if os.path.islink(root + "/current") else None
    vhost = read("/etc/nginx/sites-available/%s.conf" % i)
    s["vhost"] = vhost is not None
    s["vhost_enabled"] = os.path.exists("/etc/nginx/sites-enabled/%s.conf" % i)
    names, cert_path = [], None
    for line in (vhost or "").splitlines():
        m = re.match(r"\s*server_name\s+([^;]+);", line)
        if m and not names:
            names = m.group(1).split()
        m = re.match(r"\s*ssl_certificate\s+([^;]+);", line)
        if m:
            cert_path = m.group(1).strip()
    s["vhost_names"], s["vhost_cert"] = names, cert_path
    s["pool"] = os.path.exists("/etc/php/%s/fpm/pool.d/%s.conf" % (a["php_version"], i))
    s["pool_disabled"] = os.path.exists("/etc/php/%s/fpm/pool.d/%s.conf.disabled" % (a["php_version"], i))
    s["unit"] = os.path.exists("/etc/systemd/system/%s.service" % i)
    env = read(root + "/shared/.env.hosting") or ""
    s["env_keys"] = sorted(set(re.findall(r"(?m)^([A-Z_][A-Z0-9_]*)=", env)))
    s["cert_pem"] = read(a["cert_path"]) if a.get("cert_path") else None
    s["cert_key"] = os.path.exists(a["key_path"]) if a.get("key_path") else False
    bdir = "/var/backups/kominfo-provision/" + i
    s["dumps"] = sorted(os.listdir(bdir)) if os.path.isdir(bdir) else []
    out["apps"][i] = s
json.dump(out, sys.stdout)
'''


@dataclass
class HostState:
    host: str
    disk: dict[str, int] = field(default_factory=dict)
    nginx_ok: bool = True
    nginx_error: str = ""
    db: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)


def probe_host(host: str, connection: dict[str, Any], apps: list[dict[str, Any]], paths: list[str],
               engines: list[str], ssh_config: str = "", known_hosts: str = "", timeout: float = 60) -> HostState:
    """Run the probe on one host. Raises Unreachable / AuthError (host key) / ProvisionError."""
    data = run_python(host, connection, PROBE, {"apps": apps, "paths": paths, "engines": engines}, "the state",
                      ssh_config, known_hosts, timeout)
    return HostState(host, data["disk"], data["nginx_ok"], data["nginx_error"], data["db"], data["apps"])
