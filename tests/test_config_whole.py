"""`config check` over the configuration as a whole: each command group's keys, the
inventory as `ansible-inventory` reads it, and the documented examples (the operator
guide's configuration, inventory/production.example) kept passing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [ROOT / "docs" / "operator-guide.md", ROOT / "docs" / "id" / "panduan-operator.md"]


def _guide_toml(guide: Path) -> str:
    m = re.search(r"```toml\n(.*?)```", guide.read_text(), re.S)
    assert m, guide
    return m.group(1)


def _secret(p: Path, text: str) -> None:
    p.write_text(text)
    p.chmod(0o600)


def _install_guide(guide: Path, home: Path) -> Path:
    """The guide's configuration with /etc/kominfo-provision/ replaced by `home`, and the
    files it names made there (the inventory is inventory/production.example)."""
    etc = home / "etc"
    etc.mkdir()
    key = subprocess.run(["tsig-keygen", "-a", "hmac-sha256", "provision-key"], capture_output=True, text=True,
                         check=True).stdout
    _secret(etc / "tsig.key", key)
    _secret(etc / "gitlab-token", "glpat-guide-example-token\n")
    _secret(etc / "deploy_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nexample\n-----END OPENSSH PRIVATE KEY-----\n")
    (etc / "deploy_key.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample kominfo\n")
    (etc / "known_hosts").write_text("")
    (etc / "gitlab_known_hosts").write_text("")
    shutil.copy(ROOT / "inventory" / "production.example", etc / "inventory")
    text = _guide_toml(guide).replace("/etc/kominfo-provision/", f"{etc}/")
    text = text.replace("[general]\n", f'[general]\nstate_dir = "{home / "state"}"\n', 1)
    cfg = home / "provision.toml"
    cfg.write_text(text)
    return cfg


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_the_guide_configuration_and_example_inventory_pass(guide: Path, provision_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _install_guide(guide, provision_home)
    monkeypatch.setenv("PROVISION_CONFIG", str(cfg))
    r = run_cli("config", "check")
    assert r.exit_code == 0, r
    assert "Configuration OK" in r.stdout
    for group in ("repo", "dns", "install", "hosting", "check"):
        assert f"{group}: configured\n" in r.stdout, r.stdout
    assert "Warning" not in r.stderr, r.stderr  # no unknown variable, every address probe-able


def test_unknown_host_variables_are_named(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _install_guide(GUIDES[0], provision_home)
    inv = provision_home / "etc" / "inventory"
    inv.write_text(inv.read_text().replace("provision_addresses='[\"203.0.113.11\"]'",
                                           "public_address=203.0.113.11 php_versions='[\"8.2\"]'"))
    monkeypatch.setenv("PROVISION_CONFIG", str(cfg))
    r = run_cli("config", "check")
    assert r.exit_code == 0, r  # a warning, not an error
    assert "Warning: inventory host web1.srv.batam.go.id: unknown variable public_address" in r.stderr, r.stderr
    assert "Warning: inventory host web1.srv.batam.go.id: unknown variable php_versions" in r.stderr
    assert "web2.srv.batam.go.id: unknown" not in r.stderr
    r = run_cli("config", "check", "--json")
    import json

    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["ok"] is True
    assert any("unknown variable public_address" in w for w in data["warnings"])


def test_addresses_outside_probe_networks_are_named(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _install_guide(GUIDES[0], provision_home)
    cfg.write_text(re.sub(r"\[checks\]\nprobe_networks = .*\n", "", cfg.read_text()))
    monkeypatch.setenv("PROVISION_CONFIG", str(cfg))
    r = run_cli("config", "check")
    assert r.exit_code == 0, r
    assert ("Warning: inventory host web1.srv.batam.go.id: address 203.0.113.11 is outside checks.probe_networks "
            "(127.0.0.0/8, ::1/128)") in r.stderr, r.stderr
    assert "inventory host db1.srv.batam.go.id: address 10.10.30.11 is outside" in r.stderr


def test_groups_not_configured_and_partly_configured(provision_home: Path) -> None:
    r = run_cli("config", "check")  # only general.state_dir: no group in use
    assert r.exit_code == 0, r
    assert "hosting: not configured (missing hosting.inventory, hosting.known_hosts, dns.zone)" in r.stdout
    assert "repo: not configured (missing gitlab.url, gitlab.root_group, gitlab.token)" in r.stdout
    assert "Warning" not in r.stderr
    cfg = Path(os.environ["PROVISION_CONFIG"])
    (provision_home / "inv").write_text("[web]\nweb1 ansible_host=127.0.0.1\n")
    (provision_home / "kh").write_text("")
    cfg.write_text(cfg.read_text() + f'[hosting]\ninventory = "{provision_home / "inv"}"\n'
                   f'known_hosts = "{provision_home / "kh"}"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 0, r
    assert ("Warning: install: partly configured: missing hosting.repo_url, hosting.repo_known_hosts "
            "(`provision install` needs them)") in r.stderr, r.stderr
    assert "install: partly configured (missing hosting.repo_url, hosting.repo_known_hosts)" in r.stdout
