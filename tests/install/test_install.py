"""Install, re-install, test, report, roll back and fail, on one throwaway sandbox server.

The module shares one server (`kominfo_server`); each test installs a different sample app,
so they do not step on each other. Every CLI call checks its exit code and its message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provision.placement import staging_cert_paths
from tests.helpers import run_cli
from tests.install.conftest import APPS, open_request, request_args, served

pytestmark = [pytest.mark.root, pytest.mark.slow]


def spec_for(app: str, server, **replace: str) -> str:  # type: ignore[no-untyped-def]
    text = (APPS / app / "spec.yaml").read_text().replace("host: kominfo1", f"host: {server.name}")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def audit_events(request_id: str) -> list[dict]:
    r = run_cli("audit", "export", "--format", "jsonl", "--request", request_id)
    assert r.exit_code == 0, r
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_static_install_reinstall_test_report_and_failures(install_home: Path, app_server, git_server) -> None:
    rid = "REQ-2026-0101"
    git_server.create("static", "portal-statis")
    open_request(rid, spec_for("static", app_server), install_home)
    name = "portal-statis-staging.batam.go.id"

    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 0, r
    assert "Installed v1.0.0 (commit " in r.stdout and f"of {rid} on {app_server.name}" in r.stdout
    assert "changed" in r.stderr and "Switch current to the new release" in r.stderr  # progress lines
    assert "Portal Statis Pemko" in served(app_server, name)

    # The playbook itself is idempotent: forced to run again, it changes nothing.
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes", "--json", "--force-run")
    assert r.exit_code == 0, r
    result = r.json["result"]
    assert result["changed"] == 0, result["hosts"]
    assert result["hosts"][app_server.name]["failed"] == 0
    commit = result["commit"]
    assert len(commit) == 40

    r = run_cli("exec", rid, "--", "id", "-un")
    assert r.exit_code == 0, r
    assert r.stdout.strip() == "portal-statis-staging"
    r = run_cli("exec", rid, "--", "sh", "-c", "echo gagal >&2; exit 4")
    assert r.exit_code == 1 and "exited 4" in r.stderr, r
    execs = [e for e in audit_events(rid) if e["provider"] == "exec" and e["outcome"] != "attempted"]
    assert execs[0]["outcome"] == "succeeded" and len(execs[0]["after"]["output_sha256"]) == 64
    assert execs[1]["outcome"] == "failed" and "exited 4" in execs[1]["reason"]

    junit = install_home / "junit.xml"
    r = run_cli("test", rid, "--junit", str(junit))
    assert r.exit_code == 0, r
    assert "PASS  smoke" in r.stdout and "checks passed" in r.stdout and "FAIL" not in r.stdout
    assert 'failures="0"' in junit.read_text()
    r = run_cli("report", rid, "berita-acara")
    assert r.exit_code == 0, r
    assert "Issued: Berita Acara 001/BA/Kominfo-PE/XI/2026" in r.stdout
    md = Path(r.stdout.split("md: ")[1].split()[0]).read_text()
    assert "**LAYAK**" in md and commit in md and "Budi Santoso" in md and "| sesuai |" in md
    # Written from a real run's catalogue messages: Indonesian remarks, no English, no 0o600.
    assert "| ada dalam rilis |" in md and "kode status HTTP 200" in md and "0o" not in md
    assert "present in the release" not in md and "the spec names no test command" not in md
    assert Path(r.stdout.split("pdf: ")[1].split()[0]).read_bytes().startswith(b"%PDF")
    r = run_cli("report", rid, "berita-acara")
    assert r.exit_code == 0 and "Already issued: Berita Acara 001/BA/" in r.stdout, r

    # A failing test command: exit 3, stored, and the Berita Acara says tidak layak.
    r = run_cli("spec", "set", rid, str(_write(install_home / "s2.yaml", spec_for(
        "static", app_server, **{"command: test -f index.html": "command: test -f tidak-ada.txt"}))))
    assert r.exit_code == 0, r
    r = run_cli("test", rid)
    assert r.exit_code == 3, r
    assert "FAIL  app-test" in r.stdout and "1 check(s) failed" in r.stderr
    r = run_cli("report", rid, "berita-acara")
    assert r.exit_code == 0 and "002/BA/" in r.stdout, r
    assert "**TIDAK LAYAK**" in Path(r.stdout.split("md: ")[1].split()[0]).read_text()

    # A ref that does not exist: exit 2, audited, v1 still serving.
    r = run_cli("install", rid, "--ref", "v9.9.9", "--yes")
    assert r.exit_code == 2, r
    assert "the ref 'v9.9.9' does not exist" in r.stderr
    assert "Portal Statis Pemko" in served(app_server, name)
    failed = [e for e in audit_events(rid) if e["provider"] == "install" and e["outcome"] == "failed"]
    assert "v9.9.9" in failed[-1]["reason"]

    # A failure half-way: v2 is fetched, then nginx -t fails (another site's broken file):
    # our vhost is reverted, current is not switched, v1 keeps serving.
    work = git_server.root / "work" / "portal-statis"
    git_server.commit_and_tag(work, "v2.0.0", {"index.html": "<h1>Portal Statis Pemko v2</h1>\n"})
    r = run_cli("spec", "set", rid, str(_write(install_home / "s3.yaml", spec_for(
        "static", app_server, **{"kind: static": "kind: static\n  document_root: docs"}))))
    assert r.exit_code == 0, r
    app_server.run("echo 'this is not nginx' > /etc/nginx/conf.d/rusak.conf")
    try:
        r = run_cli("install", rid, "--ref", "v2.0.0", "--yes")
    finally:
        app_server.run("rm -f /etc/nginx/conf.d/rusak.conf")
    assert r.exit_code == 1, r
    assert "task 'Stop here, the vhost was invalid' failed" in r.stderr and "reverted" in r.stderr
    assert "previous release" in r.stderr
    assert "Portal Statis Pemko</h1><p>Versi 1" in served(app_server, name)
    vhost = app_server.run("cat /etc/nginx/sites-available/portal-statis-staging.conf").stdout
    assert "root /srv/apps/portal-statis-staging/current;" in vhost  # the old vhost is back
    releases = app_server.run("ls /srv/apps/portal-statis-staging/releases").stdout.split()
    assert len(releases) == 2  # v2 was fetched (half-way) but not switched to
    link = app_server.run("readlink /srv/apps/portal-statis-staging/current").stdout
    assert link.strip().endswith(commit[:12])


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_php_app_with_mariadb_and_secrets(install_home: Path, app_server, git_server) -> None:
    rid = "REQ-2026-0102"
    git_server.create("php", "catatan")
    password = "rahasia-Xq83-jangan-bocor"
    app_server.run(["mariadb", "-e", f"CREATE DATABASE IF NOT EXISTS catatan; "
                    f"CREATE OR REPLACE USER 'catatan'@'localhost' IDENTIFIED BY '{password}'; "
                    "GRANT ALL ON catatan.* TO 'catatan'@'localhost';"])
    app_server.run(["mariadb", "catatan"], input=(APPS / "php" / "schema.sql").read_text())
    secrets = install_home / "state" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / f"{rid}.env").write_text(f"DB_PASSWORD={password}\n")
    (secrets / f"{rid}.env").chmod(0o644)
    open_request(rid, spec_for("php", app_server), install_home)

    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 2, r  # a secrets file others can read is refused before anything runs
    assert "readable or writable by group or others" in r.stderr
    (secrets / f"{rid}.env").chmod(0o600)

    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 0, r
    assert "catatan: pertama" in served(app_server, "catatan-staging.batam.go.id")
    r = run_cli("test", rid, "--json")
    assert r.exit_code == 0, r
    kinds = {c["kind"] for c in r.json["checks"] if c["status"] == "pass"}
    assert {"smoke", "app-test", "infra", "documents"} <= kinds
    assert any("php8.2-fpm running" in c["name"] for c in r.json["checks"])
    env_file = app_server.run("stat -c '%a %U %G' /srv/apps/catatan-staging/shared/.env").stdout.split()
    assert env_file == ["640", "root", "catatan-staging"]
    # The code is the deploy identity's: the runtime user cannot rewrite its release.
    home = app_server.run("stat -c '%U:%G %a' /srv/apps/catatan-staging").stdout.strip()
    assert home == "kominfo-deploy:catatan-staging 750", home
    rc = app_server.run("runuser -u catatan-staging -- touch /srv/apps/catatan-staging/current/public/index.php",
                        check=False)
    assert rc.returncode != 0 and "Permission denied" in rc.stderr, rc.stderr
    # The secret reached the server's .env and nowhere in our state: not the audit log, not
    # the database, not ansible-runner's artifacts.
    assert password in app_server.run("cat /srv/apps/catatan-staging/shared/.env").stdout
    leaked = subprocess.run(["grep", "-rl", password, str(install_home / "state"), "--exclude-dir=secrets"],
                            capture_output=True, text=True)
    assert leaked.stdout == "", f"secret found in {leaked.stdout}"
    assert password not in json.dumps(audit_events(rid))


def test_python_new_tag_concurrent_install_and_rollback(install_home: Path, app_server, git_server) -> None:
    rid = "REQ-2026-0103"
    work = git_server.create("python", "antrian")
    open_request(rid, spec_for("python", app_server), install_home)
    name = "antrian-staging.batam.go.id"
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 0, r
    assert "Layanan Antrian versi 1 (Selamat datang)" in served(app_server, name)

    v2 = git_server.commit_and_tag(work, "v2.0.0", {"app.py": (work / "app.py").read_text().replace(
        'VERSION = "1"', 'VERSION = "2"')})
    # A second install of the same request while the first runs: refused by the lock.
    def attempts() -> int:
        return sum(1 for e in audit_events(rid) if e["provider"] == "install" and e["outcome"] == "attempted")

    before = attempts()
    first = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parents[2] / "cli.py"), "install", rid,
                              "--ref", "v2.0.0", "--yes"], env=os.environ.copy(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    # The first install's attempt is logged while it holds the lock: from then on it runs.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and attempts() == before:
        time.sleep(0.2)
    assert attempts() == before + 1, "the first install did not start within 60 s"
    r = run_cli("install", rid, "--ref", "v2.0.0", "--yes", "--lock-timeout", "1")
    out, errs = first.communicate(timeout=300)
    assert r.exit_code == 6, r
    assert "lock" in r.stderr.lower()
    assert first.returncode == 0, errs
    assert f"(commit {v2[:12]})" in out
    assert "Layanan Antrian versi 2" in served(app_server, name)

    r = run_cli("rollback", rid, "--yes")
    assert r.exit_code == 0, r
    assert f"from release {v2[:12]}" in r.stdout
    assert "Layanan Antrian versi 1" in served(app_server, name)
    r = run_cli("test", rid)
    assert r.exit_code == 0, r
    assert f"at commit {git_server_commit(work, 'v1.0.0')[:12]}" in r.stdout
    assert "PASS  infra     service antrian-staging running" in r.stdout


def _installs(request_id: str) -> int:
    return sum(1 for e in audit_events(request_id) if e["provider"] == "install" and e["outcome"] == "attempted")


def test_no_change_install_runs_no_playbook_until_something_changes(install_home: Path, app_server,
                                                                    git_server) -> None:
    """The server's fact file: a no-change install is one SSH command; a changed environment,
    spec, commit behind the tag or a hand-edited file runs the playbook again."""
    from devstack.git_server import git

    rid = "REQ-2026-0105"
    work = git_server.create("static", "papan-info")
    spec = spec_for("static", app_server, **{"slug: portal-statis": "slug: papan-info"})
    open_request(rid, spec, install_home)
    name = "papan-info-staging.batam.go.id"
    facts = "/var/lib/kominfo-provision/installed/papan-info-staging.json"

    def install(*extra: str) -> str:
        before = _installs(rid)
        r = run_cli("install", rid, "--ref", "v1.0.0", "--yes", *extra)
        assert r.exit_code == 0, r
        ran = _installs(rid) - before
        if ran:
            assert ran == 1 and "Installed v1.0.0 (commit " in r.stdout, r
            return "ran"
        assert "Nothing to install: v1.0.0 is installed on" in r.stdout and "no playbook run" in r.stdout, r
        assert "nothing to do" in r.stdout, r
        return "skipped"

    assert install() == "ran"
    mode = app_server.run(f"stat -c '%a %U' {facts}").stdout.split()
    assert mode == ["600", "root"]
    recorded = json.loads(app_server.run(f"cat {facts}").stdout)
    assert len(recorded["commit"]) == 40 and len(recorded["playbook_version"]) == 64
    assert recorded["files"]["/etc/nginx/sites-available/papan-info-staging.conf"]
    started = time.monotonic()
    assert install() == "skipped"
    skipped_in = time.monotonic() - started
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0 and "nothing to do" in r.stdout and "Dry run: nothing installed." in r.stdout, r

    # --force-run runs the playbook anyway (and it changes nothing).
    assert install("--force-run") == "ran"
    assert install() == "skipped"

    # A changed environment value (a secret added for the request).
    secrets = install_home / "state" / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / f"{rid}.env").write_text("API_TOKEN=token-uji-Yt61\n")
    (secrets / f"{rid}.env").chmod(0o600)
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0 and "the environment changed since the last install" in r.stdout, r
    assert install() == "ran"
    assert install() == "skipped"

    # A changed spec (what the vhost serves).
    r = run_cli("spec", "set", rid, str(_write(install_home / "papan2.yaml", spec_for(
        "static", app_server, **{"slug: portal-statis": "slug: papan-info",
                                 "kind: static": "kind: static\n  writable: [unggahan]"}))))
    assert r.exit_code == 0, r
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0 and "the spec or configuration changed" in r.stdout, r
    assert install() == "ran"
    assert install() == "skipped"

    # A new commit for the same tag (the tag moved on the git server).
    (work / "index.html").write_text("<h1>Portal Statis Pemko, dipindah</h1>\n")
    git("commit", "-qam", "tag dipindah", cwd=work)
    git("tag", "-f", "v1.0.0", cwd=work)
    git("push", "-qf", str(git_server.root / "papan-info.git"), "main", "v1.0.0", cwd=work)
    moved = git("rev-parse", "HEAD", cwd=work)
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0 and f"v1.0.0 is now commit {moved[:12]}" in r.stdout, r
    assert install() == "ran"
    assert "dipindah" in served(app_server, name)
    assert install() == "skipped"

    # A file the playbook wrote, edited by hand on the server.
    app_server.run("echo '# diubah tangan' >> /etc/nginx/sites-available/papan-info-staging.conf")
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0, r
    assert "/etc/nginx/sites-available/papan-info-staging.conf on the server differs" in r.stdout, r
    assert install() == "ran"
    assert "diubah tangan" not in app_server.run("cat /etc/nginx/sites-available/papan-info-staging.conf").stdout
    assert install() == "skipped"
    # The whole no-change install (CLI start-up, one SSH command) well under the playbook's time.
    assert skipped_in < 10, skipped_in


def git_server_commit(work: Path, ref: str) -> str:
    from devstack.git_server import git

    return git("rev-list", "-n1", ref, cwd=work)


def test_changed_host_key_is_refused(install_home: Path, app_server, sandbox) -> None:
    rid = "REQ-2026-0104"
    open_request(rid, spec_for("static", app_server), install_home)
    key = install_home / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    wrong = install_home / "known_hosts"
    wrong.write_text(f"{app_server.name} {' '.join(key.with_suffix('.pub').read_text().split()[:2])}\n")
    cfg = install_home / "provision.toml"
    cfg.write_text(cfg.read_text().replace(f'known_hosts = "{sandbox.known_hosts}"', f'known_hosts = "{wrong}"'))
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 9, r
    assert f"the SSH host key of {app_server.name} does not match the pinned key: refused" in r.stderr
    r = run_cli("exec", rid, "--", "true")
    assert r.exit_code == 9, r
    assert "does not match the pinned key" in r.stderr
    events = audit_events(rid)
    assert [e["outcome"] for e in events if e["provider"] == "install"] == ["attempted", "failed"]


def _status(server, name: str, auth: str = "") -> str:  # type: ignore[no-untyped-def]
    """The HTTP status nginx answers for `name` inside the server ('000': no answer)."""
    argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", *(["-u", auth] if auth else [])]
    return server.run([*argv, *request_args(name)], check=False).stdout.strip()


def test_staging_answers_only_the_allowed_and_stops_when_production_is_live(install_home: Path, app_server,
                                                                            git_server) -> None:
    import datetime as dt

    from provision.context import App
    from provision.store.models import Hosting

    rid = "REQ-2026-0134"
    git_server.create("static", "portal-tahap")
    open_request(rid, spec_for("static", app_server, **{"slug: portal-statis": "slug: portal-tahap",
                                                         "name: Portal Statis": "name: Portal Tahap"}), install_home)
    staging, production = "portal-tahap-staging.batam.go.id", "portal-tahap.batam.go.id"
    cfg = install_home / "provision.toml"
    base = cfg.read_text()
    # The default allows loopback and the private ranges: the server's own curl is served.
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 0, r
    assert _status(app_server, staging) == "200"
    # Only over TLS, with a certificate made on the server for the staging name (the pinned
    # curl above verified it covers the name): no server block of it listens on port 80.
    vhost = app_server.run(["cat", "/etc/nginx/sites-available/portal-tahap-staging.conf"]).stdout
    assert "listen 443 ssl" in vhost and "listen 80" not in vhost and ":80;" not in vhost, vhost
    cert, key = staging_cert_paths("portal-tahap-staging")
    assert app_server.run(["stat", "-c", "%U %a", key]).stdout.split() == ["root", "600"]
    assert app_server.run(["openssl", "x509", "-in", cert, "-noout", "-checkend", "86400"],
                          check=False).returncode == 0
    # Another network only: the same curl is refused.
    cfg.write_text(base + 'staging_allow = ["192.0.2.0/24"]\n')
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 0, r
    assert _status(app_server, staging) == "403"
    # No network and no password file: refused before anything is touched.
    cfg.write_text(base + "staging_allow = []\n")
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 2, r
    assert "hosting.staging_allow: is empty and hosting.staging_auth_file is not set" in r.stderr
    # A password file: its users only (and still the allowed networks).
    hashed = subprocess.run(["openssl", "passwd", "-apr1", "uji-rahasia"], capture_output=True, text=True,
                            check=True).stdout.strip()
    auth = install_home / "staging.htpasswd"
    auth.write_text(f"penguji:{hashed}\n")
    auth.chmod(0o600)
    cfg.write_text(base + f'staging_auth_file = "{auth}"\n')
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 0, r
    assert _status(app_server, staging) == "401"
    assert _status(app_server, staging, "penguji:salah") == "401"
    assert _status(app_server, staging, "penguji:uji-rahasia") == "200"
    mode = app_server.run(["stat", "-c", "%U:%G %a", "/etc/nginx/kominfo-auth/portal-tahap-staging.htpasswd"]).stdout
    assert mode.strip() == "root:www-data 640"
    assert "uji-rahasia" not in json.dumps(audit_events(rid))
    # Hosted (the registry row step 15 writes), then production goes live: staging stops.
    app = App()
    now = dt.datetime.now(dt.UTC)
    with app.store.write() as s:
        s.add(Hosting(request_id=rid, host=app_server.name, domain=production, runtime="static", database="none",
                      tls_expiry=None, status="active", created_at=now, updated_at=now, staging="serving"))
    app.store.dispose()
    r = run_cli("install", rid, "--ref", "v1.0.0", "--env", "production", "--dry-run")
    assert r.exit_code == 0, r
    assert f"- install.staging portal-tahap-staging on {app_server.name}" in r.stdout, r.stdout
    r = run_cli("install", rid, "--ref", "v1.0.0", "--env", "production", "--yes")
    assert r.exit_code == 0, r
    assert _status(app_server, production) == "200"
    assert "Portal Statis Pemko" in served(app_server, production)
    # No server block names staging any more (on a hosted server the catch-all answers it).
    assert staging not in app_server.run(["nginx", "-T"]).stdout
    assert app_server.run(["test", "-e", "/etc/nginx/sites-enabled/portal-tahap-staging.conf"],
                          check=False).returncode != 0
    assert app_server.run(["test", "-d", "/srv/apps/portal-tahap-staging/current"], check=False).returncode == 0
    listed = run_cli("hosting", "list", "--json")
    assert listed.exit_code == 0, listed
    assert [(x["request"], x["staging"]) for x in listed.json] == [(rid, "stopped")]
    assert [(e["before"], e["after"]) for e in audit_events(rid) if e["action"] == "staging"] == \
        [({"staging": "serving"}, {"staging": "stopped"})]
    verify = run_cli("audit", "verify")
    assert verify.exit_code == 0, verify
    # A second production install changes nothing; a staging install serves staging again
    # (the stopped site is not what the staging install recorded).
    r = run_cli("install", rid, "--ref", "v1.0.0", "--env", "production", "--yes", "--json", "--force-run")
    assert r.exit_code == 0 and r.json["result"]["changed"] == 0, r
    r = run_cli("install", rid, "--ref", "v1.0.0", "--env", "production", "--yes")
    assert r.exit_code == 0 and "Nothing to install" in r.stdout, r
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0 and "sites-enabled/portal-tahap-staging.conf on the server differs" in r.stdout, r
    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 0 and "Installed v1.0.0" in r.stdout, r
    assert _status(app_server, staging, "penguji:uji-rahasia") == "200"
    assert run_cli("hosting", "list", "--json").json[0]["staging"] == "serving"
    # A spec that keeps staging: production goes live again, staging keeps serving.
    spec = install_home / "keep.yaml"
    spec.write_text(spec_for("static", app_server, **{"slug: portal-statis": "slug: portal-tahap",
                                                     "name: Portal Statis": "name: Portal Tahap",
                                                     "  tls: false": "  tls: false\n  keep_staging: true"}))
    r = run_cli("spec", "set", rid, str(spec))
    assert r.exit_code == 0, r
    r = run_cli("install", rid, "--ref", "v1.0.0", "--env", "production", "--dry-run")
    assert r.exit_code == 0 and "install.staging" not in r.stdout, r
    r = run_cli("install", rid, "--ref", "v1.0.0", "--env", "production", "--yes")
    assert r.exit_code == 0, r
    assert _status(app_server, staging, "penguji:uji-rahasia") == "200"
    assert run_cli("hosting", "list", "--json").json[0]["staging"] == "kept"
