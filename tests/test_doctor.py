"""`provision doctor` against the real sandbox (BIND, a server over SSH, the GitLab
emulator, pebble): everything passes on the sandbox's configuration, and each kind of
broken dependency is named with its code, its hint and exit 3."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.secret_sweep import remember

CHECKOUT = Path(__file__).resolve().parents[1]
PY = sys.executable


class Sb:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = base / "sb"
        self.config = self.state / "provision.toml"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
        self.env.update(KOMINFO_SANDBOX_DIR=str(self.state), PROVISION_ACTOR="doctor-test", PYTHONPATH=str(CHECKOUT))

    def sandbox(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PY, "-m", "devstack.sandbox", "--state-dir", str(self.state), *args], cwd=CHECKOUT,
                              capture_output=True, text=True, timeout=900)

    def variant(self, name: str, extra: str = "", replace: tuple[str, str] | None = None) -> Path:
        """The sandbox's configuration with `replace` applied and `extra` appended."""
        text = self.config.read_text()
        if replace:
            assert replace[0] in text, replace[0]
            text = text.replace(*replace)
        path = self.base / f"{name}.toml"
        path.write_text(text + "\n" + extra)
        return path

    def doctor(self, config: Path | None = None, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "PROVISION_CONFIG": str(config or self.config)}
        return subprocess.run([PY, str(CHECKOUT / "cli.py"), "doctor", *args], cwd=self.base, env=env,
                              capture_output=True, text=True, timeout=300)

    def doctor_json(self, config: Path | None = None, *args: str) -> tuple[int, dict[str, Any]]:
        r = self.doctor(config, "--json", *args)
        return r.returncode, json.loads(r.stdout)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sb]:
    base = Path(tempfile.mkdtemp(prefix="kp-doctor-"))
    base.chmod(0o755)
    s = Sb(base)
    r = s.sandbox("up")  # with pebble: tls_source = "acme"
    try:
        assert r.returncode == 0, f"the sandbox did not come up: {r.stdout[-2000:]} {r.stderr[-2000:]}"
        yield s
    finally:
        s.sandbox("down")
        shutil.rmtree(base, ignore_errors=True)


def _items(data: dict[str, Any], code: str) -> list[dict[str, str]]:
    return [i for i in data["items"] if i["code"] == code]


def _failed(data: dict[str, Any]) -> list[dict[str, str]]:
    return [i for i in data["items"] if i["status"] == "fail"]


def test_everything_passes_on_the_sandbox(sb: Sb) -> None:
    r = sb.doctor()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout
    for code in ("DR-CONFIG", "DR-STATE", "DR-GITLAB", "DR-TOKEN", "DR-DNS", "DR-TSIG", "DR-VERIFY",
                 "DR-INVENTORY", "DR-SSH", "DR-SUDO", "DR-PACKAGES", "DR-ACME", "DR-DIR"):
        assert re.search(rf"^PASS +{code} ", r.stdout, re.M), code
    rc, data = sb.doctor_json()
    assert rc == 0 and data["ok"] is True and data["counts"]["fail"] == 0
    statuses = {i["code"]: i["status"] for i in data["items"] if i["code"] != "DR-SCHEMA"}
    assert set(statuses.values()) == {"pass"}, data["items"]
    # The state store was not created by looking at it: the schema is reported empty.
    assert _items(data, "DR-SCHEMA")[0]["status"] == "warn"
    assert "provision db upgrade" in _items(data, "DR-SCHEMA")[0]["hint"]
    groups = {i["name"]: i["status"] for i in _items(data, "DR-CONFIG")}
    assert groups == {"configuration": "pass", "group repo": "pass", "group dns": "pass", "group install": "pass",
                      "group hosting": "pass", "group check": "pass"}
    assert any("kominfo1" in i["name"] for i in _items(data, "DR-PACKAGES"))
    # After `provision db upgrade` the schema is current.
    env = {**sb.env, "PROVISION_CONFIG": str(sb.config)}
    up = subprocess.run([PY, str(CHECKOUT / "cli.py"), "db", "upgrade"], env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    rc, data = sb.doctor_json()
    assert rc == 0 and _items(data, "DR-SCHEMA")[0]["status"] == "pass", data


def test_a_wrong_token(sb: Sb) -> None:
    token = sb.base / "wrong-token"
    remember("glpat-wrongwrongwrongwrong", "GitLab token (doctor test)")
    token.write_text("glpat-wrongwrongwrongwrong\n")
    token.chmod(0o600)
    cfg = sb.variant("wrong-token", replace=(str(sb.state / "gitlab-token"), str(token)))
    r = sb.doctor(cfg)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "provision doctor: 1 of" in r.stderr and "items failed" in r.stderr
    assert "FAIL" in r.stdout and "DR-TOKEN" in r.stdout
    rc, data = sb.doctor_json(cfg)
    assert rc == 3 and data["ok"] is False
    [bad] = _failed(data)
    assert bad["code"] == "DR-TOKEN" and bad["name"] == "GitLab token"
    assert "PROVISION_GITLAB_TOKEN" in bad["hint"] or "token" in bad["hint"].lower(), bad
    assert "glpat-wrong" not in r.stdout + r.stderr


def test_a_token_without_the_api_scope(sb: Sb) -> None:
    from devstack.demo_push import developer_token

    creds = json.loads((sb.state / "gitlab" / "credentials.json").read_text())
    token = sb.base / "read-token"
    value = developer_token(creds["url"], creds["root_token"], "root", scopes=("read_api",))
    remember(value, "GitLab token (doctor test, read_api)")
    token.write_text(value + "\n")
    token.chmod(0o600)
    cfg = sb.variant("read-token", replace=(str(sb.state / "gitlab-token"), str(token)))
    rc, data = sb.doctor_json(cfg)
    assert rc == 3
    [bad] = _failed(data)
    assert bad["code"] == "DR-TOKEN" and "read_api but not api" in bad["message"], bad
    assert "api scope" in bad["hint"]


def test_a_wrong_tsig_key(sb: Sb) -> None:
    real = (sb.state / "bind" / "client.key").read_text()
    name = real.split('"')[1]
    made = subprocess.run(["tsig-keygen", "-a", "hmac-sha256", name], capture_output=True, text=True, check=True)
    key = sb.base / "wrong.key"
    remember(made.stdout.split('secret "')[1].split('"')[0], "TSIG key (doctor test)")
    key.write_text(made.stdout)
    key.chmod(0o600)
    cfg = sb.variant("wrong-tsig", replace=(str(sb.state / "bind" / "client.key"), str(key)))
    r = sb.doctor(cfg)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "items failed" in r.stderr
    rc, data = sb.doctor_json(cfg)
    [bad] = _failed(data)
    assert bad["code"] == "DR-TSIG" and "BADSIG" in bad["message"], bad
    assert "dns.tsig_key_file" in bad["hint"]
    assert _items(data, "DR-DNS")[0]["status"] == "pass"  # the primary answered


def test_a_host_with_an_unknown_key(sb: Sb) -> None:
    other = sb.base / "other_known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(sb.base / "stray")], check=True)
    pub = (sb.base / "stray.pub").read_text().split()
    lines = [ln for ln in (sb.state / "known_hosts").read_text().splitlines() if ln.strip()]
    # The same names, another key: the server's real key is not pinned.
    other.write_text("".join(f"{ln.split()[0]} {pub[0]} {pub[1]}\n" for ln in lines))
    cfg = sb.variant("unknown-key", replace=(f'known_hosts = "{sb.state / "known_hosts"}"', f'known_hosts = "{other}"'))
    r = sb.doctor(cfg)
    assert r.returncode == 3, r.stdout + r.stderr
    rc, data = sb.doctor_json(cfg)
    [bad] = _failed(data)
    assert bad["code"] == "DR-SSH" and bad["name"] == "host kominfo1: SSH", bad
    assert "does not match the pinned key" in bad["message"] and "hosting.known_hosts" in bad["hint"]
    assert not _items(data, "DR-SUDO")  # nothing ran on a host whose key did not match


def test_a_missing_package(sb: Sb) -> None:
    inv = json.loads((sb.state / "inventory.json").read_text())
    hv = inv["_meta"]["hostvars"]["kominfo1"]
    hv["provision_php_versions"] = ["8.2", "7.4"]
    path = sb.base / "inventory.json"  # ansible-inventory reads JSON as YAML
    path.write_text(json.dumps({"all": {"children": {"kominfo": {"hosts": {"kominfo1": hv}}}}}))
    cfg = sb.variant("missing-package", replace=(f'inventory = "{CHECKOUT / "inventory" / "sandbox"}"',
                                                   f'inventory = "{path}"'))
    r = sb.doctor(cfg)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "missing: php7.4-fpm" in r.stdout
    rc, data = sb.doctor_json(cfg)
    [bad] = _failed(data)
    assert bad["code"] == "DR-PACKAGES" and bad["message"] == "missing: php7.4-fpm", bad
    assert "apt-get install php7.4-fpm" in bad["hint"] and "provision server prepare kominfo1" in bad["hint"]


def test_an_unwritable_directory(sb: Sb) -> None:
    # /sys refuses new files even to root: a real unwritable directory.
    r = sb.doctor(None, "--textfile", "/sys/provision.prom")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "DR-DIR" in r.stdout and "items failed" in r.stderr
    rc, data = sb.doctor_json(None, "--textfile", "/sys/provision.prom")
    [bad] = _failed(data)
    assert bad["code"] == "DR-DIR" and "cannot write in /sys" in bad["message"], bad
    assert "write access" in bad["hint"]


def test_an_acme_directory_not_trusted(sb: Sb) -> None:
    # The ACME root (it signs certificates) is not the CA of the directory's TLS listener.
    cfg = sb.variant("acme-ca", replace=(f'acme_ca_bundle = "{sb.state / "pebble" / "listener-ca.pem"}"',
                                         f'acme_ca_bundle = "{sb.state / "pebble" / "root.pem"}"'))
    r = sb.doctor(cfg)
    assert r.returncode == 3, r.stdout + r.stderr
    rc, data = sb.doctor_json(cfg)
    [bad] = _failed(data)
    assert bad["code"] == "DR-ACME" and bad["name"] == "host kominfo1: ACME directory", bad
    assert "CERTIFICATE_VERIFY_FAILED" in bad["message"] and "hosting.acme_ca_bundle" in bad["hint"]


def test_a_group_not_configured_is_skipped_and_a_partial_one_fails(sb: Sb, tmp_path: Path) -> None:
    cfg = tmp_path / "dns-only.toml"
    cfg.write_text(f'[general]\nstate_dir = "{tmp_path / "state"}"\n\n[dns]\nzone = "batam.test"\n')
    rc, data = sb.doctor_json(cfg)
    assert rc == 3
    groups = {i["name"]: i for i in _items(data, "DR-CONFIG")}
    assert groups["group repo"]["status"] == "skip"
    assert groups["group repo"]["message"] == "not configured (missing gitlab.url, gitlab.root_group, gitlab.token)"
    assert groups["group dns"]["status"] == "fail"
    assert "missing dns.tsig_key_file" in groups["group dns"]["message"]
    assert not _items(data, "DR-GITLAB")  # a group not in use is not contacted


def test_every_code_is_documented() -> None:
    from provision.doctor import CODES

    en = (CHECKOUT / "docs" / "troubleshooting.md").read_text()
    id_ = (CHECKOUT / "docs" / "id" / "pemecahan-masalah.md").read_text()
    for code in CODES:
        assert f"### {code} " in en, code
        assert f"### {code} " in id_, code


def _toml(data: dict[str, Any]) -> str:
    out = []
    for section, keys in data.items():
        out.append(f"[{section}]")
        out += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
        out.append("")
    return "\n".join(out)


def test_the_operator_guide_configuration_passes_against_the_sandbox(sb: Sb) -> None:
    """The guide's configuration (docs/operator-guide.md) with the sandbox's servers,
    keys and paths put in for Batam's: doctor passes, every group configured."""
    import tomllib

    from tests.test_config_whole import GUIDES, _guide_toml

    guide = tomllib.loads(_guide_toml(GUIDES[0]))
    sandbox = tomllib.loads(sb.config.read_text())
    for section in ("general", "database", "dns", "gitlab", "hosting"):
        guide.setdefault(section, {}).update(sandbox.get(section, {}))
    assert set(guide["hosting"]) >= {"inventory", "known_hosts", "repo_url", "repo_known_hosts", "acme_email"}
    cfg = sb.base / "guide.toml"
    cfg.write_text(_toml(guide))
    r = sb.doctor(cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout
    rc, data = sb.doctor_json(cfg)
    assert rc == 0 and not _failed(data)
    assert {i["name"]: i["status"] for i in _items(data, "DR-CONFIG")}["group install"] == "pass"
