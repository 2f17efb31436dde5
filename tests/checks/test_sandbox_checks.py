"""http, tls and host checks against a sandbox Kominfo server: nginx vhosts with
certificates made here (valid, soon expiring, expired, wrong name), a php-fpm pool,
MariaDB; then drift planted by hand (stopped service, loosened permissions, removed vhost)
and a server that stops answering."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.ca import CA
from devstack.sandbox.hosting import install_app, reload
from devstack.sandbox.server import Server
from tests.checks.env import by, open_request, problems, register, spec_dict, write_config
from tests.helpers import run_cli

pytestmark = [pytest.mark.root, pytest.mark.slow]

# slug -> (kind, database, days the certificate has left, names on the certificate)
APPS = {
    "sekolah": ("php", "mariadb", 200, None),
    "perpus": ("static", None, 90, None),
    "hampir": ("static", None, 14, None),   # under tls_warn_days (30)
    "kritis": ("static", None, 3, None),    # under tls_fail_days (7)
    "basi": ("static", None, -2, None),     # expired two days ago
    "salah": ("static", None, 90, ["lain.batam.test"]),  # a certificate for another name
}
CLEAN = ["sekolah", "perpus"]


@dataclass
class Site:
    server: Server
    ca_file: Path
    ports: dict[int, int]
    inventory: Path
    known_hosts: Path  # the sandbox's pinned host keys (hosting.known_hosts: the only ones trusted)


@pytest.fixture(scope="module")
def site(kominfo_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    d = tmp_path_factory.mktemp("site")
    ca = CA.new()
    (d / "ca.pem").write_bytes(ca.pem)
    for slug, (kind, db, days, names) in APPS.items():
        cert, key = ca.leaf(names or [f"{slug}.batam.test"], days)
        install_app(kominfo_server, slug, f"{slug}.batam.test", cert, key, kind, database=db)
    reload(kominfo_server)
    ports = {80: kominfo_server.forward(80), 443: kominfo_server.forward(443)}
    inv = d / "inventory.yml"
    ssh_config = kominfo_server.ssh_config
    inv.write_text(f"all:\n  hosts:\n    {kominfo_server.name}:\n      ansible_host: {kominfo_server.name}\n"
                   f"      ansible_user: root\n      ansible_ssh_common_args: -F {ssh_config}\n")
    known = Path(ssh_config).parent / "known_hosts"
    assert known.is_file(), known
    yield Site(kominfo_server, d / "ca.pem", ports, inv, known)


def configure(home: Path, site: Site, timeout: float = 8.0) -> None:
    name = site.server.name
    write_config(home, hosting={"inventory": str(site.inventory), "known_hosts": str(site.known_hosts)},
                 checks={"connect_to": {f"{name}:80": f"127.0.0.1:{site.ports[80]}",
                                        f"{name}:443": f"127.0.0.1:{site.ports[443]}"},
                         "ca_bundle": str(site.ca_file), "timeout": timeout, "concurrency": 8})


@pytest.fixture
def hosted(provision_home: Path, site: Site) -> dict[str, str]:
    """slug -> request ID, every app registered on the sandbox server."""
    configure(provision_home, site)
    rids = {}
    for slug, (kind, db, _, _) in APPS.items():
        smoke = [{"path": "/", "status": 200, "contains": f"Halo dari {slug}"}]
        rid = open_request(provision_home, spec_dict(slug, kind=kind, host=site.server.name,
                                                     database=db or "none", smoke=smoke))
        register(rid, site.server.name, f"{slug}.batam.test", kind, db)
        rids[slug] = rid
    return rids


json_seconds: list[float] = [0.0]
json_setup: list[float] = [0.0]


def run(*args: str) -> tuple[int, list[dict], str]:
    r = run_cli("check", "--only", "http,tls,host", "--json", *args)
    assert r.exit_code in (0, 3), r
    json_seconds[0], json_setup[0] = r.json["seconds"], r.json["setup_seconds"]
    return r.exit_code, r.json["results"], r.stderr


def test_clean_apps_pass(hosted: dict[str, str], site: Site) -> None:
    for slug in CLEAN:
        code, results, err = run("--request", hosted[slug])
        assert code == 0 and err == "", (slug, problems(results))
        assert problems(results) == []
        assert {r["check"] for r in results} == {"http", "tls", "host"}
        [h] = by(results, check="http")
        assert h["name"] == f"GET https://{slug}.batam.test/" and h["message"] == f"status 200 and contains 'Halo dari {slug}'"
        [t] = by(results, check="tls")
        assert t["message"].startswith("valid, name matches, expires in ")
    code, results, _ = run("--request", hosted["sekolah"])
    names = {r["name"] for r in by(results, check="host")}
    assert names == {f"{site.server.name}: {x}" for x in ("services", "nginx vhost", "php-fpm pool", "app user",
                                                           "disk space", "database")}
    assert by(results, name=f"{site.server.name}: services")[0]["message"] == "nginx, php8.2-fpm, mariadb running"


def test_certificates_expiring_expired_and_wrong_name(hosted: dict[str, str]) -> None:
    code, results, err = run("--only", "tls")
    assert code == 3 and "checks failed" in err
    tls = {r["request"]: r for r in by(results, check="tls")}
    assert tls[hosted["hampir"]]["status"] == "warn"
    assert re.fullmatch(r"expires in 1[34]\.\d days \(.* UTC\); under checks\.tls_warn_days=30",
                        tls[hosted["hampir"]]["message"]), tls[hosted["hampir"]]
    assert tls[hosted["kritis"]]["status"] == "fail"
    assert re.fullmatch(r"expires in [23]\.\d days \(.* UTC\); under checks\.tls_fail_days=7",
                        tls[hosted["kritis"]]["message"]), tls[hosted["kritis"]]
    assert tls[hosted["basi"]]["status"] == "fail" and tls[hosted["basi"]]["message"].startswith("expired on ")
    assert tls[hosted["salah"]]["status"] == "fail"
    assert tls[hosted["salah"]]["message"].startswith("the certificate does not match the name")
    assert [tls[hosted[s]]["status"] for s in CLEAN] == ["pass", "pass"]
    history = run_cli("check", "history", "--request", hosted["kritis"], "--json")
    assert history.exit_code == 0 and history.json[0]["status"] == "fail" and history.json[0]["check"] == "tls"


def test_untrusted_chain(provision_home: Path, hosted: dict[str, str], site: Site) -> None:
    text = (provision_home / "provision.toml").read_text()
    (provision_home / "provision.toml").write_text(text.replace(str(site.ca_file), "/etc/ssl/certs/ca-certificates.crt"))
    r = run_cli("check", "--only", "tls", "--request", hosted["perpus"])
    assert r.exit_code == 3 and "1 of 1 checks failed" in r.stderr, r
    assert "the chain does not lead to a trusted CA (checks.ca_bundle)" in r.stdout


def test_stopped_service_broken_permissions_missing_vhost(hosted: dict[str, str], site: Site) -> None:
    s = site.server
    s.run("systemctl stop php8.2-fpm; chmod 0777 /srv/apps/perpus; rm /etc/nginx/sites-enabled/hampir.conf; "
          "mysql -e 'DROP DATABASE sekolah'")
    try:
        code, results, err = run()
        assert code == 3
        name = s.name
        [svc] = by(results, request=hosted["sekolah"], name=f"{name}: services")
        assert svc["status"] == "fail" and svc["message"] in ("php8.2-fpm is inactive", "php8.2-fpm is failed"), svc
        [pool] = by(results, request=hosted["sekolah"], name=f"{name}: php-fpm pool")
        assert pool["status"] == "fail" and "/run/php/sekolah.sock is missing" in pool["message"]
        [smoke] = by(results, request=hosted["sekolah"], check="http")
        assert smoke["status"] == "fail" and smoke["message"].startswith("status 502, expected 200"), smoke
        [perm] = by(results, request=hosted["perpus"], name=f"{name}: app user")
        assert perm["status"] == "fail"
        assert perm["message"] == ("/srv/apps/perpus is kominfo-deploy:perpus mode 777, "
                                   "expected kominfo-deploy:perpus mode 750")
        [db] = by(results, request=hosted["sekolah"], name=f"{name}: database")
        assert db["status"] == "fail" and db["message"] == "mariadb answers but has no database sekolah", db
        [vhost] = by(results, request=hosted["hampir"], name=f"{name}: nginx vhost")
        assert vhost["status"] == "fail" and "not enabled" in vhost["message"]
        # Other requests are not blamed for these.
        assert by(results, request=hosted["perpus"], name=f"{name}: services")[0]["status"] == "pass"
    finally:
        s.run("mysql -e 'CREATE DATABASE sekolah'; chmod 0750 /srv/apps/perpus; ln -sf /etc/nginx/sites-available/hampir.conf "
              "/etc/nginx/sites-enabled/hampir.conf")
        reload(s)
    code, results, _ = run("--request", hosted["sekolah"])
    assert code == 0, problems(results)


def test_dead_server_reported_within_timeout(provision_home: Path, hosted: dict[str, str], site: Site) -> None:
    configure(provision_home, site, timeout=2.0)
    s = site.server
    s.run("pkill -STOP -x sshd; pkill -STOP -x nginx")
    try:
        start = time.monotonic()
        code, results, err = run()
        elapsed = time.monotonic() - start
    finally:
        s.run("pkill -CONT -x sshd; pkill -CONT -x nginx")
    assert code == 3 and "checks failed" in err
    # 13 units, 8 at once, 2 s each at most: two waves, whatever the set-up took.
    assert json_seconds[0] - json_setup[0] < 5.5, (json_seconds, json_setup, elapsed)
    for rid in hosted.values():
        [h] = by(results, request=rid, check="host")
        assert h["status"] == "fail" and h["message"] == f"host {s.name} did not answer within 2 s", h
        assert 1.9 < h["duration"] < 2.5
        [smoke] = by(results, request=rid, check="http")
        assert smoke["status"] == "fail", smoke
        assert "did not answer within 2 s" in smoke["message"] or "timed out" in smoke["message"], smoke
    code, results, _ = run("--request", hosted["perpus"])
    assert code == 0, problems(results)
