"""Failures found before or without a working server: host not in the inventory, an
unreachable host, the request's lock held, no test run for the report."""

from __future__ import annotations

from pathlib import Path

from devstack.sandbox import free_port
from tests.helpers import run_cli
from tests.install.conftest import APPS, open_request


def _config(home: Path, inventory: str) -> None:
    inv = home / "inventory.yml"
    inv.write_text(inventory)
    known = home / "known_hosts"
    known.write_text("")
    (home / "provision.toml").write_text(
        f'[general]\nstate_dir = "{home / "state"}"\n[hosting]\ninventory = "{inv}"\n'
        f'known_hosts = "{known}"\nrepo_url = "git://127.0.0.1:9/{{slug}}.git"\n')


def test_host_not_in_inventory(provision_home: Path) -> None:
    _config(provision_home, "all:\n  hosts:\n    web1:\n      ansible_host: 127.0.0.1\n")
    open_request("REQ-2026-0201", (APPS / "static" / "spec.yaml").read_text(), provision_home)
    r = run_cli("install", "REQ-2026-0201", "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 2, r
    assert "the host 'kominfo1' is not in the inventory" in r.stderr and "hosts: web1" in r.stderr
    r = run_cli("test", "REQ-2026-0201")
    assert r.exit_code == 2 and "not in the inventory" in r.stderr, r


def test_unreachable_host(provision_home: Path) -> None:
    port = free_port()  # nothing listens there
    _config(provision_home, f"all:\n  hosts:\n    kominfo1:\n      ansible_host: 127.0.0.1\n"
                            f"      ansible_port: {port}\n      ansible_user: root\n")
    open_request("REQ-2026-0202", (APPS / "static" / "spec.yaml").read_text(), provision_home)
    r = run_cli("install", "REQ-2026-0202", "--ref", "v1.0.0", "--yes")
    assert r.exit_code == 8, r
    assert "kominfo1 is unreachable" in r.stderr and "Nothing was changed" in r.stderr
    r = run_cli("install", "REQ-2026-0202", "--ref", "--oops", "--yes")
    assert r.exit_code == 2, r
    r = run_cli("audit", "log", "REQ-2026-0202", "--json")
    assert r.exit_code == 0
    outcomes = [e["outcome"] for e in r.json if e["provider"] == "install"]
    assert outcomes == ["attempted", "failed"]


def test_lock_held_by_another_run(provision_home: Path) -> None:
    _config(provision_home, "all:\n  hosts:\n    kominfo1:\n      ansible_host: 127.0.0.1\n")
    open_request("REQ-2026-0203", (APPS / "static" / "spec.yaml").read_text(), provision_home)
    from provision.context import App

    app = App()
    with app.lock("REQ-2026-0203", timeout=1):
        r = run_cli("install", "REQ-2026-0203", "--ref", "v1.0.0", "--yes", "--lock-timeout", "0.5")
    assert r.exit_code == 6, r
    assert "lock" in r.stderr.lower()


def test_report_without_test_run(provision_home: Path) -> None:
    _config(provision_home, "all:\n  hosts:\n    kominfo1:\n")
    open_request("REQ-2026-0204", (APPS / "static" / "spec.yaml").read_text(), provision_home)
    r = run_cli("report", "REQ-2026-0204", "berita-acara")
    assert r.exit_code == 2, r
    assert "has no recorded test run" in r.stderr and "provision test REQ-2026-0204" in r.stderr


def test_rollback_without_install(provision_home: Path) -> None:
    _config(provision_home, "all:\n  hosts:\n    kominfo1:\n")
    open_request("REQ-2026-0205", (APPS / "static" / "spec.yaml").read_text(), provision_home)
    r = run_cli("rollback", "REQ-2026-0205", "--yes")
    assert r.exit_code == 2, r
    assert "has no successful staging install to roll back from" in r.stderr


def test_dry_run_shows_the_target_and_touches_nothing(provision_home: Path) -> None:
    _config(provision_home, "all:\n  hosts:\n    kominfo1:\n      ansible_host: 127.0.0.1\n")
    open_request("REQ-2026-0206", (APPS / "static" / "spec.yaml").read_text(), provision_home)
    r = run_cli("install", "REQ-2026-0206", "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0, r
    assert "static application portal-statis as portal-statis-staging on kominfo1" in r.stdout
    assert "/srv/apps/portal-statis-staging" in r.stdout
    # what would change, not only where (the install's plan)
    assert "install plan for REQ-2026-0206: 4 to create, 1 to update" in r.stdout, r.stdout
    for line in ("+ install.release /srv/apps/portal-statis-staging/releases on kominfo1",
                 "+ install.environment /srv/apps/portal-statis-staging/shared/.env on kominfo1",
                 "+ install.switch /srv/apps/portal-statis-staging/current on kominfo1",
                 "~ install.restart nginx vhost portal-statis-staging on kominfo1"):
        assert line in r.stdout, r.stdout
    assert "Dry run: nothing installed." in r.stdout
    r = run_cli("install", "REQ-2026-0206", "--ref", "v1.0.0", "--dry-run", "--json")
    assert r.exit_code == 0, r
    assert r.json["result"] is None and r.json["checksum"] == r.json["plans"][0]["checksum"]
    assert [c["kind"] for c in r.json["plans"][0]["changes"]] == [
        "install.release", "install.environment", "install.vhost", "install.switch", "install.restart"]
    r = run_cli("install", "REQ-2026-0206", "--ref", "v1.0.0", "--checksum", "0" * 16, "--yes")
    assert r.exit_code == 7 and "the plan is not the one reviewed (checksum 0000000000000000" in r.stderr, r
    assert not (provision_home / "state" / "ansible" / "runs").exists()
    r = run_cli("install", "REQ-2026-0206", "--ref", "v1.0.0")
    assert r.exit_code == 2 and "Pass --yes" in r.stderr, r  # no terminal to ask on


def test_an_ssh_repository_needs_the_projects_own_deploy_key(provision_home: Path) -> None:
    from provision import deploy_keys

    _config(provision_home, "all:\n  hosts:\n    kominfo1:\n      ansible_host: 127.0.0.1\n")
    known = provision_home / "git_known_hosts"
    known.write_text("[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n")
    cfg = provision_home / "provision.toml"
    cfg.write_text(cfg.read_text().replace('repo_url = "git://127.0.0.1:9/{slug}.git"',
                                           'repo_url = "ssh://git@127.0.0.1:2222/{slug}.git"\n'
                                           f'repo_known_hosts = "{known}"'))
    rid = "REQ-2026-0207"
    open_request(rid, (APPS / "static" / "spec.yaml").read_text(), provision_home)
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 2, r
    assert f"deploy key: {rid} has no deploy key yet: `provision repo apply {rid}` makes it" in r.stderr
    key = deploy_keys.current_path(provision_home / "state", rid)
    deploy_keys.ensure(key)
    key.chmod(0o644)
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 2 and f"the deploy key of {rid}" in r.stderr and "0644" in r.stderr, r
    key.chmod(0o600)
    r = run_cli("install", rid, "--ref", "v1.0.0", "--dry-run")
    assert r.exit_code == 0 and "deploy key" not in r.stderr, r
