"""Many applications on one server (issue 16), judged from outside: three applications of
two OPDs hosted on one sandbox server, then

- testssl.sh (Debian's `testssl`) against each served application: no finding of MEDIUM or
  above except the ones the sandbox CA causes (`SANDBOX_CA_FINDINGS`, each explained);
- gixy-ng over the server's whole nginx configuration (`nginx -T`): nothing above LOW;
- testinfra over SSH: one application's runtime user cannot read another's code,
  environment, database or logs, cannot write its own code, cannot read a deploy key;
  the PHP workers themselves (a probe page served by the real pool) neither leave their
  open_basedir nor run processes; unknown SNI and Host get no application;
- `systemd-analyze security` on the app service unit the role writes: exposure <= 3.0.

A missing tool is a failure here, never a skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provision.errors import ExitCode
from tests.hosting.conftest import HostingEnv, cli

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# (request, slug, OPD, database, runtime extras)
APPS = (
    ("REQ-2026-0161", "sisekolah", ("disdik", "Dinas Pendidikan"), "mariadb", {"writable": ["storage"]}),
    ("REQ-2026-0162", "siperpus", ("disdik", "Dinas Pendidikan"), "postgresql", {}),
    ("REQ-2026-0163", "sipajak", ("bapenda", "Badan Pendapatan Daerah"), "mariadb", {"process_exec": True}),
)
ZONE = "batam.go.id"
SEVERE = {"MEDIUM", "HIGH", "CRITICAL"}
# testssl.sh findings that come from the sandbox's own CA, not from the server's settings:
# the local CA (devstack.ca.make_ca) issues certificates with no OCSP responder,
# no CRL distribution point and no Certificate Transparency SCTs; testssl rates the missing
# revocation information. A public CA's certificate has them. Nothing else is excused.
SANDBOX_CA_FINDINGS = {
    "cert_crlDistributionPoints": "the sandbox CA publishes no CRL",
    "cert_ocspURL": "the sandbox CA runs no OCSP responder",
    "cert_revocation": "no CRL nor OCSP URI in the sandbox CA's certificates",
}
# gixy-ng findings above LOW that are accepted, with the reason.
GIXY_ACCEPTED: dict[str, str] = {
    # A performance advice, not a security finding: open_file_cache would keep serving the
    # files of a release that `current` no longer points at (inactive= seconds after a switch).
    "try_files_is_evil_too": "performance only; open_file_cache would serve a switched-out release",
}


def _tool(name: str) -> str:
    path = shutil.which(name) or (str(REPO / ".venv" / "bin" / name) if (REPO / ".venv" / "bin" / name).exists() else None)
    if not path:
        pytest.fail(f"{name} is not installed (scripts/debian-packages.txt, the test extra): a missing tool is a failure")
    return path


@pytest.fixture(scope="module")
def tenants(hosting_env: HostingEnv) -> HostingEnv:
    env = hosting_env
    for rid, slug, opd, db, extra in APPS:
        env.open_request(rid, slug, database=db, opd=opd, runtime_extra=extra)
        env.pass_gate(rid)
    from provision.context import App
    from provision.hosting import HostingProvider

    app = App()  # one play for the three (the CLI takes one request at a time)
    app.audit.start_run(["test"], None, None)
    provider = HostingProvider(app)
    report = provider.apply(provider.plan([a[0] for a in APPS]), app.audit)
    assert report.ok and report.details["hosted"] == sorted(a[1] for a in APPS), report
    return env


def _host(env: HostingEnv) -> Any:
    from devstack.sandbox.clients import pinned_testinfra_host

    return pinned_testinfra_host(env.server)


def _as(host: Any, user: str, command: str) -> Any:
    return host.run(f"runuser -u {user} -- sh -c {json.dumps(command)}")


def test_three_apps_hosted_and_second_apply_changes_nothing(tenants: HostingEnv) -> None:
    for rid, *_ in APPS:
        r = cli("hosting", "plan", rid)
        assert r.exit_code == 0 and "nothing to do" in r.stdout, r
    rows = {x["request"]: x for x in cli("hosting", "list", "--json").json}
    assert [rows[a[0]]["status"] for a in APPS] == ["active"] * 3
    r = cli("hosting", "apply", APPS[0][0], "--yes", "--reconcile", "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout[r.stdout.index("{"):])["result"]["details"]["changed"] == 0


def test_runtime_users_are_isolated(tenants: HostingEnv) -> None:
    host = _host(tenants)
    a, b, c = (x[1] for x in APPS)
    # Each home: the deploy identity's, the app's group, nothing for the others.
    for slug in (a, b, c):
        home = host.file(f"/srv/apps/{slug}")
        assert (home.user, home.group, home.mode) == ("kominfo-deploy", slug, 0o750)
        env_file = host.file(f"/srv/apps/{slug}/shared/.env")
        assert (env_file.user, env_file.group, env_file.mode) == ("root", slug, 0o640)
    # A cannot read B's (same OPD) nor C's (other OPD) code, environment or logs.
    for other in (b, c):
        for path in (f"/srv/apps/{other}/current/public/index.html", f"/srv/apps/{other}/shared/.env",
                     f"/srv/apps/{other}/shared/.env.hosting", f"/var/log/nginx/{other}.access.log"):
            res = _as(host, a, f"cat {path}")
            assert res.rc != 0 and "Permission denied" in res.stderr, (path, res.stdout, res.stderr)
        res = _as(host, a, f"ls /srv/apps/{other}")
        assert res.rc != 0 and "Permission denied" in res.stderr
    # A reads its own code and environment, but cannot write the code, switch `current`
    # or touch the hosting's credentials file; it writes only what the spec names.
    assert _as(host, a, f"cat /srv/apps/{a}/current/public/index.html").rc == 0
    assert _as(host, a, f"grep -c DB_PASSWORD /srv/apps/{a}/shared/.env").stdout.strip() == "1"
    for cmd in (f"touch /srv/apps/{a}/current/public/index.html", f"touch /srv/apps/{a}/current/public/x.php",
                f"ln -sfn /tmp /srv/apps/{a}/current", f"mv /srv/apps/{a}/current /srv/apps/{a}/old",
                f"cat /srv/apps/{a}/shared/.env.hosting", f"sh -c 'echo X=1 >> /srv/apps/{a}/shared/.env'",
                f"mkdir /srv/apps/{a}/releases/mine"):
        res = _as(host, a, cmd)
        assert res.rc != 0 and "Permission denied" in (res.stderr + res.stdout), (cmd, res.stderr)
    res = _as(host, a, f"touch /srv/apps/{a}/shared/data/storage/ok && echo written")
    assert res.rc == 0 and res.stdout.strip() == "written", res.stderr
    assert host.file(f"/srv/apps/{a}/shared/data/storage").user == a
    # No deploy key is within reach of any runtime user.
    keys = host.file("/var/lib/kominfo-deploy")
    assert (keys.user, keys.mode) == ("kominfo-deploy", 0o700)
    for slug in (a, b, c):
        res = _as(host, slug, "ls /var/lib/kominfo-deploy/.ssh")
        assert res.rc != 0 and "Permission denied" in res.stderr
    # A's database password does not open B's (PostgreSQL) or C's (MariaDB) database.
    res = host.run(f"set -a; . /srv/apps/{a}/shared/.env.hosting; MYSQL_PWD=$DB_PASSWORD mariadb -u $DB_USERNAME "
                   f"-N -e 'SHOW DATABASES'")
    assert res.rc == 0 and res.stdout.split() == ["information_schema", a], res.stdout + res.stderr
    res = host.run(f"set -a; . /srv/apps/{a}/shared/.env.hosting; PGPASSWORD=$DB_PASSWORD psql -h 127.0.0.1 "
                   f"-U $DB_USERNAME {b} -Atc 'SELECT 1'")
    assert res.rc != 0, res.stdout


def test_php_workers_stay_in_their_home_and_run_no_process(tenants: HostingEnv) -> None:
    """A probe page in A's release, served by A's real pool, tries what a code-execution
    bug would try; C's spec allows process execution, so C's pool runs `id`."""
    env = tenants
    probe = r"""<?php
header('Content-Type: text/plain');
$t = fn($f) => (@file_get_contents($f) === false) ? 'denied' : 'READ';
echo "other-env:", $t('/srv/apps/%OTHER%/shared/.env'), "\n";
echo "etc-passwd:", $t('/etc/passwd'), "\n";
echo "own-env:", $t('/srv/apps/%SELF%/shared/.env') === 'READ' ? 'read' : 'missing', "\n";
echo "write-code:", (@file_put_contents(__FILE__ . '.x', 'x') === false) ? 'denied' : 'WROTE', "\n";
echo "exec:", function_exists('exec') && is_callable('exec') && !in_array('exec', explode(',', ini_get('disable_functions'))) ? trim(@exec('id -un')) : 'disabled', "\n";
echo "session-dir:", ini_get('session.save_path'), "\n";
"""
    for slug, other in (("sisekolah", "sipajak"), ("sipajak", "sisekolah")):
        env.server.run(f"install -o kominfo-deploy -g {slug} -m 0644 /dev/stdin /srv/apps/{slug}/current/public/probe.php",
                       input=probe.replace("%OTHER%", other).replace("%SELF%", slug))
    try:
        res = env.curl(env.server.forward(443), f"sisekolah.{ZONE}", "/probe.php")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split("\n")[:6] == [
            "other-env:denied", "etc-passwd:denied", "own-env:read", "write-code:denied", "exec:disabled",
            "session-dir:/srv/apps/sisekolah/shared/sessions"], res.stdout
        res = env.curl(env.server.forward(443), f"sipajak.{ZONE}", "/probe.php")
        assert res.returncode == 0, res.stderr
        lines = res.stdout.split("\n")
        assert lines[0] == "other-env:denied" and lines[4] == "exec:sipajak", res.stdout
    finally:
        env.server.run("rm -f /srv/apps/sisekolah/current/public/probe.php /srv/apps/sipajak/current/public/probe.php")
    pool = env.server.run("cat /etc/php/8.2/fpm/pool.d/sisekolah.conf").stdout
    assert "php_admin_value[open_basedir] = /srv/apps/sisekolah/" in pool
    sock = env.server.run("stat -c '%a %U %G' /run/php/sisekolah.sock").stdout.strip()
    assert sock == "660 sisekolah www-data"


def test_unknown_names_get_no_application(tenants: HostingEnv) -> None:
    env = tenants
    port = env.server.forward(443)
    # Unknown SNI: the handshake is refused, no certificate is shown.
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", f"evil.{ZONE}",
                        "-brief"], input="", capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "unrecognized name" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert "BEGIN CERTIFICATE" not in r.stdout
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-noservername"],
                       input="", capture_output=True, text=True, timeout=30)
    assert "unrecognized name" in (r.stdout + r.stderr).lower() and "Server certificate" not in r.stdout
    res = env.curl(port, f"evil.{ZONE}")
    assert res.returncode != 0 and "unrecognized name" in res.stderr.lower(), res.stderr
    # A served name in the handshake, an unknown Host: 421, not the application.
    res = env.curl(port, f"sisekolah.{ZONE}", extra=("-i", "-H", f"Host: evil.{ZONE}"))
    assert res.returncode == 0 and res.stdout.lower().startswith("http/2 421"), res.stdout
    assert "Aplikasi" not in res.stdout
    # Debian's default site is gone; no version in any Server header.
    assert env.server.run("test -e /etc/nginx/sites-enabled/default", check=False).returncode == 1
    res = env.curl(env.server.forward(80), f"sisekolah.{ZONE}", scheme="http", extra=("-i",))
    assert re.search(r"(?im)^server: nginx\r?$", res.stdout), res.stdout


def test_testssl_finds_nothing_to_fix(tenants: HostingEnv, tmp_path: Path) -> None:
    testssl = _tool("testssl")
    port = tenants.server.forward(443)
    for _, slug, *_ in APPS:
        out = tmp_path / f"{slug}.json"
        r = subprocess.run([testssl, "--quiet", "--color", "0", "--warnings", "off", "--add-ca", str(tenants.ca_cert),
                            "--ip", "127.0.0.1", "--jsonfile", str(out), "-p", "-s", "-f", "-S", "-h", "-U",
                            f"https://{slug}.{ZONE}:{port}"], capture_output=True, text=True, timeout=600)
        assert out.exists(), r.stdout[-2000:] + r.stderr[-2000:]
        findings = json.loads(out.read_text())
        by_id = {f["id"]: f for f in findings}
        severe = [f for f in findings if f["severity"] in SEVERE and f["id"].split(" ")[0] not in SANDBOX_CA_FINDINGS]
        assert severe == [], json.dumps(severe, indent=1)
        # What the profile promises, read back from testssl's own findings.
        assert by_id["TLS1_2"]["finding"] == "offered" and by_id["TLS1_3"]["finding"].startswith("offered")
        for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            assert by_id[old]["finding"] == "not offered", by_id[old]
        assert by_id["HSTS_time"]["finding"].startswith("730 days"), by_id["HSTS_time"]
        assert by_id["BREACH"]["severity"] == "OK", by_id["BREACH"]
        for weak in ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                     "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"):  # AVERAGE: the CBC suites
            assert by_id[weak]["finding"] == "not offered", by_id[weak]


def test_gixy_finds_nothing_above_low(tenants: HostingEnv, tmp_path: Path) -> None:
    gixy = _tool("gixy")
    dump = tenants.server.run("nginx -T 2>/dev/null").stdout
    assert "# configuration file /etc/nginx/snippets/kominfo-tls.conf" in dump
    conf = tmp_path / "nginx-T.conf"
    conf.write_text(dump)
    report = tmp_path / "gixy.json"
    r = subprocess.run([gixy, "-f", "json", "-o", str(report), str(conf)], capture_output=True, text=True,
                       timeout=300)
    assert report.exists(), r.stdout + r.stderr
    issues = json.loads(report.read_text() or "[]")
    above_low = [i for i in issues if i.get("severity", "").upper() not in ("LOW", "UNSPECIFIED")
                 and i.get("plugin") not in GIXY_ACCEPTED]
    assert above_low == [], json.dumps(above_low, indent=1)


def test_app_service_exposure_at_most_3(tmp_path: Path) -> None:
    """The unit app_service writes, rendered by Ansible for a python app, scored by systemd."""
    analyze = _tool("systemd-analyze")
    unit = _render_app_service(tmp_path)
    r = subprocess.run([analyze, "security", "--offline=true", f"--root={tmp_path}", "--threshold=30",
                        "kp-demo.service"], capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for kp-demo\.service: (\d+\.\d)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr[-2000:]
    assert float(m.group(1)) <= 3.0, r.stdout
    assert r.returncode == 0, r.stdout[-3000:]
    assert "ProtectSystem=strict" in unit.read_text() and "NoNewPrivileges=true" in unit.read_text()


def _render_app_service(root: Path) -> Path:
    """Run the app_service role's template through Ansible's own templating (localhost, check
    mode off, a scratch destination)."""
    out = root / "etc" / "systemd" / "system"
    out.mkdir(parents=True)
    play = root / "render.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "tasks": [{"name": "render", "ansible.builtin.template": {
            "src": str(REPO / "playbooks/roles/app_service/templates/app.service.j2"),
            "dest": str(out / "kp-demo.service")},
            "vars": {"app_service_name": "kp-demo", "app_service_user": "kp-demo",
                     "app_service_workdir": "/srv/apps/kp-demo/current", "app_service_command": "gunicorn app:app",
                     "app_service_port": 20001, "app_service_env_file": "/srv/apps/kp-demo/shared/.env",
                     "app_service_path_prefix": "/srv/apps/kp-demo/current/.venv/bin",
                     "app_service_description": "application kp-demo",
                     "app_service_writable_paths": ["/srv/apps/kp-demo/shared/tmp",
                                                    "/srv/apps/kp-demo/shared/data/uploads"],
                     "app_service_memory_deny_write_execute": True}}]}]))
    r = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,",
                        "-e", f"ansible_python_interpreter={sys.executable}", str(play)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:]
    return out / "kp-demo.service"


def test_refused_before_any_server_is_touched(tenants: HostingEnv) -> None:
    """A writable directory that would hand the runtime the repository's metadata is refused
    by the spec, naming the field (exit 2)."""
    path = tenants.home / "bad.yaml"
    path.write_text(json.dumps({"version": 1, "application": {"slug": "sisekolah", "name": "x"},
                                "runtime": {"kind": "php", "version": "8.2", "writable": [".git"]},
                                "hosting": {"host": tenants.server.name}}))
    r = cli("spec", "set", APPS[0][0], str(path))
    assert r.exit_code == ExitCode.USAGE, r
    assert "runtime.writable" in r.stderr and "no part starting with '.'" in r.stderr, r.stderr
