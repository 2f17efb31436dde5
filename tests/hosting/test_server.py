"""Hosting against a real sandbox server (nginx, php-fpm, MariaDB, PostgreSQL inside).

The tests run in order on one module-scoped server and build on each other (the first
hosts REQ-2026-0101, later ones change or withdraw it): the playbook runs are the
expensive part, so each one is made to prove as much as it can.
"""

from __future__ import annotations

import json
import re

import pytest

from provision.errors import ExitCode
from tests.hosting.conftest import HostingEnv, cli

pytestmark = [pytest.mark.root, pytest.mark.slow]

A, B, C, D, E = (f"REQ-2026-010{i}" for i in range(1, 6))
MAIN, ALIAS = "sisekolah.batam.go.id", "sekolah.batam.go.id"


def _password(env: HostingEnv, slug: str) -> str:
    text = env.on_server(f"cat /srv/apps/{slug}/shared/.env.hosting").stdout
    m = re.search(r'^DB_PASSWORD="([A-Za-z0-9_-]+)"$', text, re.M)
    assert m, text
    return m.group(1)


def _as_app(env: HostingEnv, slug: str, command: str) -> tuple[int, str]:
    """Run `command` on the server with the app's credentials in the environment."""
    r = env.on_server(f"set -a; . /srv/apps/{slug}/shared/.env.hosting; set +a; "
                      f'export MYSQL_PWD="$DB_PASSWORD" PGPASSWORD="$DB_PASSWORD"; {command}', check=False)
    noise = "sh: 0: getcwd() failed"  # nsenter keeps a cwd that does not exist inside
    out = "\n".join(x for x in (r.stdout + r.stderr).splitlines() if not x.startswith(noise))
    return r.returncode, out


def _served(env: HostingEnv, name: str) -> str:
    res = env.curl(env.server.forward(443), name, extra=("-i",))
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_apply_serves_tls_and_keeps_the_password_secret(hosting_env: HostingEnv) -> None:
    env = hosting_env
    env.open_request(A, "sisekolah", aliases=["sekolah"], name="Sistem Informasi <Sekolah>")
    r = cli("hosting", "apply", A, "--yes")
    assert r.exit_code == ExitCode.UNSAFE_PLAN, r
    assert f"production hosting for {A} refused: {A} has no successful install" in r.stderr
    env.pass_gate(A)
    r = cli("hosting", "apply", A, "--yes")
    assert r.exit_code == 0, r
    assert "Gate: commit a1b2c3d4e5f6 passed `provision test`" in r.stdout
    assert "Applied 6 of 6 changes" in r.stdout
    for name in (MAIN, ALIAS):  # verified against the sandbox CA (curl --cacert)
        page = _served(env, name)
        head = page.lower()
        assert head.startswith("http/2 200") and "strict-transport-security: max-age=63072000" in head, page
        assert "x-content-type-options: nosniff" in head and "x-frame-options: sameorigin" in head
        assert "Sistem Informasi &lt;Sekolah&gt;" in page  # the placeholder, its name escaped
    res = env.curl(env.server.forward(80), MAIN, scheme="http", extra=("-i",))
    assert res.stdout.startswith("HTTP/1.1 301") and f"Location: https://{MAIN}/" in res.stdout, res.stdout
    # Files: the code the deploy identity's, the runtime user owning only its temp and
    # sessions, nothing world-writable; the environment files root's (0600, and 0640 for
    # the one the runtime reads through its group).
    owned = env.on_server("find /srv/apps/sisekolah -user sisekolah | sort").stdout.split()
    assert owned == ["/srv/apps/sisekolah/shared/sessions", "/srv/apps/sisekolah/shared/tmp"], owned
    assert env.on_server("stat -c '%U:%G %a' /srv/apps/sisekolah").stdout.strip() == "kominfo-deploy:sisekolah 750"
    assert env.on_server("find /srv/apps/sisekolah ! -type l -perm -o+w").stdout == ""
    modes = env.on_server("stat -c '%a %U %G' /srv/apps/sisekolah/shared/.env.hosting /srv/apps/sisekolah/shared/.env "
                          "/etc/ssl/kominfo-provision/sisekolah/privkey.pem").stdout.split("\n")
    assert modes[:3] == ["600 root root", "640 root sisekolah", "600 root root"]
    assert "nginx" in env.on_server("cat /etc/logrotate.d/nginx").stdout  # /var/log/nginx/*.log rotated
    # The generated password is only on the server: not in the output, the state
    # (audit log, registry), nor anything ansible-runner left behind.
    password = _password(env, "sisekolah")
    assert len(password) >= 30 and password not in r.stdout + r.stderr
    leaked = [p for p in env.state.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert leaked == []
    assert list((env.state / "ansible" / "runs").iterdir())  # the runs were there to search
    events = [json.loads(line) for line in cli("audit", "export", "--request", A).stdout.splitlines()]
    hosting = [e for e in events if e["provider"] == "hosting"]
    assert [e["outcome"] for e in hosting].count("attempted") == 6
    assert [e["outcome"] for e in hosting].count("succeeded") == 6
    assert any(e["action"] == "register" for e in hosting)
    rows = cli("hosting", "list", "--json").json
    assert [(x["request"], x["domain"], x["status"], x["database"]) for x in rows] == [(A, MAIN, "active", "mariadb")]
    assert rows[0]["tls_expiry"] and rows[0]["runtime"] == "php 8.2"


def test_second_apply_changes_nothing(hosting_env: HostingEnv) -> None:
    r = cli("hosting", "plan", A)
    assert r.exit_code == 0 and "nothing to do" in r.stdout, r
    r = cli("hosting", "apply", A, "--yes")
    assert r.exit_code == 0 and "Nothing to do" in r.stdout, r
    r = cli("hosting", "apply", A, "--yes", "--reconcile", "--json")
    assert r.exit_code == 0, r
    report = json.loads(r.stdout[r.stdout.index("{"):])["result"]
    assert report["details"]["changed"] == 0 and report["details"]["hosted"] == ["sisekolah"]


def test_several_apps_in_one_run_with_isolated_databases(hosting_env: HostingEnv) -> None:
    from provision.context import App
    from provision.hosting import HostingProvider

    env = hosting_env
    for rid, slug, db in ((B, "sipegawai", "mariadb"), (C, "siperizinan", "postgresql"),
                          (D, "sikeuangan", "postgresql")):
        env.open_request(rid, slug, database=db)
    app = App()
    app.audit.start_run(["test"], None, None)
    provider = HostingProvider(app)
    plan = provider.plan([B, C, D])
    assert plan.count("create") == 18 and plan.meta["hosts"] == [env.server.name]
    report = provider.apply(plan, app.audit)
    assert report.ok and report.details["hosted"] == ["sikeuangan", "sipegawai", "siperizinan"]
    # MariaDB: B's data, which A's user cannot read.
    rc, out = _as_app(env, "sipegawai", 'mariadb -u "$DB_USERNAME" "$DB_DATABASE" -e '
                      '"CREATE TABLE t (x INT); INSERT INTO t VALUES (42)"')
    assert rc == 0, out
    rc, out = _as_app(env, "sisekolah", 'mariadb -u "$DB_USERNAME" -N -e "SELECT x FROM sipegawai.t"')
    assert rc != 0 and "SELECT command denied to user 'sisekolah'@'localhost'" in out, out
    rc, out = _as_app(env, "sisekolah", 'mariadb -u "$DB_USERNAME" -N -e "SHOW DATABASES"')
    assert rc == 0 and out.split() == ["information_schema", "sisekolah"], out
    # PostgreSQL: D's role cannot even connect to C's database.
    rc, out = _as_app(env, "siperizinan", 'psql -h 127.0.0.1 -U "$DB_USERNAME" "$DB_DATABASE" -Atc '
                      '"CREATE TABLE t (x int); INSERT INTO t VALUES (7)"')
    assert rc == 0, out
    rc, out = _as_app(env, "sikeuangan", 'psql -h 127.0.0.1 -U "$DB_USERNAME" siperizinan -Atc "SELECT x FROM t"')
    assert rc != 0 and "permission denied for database" in out, out
    rc, out = _as_app(env, "sikeuangan", 'psql -h 127.0.0.1 -U "$DB_USERNAME" "$DB_DATABASE" -Atc '
                      '"SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user"')
    assert rc == 0 and out.strip() == "f", out


def test_database_server_down(hosting_env: HostingEnv) -> None:
    env = hosting_env
    env.open_request(E, "sirollback")
    env.pass_gate(E)
    env.on_server("systemctl stop mariadb")
    try:
        r = cli("hosting", "apply", E, "--yes")
        assert r.exit_code == ExitCode.UNREACHABLE, r
        assert f"MariaDB on {env.server.name} is not answering" in r.stderr and "Nothing was changed." in r.stderr
        assert env.on_server("getent passwd sirollback", check=False).returncode == 2
        # Down after the plan was made: the play rolls back what it created.
        from provision.context import App
        from provision.hosting import DatabaseUnavailable, HostingProvider

        env.on_server("systemctl start mariadb")
        app = App()
        app.audit.start_run(["test"], E, None)
        provider = HostingProvider(app)
        plan = provider.plan([E])
        env.on_server("systemctl stop mariadb")
        with pytest.raises(DatabaseUnavailable, match="stopped answering during the run.*rolled back .*user and home"):
            provider.apply(plan, app.audit)
    finally:
        env.on_server("systemctl start mariadb")
    left = env.on_server("getent passwd sirollback; ls -d /srv/apps/sirollback /etc/nginx/sites-*/sirollback.conf "
                         "/etc/php/8.2/fpm/pool.d/sirollback.conf /etc/ssl/kominfo-provision/sirollback", check=False)
    assert left.stdout == "" and left.stderr.count("cannot access") == 4, left
    events = [json.loads(x) for x in cli("audit", "export", "--request", E).stdout.splitlines()]
    outcomes = [e["outcome"] for e in events if e["provider"] == "hosting"]
    assert outcomes.count("attempted") == outcomes.count("failed") == len(plan.changes) and "succeeded" not in outcomes
    assert all("unavailable" in e["reason"] for e in events if e["outcome"] == "failed")
    assert "Sistem Informasi" in _served(env, MAIN)  # the other site kept serving


def test_out_of_disk(hosting_env: HostingEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    env = hosting_env
    env.on_server("mkdir -p /srv/full && mount -t tmpfs -o size=1m tmpfs /srv/full && "
                  "(dd if=/dev/zero of=/srv/full/fill bs=1k count=2000 2>/dev/null || true)")
    monkeypatch.setenv("PROVISION_HOSTING_APPS_ROOT", "/srv/full")
    try:
        r = cli("hosting", "apply", E, "--yes")
    finally:
        env.on_server("umount /srv/full")
    assert r.exit_code == ExitCode.FAILURE, r
    assert f"{env.server.name} is out of disk space: /srv/full/sirollback has 0 MB free" in r.stderr
    assert env.on_server("getent passwd sirollback", check=False).returncode == 2


def test_certificate_that_cannot_be_issued_and_broken_nginx(hosting_env: HostingEnv,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.ca import make_ca

    env = hosting_env
    spec = json.loads((env.home / f"{A}.yaml").read_text())
    spec["hosting"]["aliases"] = ["sekolah", "www.sisekolah"]
    (env.home / "new.yaml").write_text(json.dumps(spec))
    assert cli("spec", "set", A, str(env.home / "new.yaml")).exit_code == 0
    _, other_key = make_ca(env.home / "other-ca")
    monkeypatch.setenv("PROVISION_HOSTING_LOCAL_CA_KEY_FILE", str(other_key))
    r = cli("hosting", "apply", A, "--yes")
    assert r.exit_code == ExitCode.FAILURE, r
    assert "the certificate cannot be issued: hosting.local_ca_key_file is not the key of" in r.stderr
    monkeypatch.delenv("PROVISION_HOSTING_LOCAL_CA_KEY_FILE")
    env.on_server("echo 'this is not nginx' > /etc/nginx/sites-enabled/zz-by-hand.conf")
    try:
        r = cli("hosting", "apply", A, "--yes")
        assert r.exit_code == ExitCode.FAILURE, r
        assert "nginx's configuration on" in r.stderr and "is already invalid" in r.stderr
        assert "zz-by-hand.conf" in r.stderr
        assert "Sistem Informasi" in _served(env, ALIAS)  # the running config still serves
    finally:
        env.on_server("rm -f /etc/nginx/sites-enabled/zz-by-hand.conf")
    vhost = env.on_server("cat /etc/nginx/sites-available/sisekolah.conf").stdout
    assert "www.sisekolah" not in vhost and ALIAS in vhost
    assert cli("spec", "set", A, str(env.home / f"{A}.yaml")).exit_code == 0


def test_delete_keeps_a_restorable_dump_and_purge_removes(hosting_env: HostingEnv) -> None:
    env = hosting_env
    rc, out = _as_app(env, "sisekolah", 'mariadb -u "$DB_USERNAME" "$DB_DATABASE" -e '
                      '"CREATE TABLE siswa (nama VARCHAR(40)); INSERT INTO siswa VALUES (\'Putri\')"')
    assert rc == 0, out
    r = cli("hosting", "delete", A, "--yes")
    assert r.exit_code == 0, r
    m = re.search(r"dumped to (/var/backups/kominfo-provision/sisekolah/sisekolah-\d{8}T\d{6}Z\.sql\.gz)", r.stdout)
    assert m, r
    dump = m.group(1)
    gone = env.curl(env.server.forward(443), MAIN)  # another site's certificate, or none: not this page
    assert gone.returncode != 0 or "Sistem Informasi" not in gone.stdout, gone
    assert env.on_server(f"stat -c '%a %U' {dump}").stdout.strip() == "600 root"
    assert env.on_server("ls /etc/php/8.2/fpm/pool.d/sisekolah.conf.disabled").returncode == 0
    restored = env.on_server(f"mariadb -e 'CREATE DATABASE restored' && gunzip -c {dump} | mariadb restored && "
                             "mariadb -N -e 'SELECT nama FROM restored.siswa'").stdout.strip()
    assert restored == "Putri"
    r = cli("hosting", "delete", A, "--yes")
    assert r.exit_code == 0 and "Nothing to do" in r.stdout, r
    assert cli("hosting", "list", "--json").json[-1]["status"] == "disabled"
    r = cli("hosting", "delete", A, "--purge", "--force", "--reason", "Aplikasi dihentikan (ND 9/2026)", "--yes")
    assert r.exit_code == 0, r
    gone = env.on_server("getent passwd sisekolah; ls -d /srv/apps/sisekolah /etc/nginx/sites-available/sisekolah.conf "
                         "/etc/ssl/kominfo-provision/sisekolah; mariadb -N -e 'SHOW DATABASES LIKE \"sisekolah\"'",
                         check=False)
    assert gone.stdout == "" and gone.stderr.count("cannot access") == 3, gone
    assert env.on_server("ls /var/backups/kominfo-provision/sisekolah").stdout.count(".sql.gz") == 2
    rows = {x["request"]: x["status"] for x in cli("hosting", "list", "--json").json}
    assert rows[A] == "purged" and rows[B] == "active"
    events = [json.loads(x) for x in cli("audit", "export", "--request", A).stdout.splitlines()]
    purge = [e for e in events if e["action"] == "purge"]
    assert len(purge) == 1 and purge[0]["reason"] == "Aplikasi dihentikan (ND 9/2026)"
