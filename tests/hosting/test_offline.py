"""Hosting checks that need no server: names, the gate, the registry exports, the planner's
refusals, the local CA, the SQL quoting of the database modules, CLI usage errors."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from provision.errors import ExitCode
from tests.hosting.conftest import ZONE, HostingEnv, cli

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def _load_module(role: str, name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, PLAYBOOKS / "roles" / role / "library" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.mark.parametrize("role,name,quote", [("database_mariadb", "kominfo_mariadb", "`"),
                                             ("database_postgresql", "kominfo_postgresql", '"')])
def test_database_modules_quote_and_refuse_names(role: str, name: str, quote: str) -> None:
    mod = _load_module(role, name)
    assert mod.quote_ident("sisekolah_2") == f"{quote}sisekolah_2{quote}"
    for bad in ("a;drop", "a`b", 'a"b', "A", "1abc", "", "a b", "a-b", "x" * 70):
        with pytest.raises(ValueError, match="refusing"):
            mod.quote_ident(bad)


def test_config_alias_that_escapes_is_refused(offline_env: HostingEnv) -> None:
    offline_env.open_request("REQ-2026-0001", "sisekolah")
    cfg = offline_env.home / "provision.toml"
    cfg.write_text(cfg.read_text() + 'aliases = ["{subdomain};include /etc/passwd"]\n')
    r = cli("hosting", "plan", "REQ-2026-0001")
    assert r.exit_code == ExitCode.USAGE, r
    # Refused when the configuration is loaded, before the request is read.
    assert "invalid configuration (1 problem)" in r.stderr and "hosting.aliases[0]: '{subdomain};include" in r.stderr
    assert "has characters other than a-z, 0-9 and '-': ' /;'" in r.stderr, r


def test_absolute_alias_on_a_reserved_name_is_refused(offline_env: HostingEnv) -> None:
    # Refused by `spec set` already, which knows the configured zone (issue 13); the hosting
    # step checks it again for a spec stored under another configuration.
    with pytest.raises(AssertionError):  # its `spec set` exits 2: looked at below
        offline_env.open_request("REQ-2026-0002", "sipeg", aliases=[f"www.{ZONE}."])
    r = cli("spec", "set", "REQ-2026-0002", str(offline_env.home / "REQ-2026-0002.yaml"))
    assert r.exit_code == ExitCode.USAGE, r
    assert "hosting.aliases[0]" in r.stderr and "reserved" in r.stderr


def test_absolute_alias_outside_the_zone_and_suffixes_is_refused(offline_env: HostingEnv) -> None:
    """Issue 13: no site (and no ACME order) for an outside domain, unless its suffix is configured."""
    with pytest.raises(AssertionError):  # its `spec set` exits 2
        offline_env.open_request("REQ-2026-0004", "siluar", aliases=["siluar.example.org."])
    spec = str(offline_env.home / "REQ-2026-0004.yaml")
    r = cli("spec", "set", "REQ-2026-0004", spec)
    assert r.exit_code == ExitCode.USAGE, r
    assert "'siluar.example.org.' is outside batam.go.id and the configured hosting.alias_suffixes" in r.stderr
    cfg = offline_env.home / "provision.toml"
    cfg.write_text(cfg.read_text() + 'alias_suffixes = ["example.org"]\n')
    r = cli("spec", "set", "REQ-2026-0004", spec)
    assert r.exit_code == 0 and "spec version 1 stored" in r.stdout, r
    cfg.write_text(cfg.read_text() + 'aliases = ["{subdomain}.example.net."]\n')
    r = cli("hosting", "plan", "REQ-2026-0004")
    assert r.exit_code == ExitCode.USAGE, r
    assert ("hosting.aliases[0]: '{subdomain}.example.net.' is an absolute name outside dns.zone and "
            "hosting.alias_suffixes") in r.stderr, r.stderr


def test_host_not_in_inventory(offline_env: HostingEnv) -> None:
    offline_env.open_request("REQ-2026-0003", "sidata", host="web9")
    r = cli("hosting", "plan", "REQ-2026-0003")
    assert r.exit_code == ExitCode.USAGE, r
    assert "'web9' is not in the inventory" in r.stderr


def test_usage_errors_before_anything_is_read(offline_env: HostingEnv) -> None:
    offline_env.open_request("REQ-2026-0004", "sidata")
    r = cli("hosting", "delete", "REQ-2026-0004", "--purge", "--yes")
    assert r.exit_code == ExitCode.USAGE and "--purge removes the application's data" in r.stderr, r
    r = cli("hosting", "apply", "REQ-2026-0004", "--force", "--yes")
    assert r.exit_code == ExitCode.USAGE and "--force needs --reason" in r.stderr, r
    r = cli("hosting", "plan", "REQ-2026-0999")
    assert r.exit_code == ExitCode.USAGE and "REQ-2026-0999" in r.stderr, r


def test_gate(offline_env: HostingEnv) -> None:
    from provision.audit import read_events
    from provision.context import App
    from provision.errors import UsageError
    from provision.hosting.gate import GateRefused, require_passing_test

    offline_env.open_request("REQ-2026-0005", "sigate")
    app = App()
    assert require_passing_test(app, "REQ-2026-0005", "staging").passed
    with pytest.raises(GateRefused, match="no successful install") as e:
        require_passing_test(app, "REQ-2026-0005", "production", provider="dns")
    assert e.value.exit_code == ExitCode.UNSAFE_PLAN and "production dns" in str(e.value)
    offline_env.pass_gate("REQ-2026-0005", passed=False)
    with pytest.raises(GateRefused, match="latest test of commit a1b2c3d4e5f6 .* failed"):
        require_passing_test(app, "REQ-2026-0005", "production")
    with pytest.raises(UsageError, match="--reason"):
        require_passing_test(app, "REQ-2026-0005", "production", force=True)
    app.audit.start_run(["test"], "REQ-2026-0005", None)
    forced = require_passing_test(app, "REQ-2026-0005", "production", force=True, reason="SK darurat 1/2026")
    assert forced.forced and not forced.passed
    ev = [e for e in read_events(app.store, "REQ-2026-0005") if e.action == "gate-override"]
    assert len(ev) == 1 and ev[0].reason == "SK darurat 1/2026" and ev[0].provider == "hosting"
    offline_env.pass_gate("REQ-2026-0005", passed=True)  # a newer test of the same commit passed
    ok = require_passing_test(app, "REQ-2026-0005", "production")
    assert ok.passed and ok.commit and ok.commit.startswith("a1b2c3")


def test_registry_list_and_exports(offline_env: HostingEnv) -> None:
    from provision.context import App
    from provision.hosting import registry

    offline_env.open_request("REQ-2026-0006", "silist", name="Sistem | Daftar")
    app = App()
    registry.upsert(app.store, "REQ-2026-0006", host="web1", domain="silist.batam.go.id", runtime="php 8.2",
                    database="mariadb", tls_expiry=dt.datetime(2027, 2, 1, tzinfo=dt.UTC), status="active")
    r = cli("hosting", "list", "--json")
    assert r.exit_code == 0, r
    row = r.json[0]
    assert row["request"] == "REQ-2026-0006" and row["opd"] == "Dinas Pendidikan" and row["tls_expiry"] == "2027-02-01"
    assert row["domain"] == "silist.batam.go.id" and row["status"] == "active" and row["created"]
    r = cli("hosting", "list", "--format", "markdown")
    assert r.exit_code == 0 and "| Permohonan | OPD |" in r.stdout and "Sistem \\| Daftar" in r.stdout, r
    r = cli("hosting", "list", "--format", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("request,opd,application,host"), r
    assert "REQ-2026-0006,Dinas Pendidikan,Sistem | Daftar,web1,silist.batam.go.id" in r.stdout
    assert registry.to_csv([{"request": "=cmd|' /C calc'!A0"}]).splitlines()[1].startswith("'=cmd")
    r = cli("hosting", "list", "--status", "disabled", "--json")
    assert r.exit_code == 0 and r.json == [], r
    from provision.placement import tls_paths

    assert tls_paths(app, "REQ-2026-0006") == ("/etc/ssl/kominfo-provision/silist/fullchain.pem",
                                               "/etc/ssl/kominfo-provision/silist/privkey.pem")
    registry.set_status(app.store, "REQ-2026-0006", "disabled")
    assert tls_paths(app, "REQ-2026-0006") is None


def test_planner_refusals_and_decisions(tmp_path: Path) -> None:
    from devstack.ca import make_ca
    from provision.hosting import planner
    from provision.hosting.probe import HostState
    from provision.hosting.target import HostingTarget
    from provision.hosting.tls import LocalCA

    t = HostingTarget("REQ-1", "Dinas", "App", "web1", "app", "/srv/apps/app", "php", "8.2", "public", 0,
                      ["app.batam.go.id", "www.app.batam.go.id"], "mariadb", "app", True, "local-ca")
    empty = {"user": False, "root": False, "current": None, "vhost": False, "vhost_enabled": False, "vhost_names": [],
             "vhost_cert": None, "pool": False, "pool_disabled": False, "unit": False, "env_keys": [],
             "cert_pem": None, "cert_key": False, "dumps": []}
    db_down = {"mariadb": {"ok": False, "error": "ERROR 2002: Can't connect", "databases": [], "users": []}}
    with pytest.raises(planner.DatabaseUnavailable, match="MariaDB on web1 is not answering: ERROR 2002") as e:
        planner.plan_target(t, HostState("web1", db=db_down, apps={"app": empty}))
    assert e.value.exit_code == ExitCode.UNREACHABLE
    with pytest.raises(planner.HostOutOfDisk, match="/srv/apps has 12 MB free, at least 100 MB"):
        planner.check_host(HostState("web1", disk={"/srv/apps": 12, "/etc/nginx": 900}), 100)
    with pytest.raises(planner.NginxConfigBroken, match="already invalid.*unknown directive"):
        planner.check_host(HostState("web1", nginx_ok=False, nginx_error='unknown directive "x"'), 100)
    db_up = {"mariadb": {"ok": True, "error": "", "databases": [], "users": []}}
    changes, facts = planner.plan_target(t, HostState("web1", db=db_up, apps={"app": empty}))
    assert [c.kind for c in changes] == ["hosting.user", "hosting.database", "hosting.credentials", "hosting.tls",
                                         "hosting.runtime", "hosting.vhost"]
    assert facts["issue_cert"] and all(c.action == "create" for c in changes)
    assert "password" not in str([c.as_dict() for c in changes]).replace("'password': 'generated", "")
    # Everything in place, but the certificate lacks a name: only the certificate and vhost change.
    ca = LocalCA(*make_ca(tmp_path / "ca"))
    chain, _, _ = ca.issue(["app.batam.go.id"], tmp_path / "w")
    done = {**empty, "user": True, "root": True, "vhost": True, "vhost_enabled": True,
            "vhost_names": ["app.batam.go.id"], "vhost_cert": "/etc/ssl/kominfo-provision/app/fullchain.pem",
            "pool": True, "env_keys": planner.CRED_KEYS, "cert_pem": chain.read_text(), "cert_key": True}
    db_has = {"mariadb": {"ok": True, "error": "", "databases": ["app"], "users": ["app"]}}
    changes, _ = planner.plan_target(t, HostState("web1", db=db_has, apps={"app": done}), ca.key_id())
    assert [(c.action, c.kind) for c in changes] == [("update", "hosting.tls"), ("update", "hosting.vhost")]
    assert "does not cover www.app.batam.go.id" in changes[0].after["reason"]
    done_all = {**done, "vhost_names": t.server_names, "cert_pem": ca.issue(t.server_names, tmp_path / "w")[0].read_text()}
    assert planner.plan_target(t, HostState("web1", db=db_has, apps={"app": done_all}), ca.key_id())[0] == []
    other = LocalCA(*make_ca(tmp_path / "other", name="Other CA"))
    changes, _ = planner.plan_target(t, HostState("web1", db=db_has, apps={"app": done_all}), other.key_id())
    assert [c.kind for c in changes] == ["hosting.tls"] and "issued by another CA" in changes[0].after["reason"]


def test_local_ca_that_cannot_issue(tmp_path: Path) -> None:
    from devstack.ca import make_ca
    from provision.hosting.tls import CertificateError, LocalCA, parse_pem

    cert, key = make_ca(tmp_path / "a")
    _, other_key = make_ca(tmp_path / "b")
    with pytest.raises(CertificateError, match="is not the key of"):
        LocalCA(cert, other_key).issue(["x.batam.go.id"], tmp_path / "w")
    old_cert, old_key = make_ca(tmp_path / "c", not_after=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    with pytest.raises(CertificateError, match="expired or expires"):
        LocalCA(old_cert, old_key).issue(["x.batam.go.id"], tmp_path / "w")
    key.chmod(0o644)
    with pytest.raises(CertificateError, match="cannot be issued"):
        LocalCA(cert, key).issue(["x.batam.go.id"], tmp_path / "w")
    key.chmod(0o600)
    chain, keyfile, info = LocalCA(cert, key).issue(["x.batam.go.id", "y.batam.go.id"], tmp_path / "w")
    assert keyfile.stat().st_mode & 0o777 == 0o600 and info.names == ["x.batam.go.id", "y.batam.go.id"]
    assert parse_pem(chain.read_text()).covers(["y.batam.go.id"]) and not info.due()
