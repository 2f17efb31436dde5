"""`provision server prepare`: the baseline playbook on a sandbox server, planned first,
audited, and changing nothing the second time.

The sandbox's servers come from a root filesystem that already holds most of the
baseline (nginx, php-fpm, the databases, certbot, git, acl). What it lacks (nftables and
its libraries, systemd-timesyncd, unattended-upgrades) is installed by the playbook from
a local apt repository the test builds from .deb files already on this machine
(/var/cache/apt/archives; libjansson4 rebuilt from its installed files), served to the
server as file:// (apt never leaves the server). unattended-upgrades has no .deb on this
machine: the repository carries an empty placeholder of that name, so the package step
runs, and the test checks the configuration the role writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.hosting.conftest import _environment, cli, write_config

ARCHIVES = Path("/var/cache/apt/archives")
FROM_ARCHIVES = ("nftables_", "libnftables1_", "libnftnl11_", "systemd-timesyncd_")


def _repack(pkg: str, out: Path) -> None:
    """A .deb of an installed package, from its files and its status entry (what dpkg-repack does)."""
    root = out / f"build-{pkg}"
    (root / "DEBIAN").mkdir(parents=True)
    files = subprocess.run(["dpkg-query", "-L", pkg], capture_output=True, text=True, check=True).stdout.split("\n")
    for f in files:
        p = Path(f)
        if f and p.is_file() and not p.is_symlink():
            dest = root / f.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest)
        elif f and p.is_symlink():
            dest = root / f.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(p.readlink())
    fields = subprocess.run(["dpkg-query", "-W", "-f", "Package: ${Package}\nVersion: ${Version}\n"
                             "Architecture: ${Architecture}\nMaintainer: ${Maintainer}\nDepends: ${Depends}\n"
                             "Description: ${Description}\n", pkg], capture_output=True, text=True, check=True)
    (root / "DEBIAN" / "control").write_text(fields.stdout)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True, capture_output=True)
    shutil.rmtree(root)


def _placeholder(pkg: str, out: Path) -> None:
    root = out / f"build-{pkg}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {pkg}\nVersion: 0~kominfo-test\nArchitecture: all\nMaintainer: tests <t@example.invalid>\n"
        "Description: placeholder: no .deb of it on the test machine\n")
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True, capture_output=True)
    shutil.rmtree(root)


def local_repository(where: Path) -> Path:
    where.mkdir(parents=True)
    for prefix in FROM_ARCHIVES:
        debs = sorted(ARCHIVES.glob(f"{prefix}*_amd64.deb"))
        assert debs, f"no {prefix}*.deb in {ARCHIVES}: the test's apt repository needs it"
        shutil.copy2(debs[-1], where)
    _repack("libjansson4", where)
    _placeholder("unattended-upgrades", where)
    packages = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=where, capture_output=True,
                              text=True, check=True).stdout
    (where / "Packages").write_text(packages)
    return where


@pytest.fixture
def prepare_env(tmp_path: Path, sandbox: Any, fresh_kominfo_server: Any) -> Any:
    server = fresh_kominfo_server
    repo = local_repository(tmp_path / "repo")
    # The server's apt sees only the local repository (copied in through its root).
    target = Path(f"/proc/{server.record.init_pid}/root/srv/kominfo-test-repo")
    shutil.copytree(repo, target)
    server.run("rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && "
               "echo 'deb [trusted=yes] file:/srv/kominfo-test-repo ./' > /etc/apt/sources.list && "
               "rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp && "
               "touch -d '2 days ago' /var/lib/apt/lists")  # stale: the play must update it
    hostvars = json.loads((Path(sandbox.state_dir) / "inventory.json").read_text())["_meta"]["hostvars"][server.name]
    hostvars.update({"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
                     "provision_php_versions": ["8.2"], "provision_db_engines": ["mariadb", "postgresql"],
                     "provision_ntp_servers": ["127.0.0.1"]})
    inv = tmp_path / "inventory.json.yml"
    inv.write_text(json.dumps({"web": {"hosts": {server.name: hostvars}}}))
    from devstack.ca import make_ca

    ca_cert, ca_key = make_ca(tmp_path / "ca")
    write_config(tmp_path, ca_cert, ca_key, str(inv), str(sandbox.ssh_config), str(sandbox.known_hosts))
    mp = _environment(tmp_path)
    yield server
    mp.undo()


def test_prepare_plans_installs_and_changes_nothing_the_second_time(prepare_env: Any) -> None:
    server = prepare_env
    assert server.run("dpkg-query -W nftables", check=False).returncode != 0  # really missing before

    r = cli("server", "prepare", server.name, "--dry-run")
    assert r.exit_code == 0, r
    assert "nftables" in (r.stdout + r.stderr) and "unattended-upgrades" in (r.stdout + r.stderr) and "systemd-timesyncd" in (r.stdout + r.stderr)
    assert "kominfo-deploy" in (r.stdout + r.stderr) and "/etc/nftables.conf" in (r.stdout + r.stderr)
    assert "Dry run: nothing applied." in (r.stdout + r.stderr)
    assert server.run("dpkg-query -W nftables", check=False).returncode != 0  # the dry run changed nothing

    r = cli("server", "prepare", server.name)  # no terminal, no --yes: refused, nothing done
    assert r.exit_code == 2, r
    assert "no terminal to ask on" in (r.stdout + r.stderr)

    r = cli("server", "prepare", server.name, "--yes")
    assert r.exit_code == 0, r
    assert "Applied 4 of 4 changes" in r.stdout, r

    for pkg in ("nftables", "systemd-timesyncd", "unattended-upgrades", "nginx", "php8.2-fpm", "mariadb-server",
                "postgresql", "python3-pymysql", "python3-psycopg2", "certbot", "python3-certbot-dns-rfc2136",
                "git", "acl"):
        st = server.run(f"dpkg-query -W -f '${{db:Status-Status}}' {pkg}", check=False)
        assert st.stdout == "installed", (pkg, st)
    rules = server.run("nft list ruleset").stdout
    assert "policy drop" in rules and "tcp dport { 22, 80, 443 } accept" in rules, rules
    assert "kominfo-deploy" in server.run("id kominfo-deploy").stdout
    assert server.run("stat -c '%U %a' /var/lib/kominfo-deploy").stdout.strip() == "kominfo-deploy 700"
    assert 'Unattended-Upgrade "1"' in server.run("cat /etc/apt/apt.conf.d/20auto-upgrades").stdout
    assert "NTP=127.0.0.1" in server.run("cat /etc/systemd/timesyncd.conf.d/kominfo-provision.conf").stdout

    r = cli("audit", "log", "--json")
    assert r.exit_code == 0, r
    events = [e for e in json.loads(r.stdout) if e.get("provider") == "server"]
    assert sorted(e["outcome"] for e in events) == ["attempted"] * 4 + ["succeeded"] * 4, events

    # Second time: the plan is empty, and the play run anyway changes nothing.
    r = cli("server", "prepare", server.name, "--yes")
    assert r.exit_code == 0, r
    assert "Nothing to do: every host has its baseline." in (r.stdout + r.stderr)
    r = cli("server", "prepare", server.name, "--yes", "--reconcile", "--json")
    assert r.exit_code == 0, r
    report = json.loads(r.stdout)["result"]
    assert report["details"]["changed"] == 0, report["details"]
    assert report["details"]["hosts"][server.name]["failed"] == 0


def test_prepare_refuses_bad_input_before_contacting_anything(prepare_env: Any) -> None:
    server = prepare_env
    r = cli("server", "prepare")
    assert r.exit_code == 2 and "name one inventory host, or pass --all" in (r.stdout + r.stderr), r
    r = cli("server", "prepare", "nosuchhost", "--dry-run")
    assert r.exit_code == 2 and "'nosuchhost' is not in the inventory" in (r.stdout + r.stderr), r
    assert server.run("dpkg-query -W nftables", check=False).returncode != 0
