"""Small pieces without servers: dates and numbers of documents, JUnit output, the target's
extravars (no secrets), the instance names and ports, the no-change check's comparison."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree as ET

import pytest

from provision.install.apptest import Check, TestReport
from provision.install.target import InstallTarget, instance_name
from provision.placement import app_port
from provision.reports.engine import ReportEngine, tanggal


def test_tanggal() -> None:
    assert tanggal(dt.date(2026, 11, 2)) == "2 November 2026"
    assert tanggal(dt.date(2026, 8, 17), with_day=True) == "Senin, 17 Agustus 2026"


def test_document_number(provision_home: Path) -> None:
    from provision.context import App

    engine = ReportEngine(App())
    assert engine.number("berita-acara", dt.date(2026, 11, 2), "REQ-2026-0001", 7) == "007/BA/Kominfo-PE/XI/2026"
    (provision_home / "provision.toml").write_text(
        (provision_home / "provision.toml").read_text() + '[reports]\nnumber_format = "{seq}/{nope}"\n')
    from provision.errors import ValidationError

    # An unknown placeholder is refused when the configuration is loaded, naming the key.
    with pytest.raises(ValidationError, match=r"reports.number_format: '\{seq\}/\{nope\}' is not a valid template"):
        ReportEngine(App()).number("berita-acara", dt.date(2026, 1, 1), "R", 1)


def test_junit_counts_failures_and_not_applicable() -> None:
    report = TestReport("REQ-2026-0001", "staging", "web1", "abc", "abc")
    report.checks = [Check("smoke", "GET /", "pass"), Check("app-test", "cmd", "fail", "exit 1\nboom"),
                     Check("tls", "TLS", "n/a", "later")]
    suite = ET.fromstring(report.junit().split("?>", 1)[1])
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert suite.find("testcase[@name='cmd']/failure").text == "exit 1\nboom"
    assert not report.passed and [c.name for c in report.failed] == ["cmd"]


def test_instances_ports_and_extravars_hold_no_secret() -> None:
    assert instance_name("sisekolah", "production") == "sisekolah"
    assert instance_name("sisekolah", "staging") == "sisekolah-staging"
    assert app_port("a") == app_port("a") and 20000 <= app_port("sisekolah") < 30000
    t = InstallTarget("REQ-2026-0001", "staging", "web1", "s", "s-staging", "/srv/apps/s-staging", "php",
                      "git@x:g/s.git", ["s-staging.example"], 20001, spec=None,
                      deploy_key_file="/etc/kp/deploy_key", secrets_file="/var/lib/kp/secrets/REQ.env")
    ev = t.extravars(ref="v1")
    assert ev["app_deploy_key_file"] == "/etc/kp/deploy_key" and ev["app_secrets_file"].endswith("REQ.env")
    assert ev["app_version"] == "v1" and ev["app_release"] == ""


def _seen(t: InstallTarget, commit: str, **facts_changed: object) -> dict:
    """What the server's reader would send back right after installing v1 at `commit`."""
    from provision.install.facts import expected

    want = expected(t, "v1")
    files = {p: "a" * 64 for p in want["files"]}
    facts = {"commit": commit, "ref": "v1", "env_sha256": want["env_sha256"], "config_sha256": want["config_sha256"],
             "playbook_version": want["playbook_version"], "files": files, "current": "releases/" + commit[:12]}
    facts.update(facts_changed)
    return {"facts": facts, "files": dict(files), "current": "releases/" + commit[:12], "commit": commit, "error": ""}


def test_the_no_change_check_names_every_difference() -> None:
    from provision.install.facts import compare
    from provision.install.plan import plan_install

    t = InstallTarget("REQ-2026-0001", "staging", "web1", "s", "s-staging", "/srv/apps/s-staging", "static",
                      "git://127.0.0.1/s.git", ["s-staging.example"], 20001, spec=None, env_vars={"A": "1"})
    c1, c2 = "1" * 40, "2" * 40
    same = compare(t, "v1", _seen(t, c1))
    assert same.same and same.commit == c1 and same.reasons == []
    last = SimpleNamespace(ref="v1", release="r", commit=c1)
    assert plan_install(t, "v1", last, installed=same).empty
    assert "nothing to do" in plan_install(t, "v1", last, installed=same).notes[0]

    assert compare(t, "v1", {"facts": None}).reasons == ["the server records no install of this instance"]
    moved = _seen(t, c1)
    moved["commit"] = c2
    assert compare(t, "v1", moved).reasons == [f"v1 is now commit {c2[:12]}, the server has {c1[:12]}"]
    assert compare(t, c1, moved).same  # a full commit is compared as it is, not looked up
    unknown = _seen(t, c1)
    unknown.update(commit="", error="fatal: could not read")
    assert "could not be read on the server (fatal: could not read)" in compare(t, "v1", unknown).reasons[0]

    edited = _seen(t, c1)
    edited["files"]["/etc/nginx/sites-available/s-staging.conf"] = "b" * 64
    assert compare(t, "v1", edited).reasons == [
        "/etc/nginx/sites-available/s-staging.conf on the server differs from what the install wrote"]
    switched = _seen(t, c1)
    switched["current"] = "releases/other"
    assert compare(t, "v1", switched).reasons == ["current points at another release than the install left"]

    t2 = InstallTarget(**{**t.__dict__, "env_vars": {"A": "2"}})
    assert compare(t2, "v1", _seen(t, c1)).reasons == ["the environment changed since the last install"]
    t3 = InstallTarget(**{**t.__dict__, "server_names": ["lain.example"]})
    assert compare(t3, "v1", _seen(t, c1)).reasons == ["the spec or configuration changed since the last install"]
    old_playbook = _seen(t, c1, playbook_version="0" * 64)
    assert compare(t, "v1", old_playbook).reasons == ["the playbook changed since the last install"]
    t4 = InstallTarget(**{**t.__dict__, "kind": "php"})  # a pool file is written now
    assert "the set of installed files changed" in compare(t4, "v1", _seen(t, c1)).reasons

    # Not the same: the plan runs the playbook and says why, even where `apply` would skip.
    plan = plan_install(t, "v1", SimpleNamespace(ref="v1", release="r", commit=c1), skip_installed=True,
                        installed=compare(t, "v1", edited))
    assert not plan.empty and "the playbook runs: /etc/nginx/sites-available/s-staging.conf" in plan.notes[0]


def test_staging_is_served_over_tls_with_a_certificate_made_on_the_server() -> None:
    from provision.install.facts import compare, written_files
    from provision.install.plan import plan_install
    from provision.placement import staging_cert_paths

    cert, key = staging_cert_paths("s-staging")
    assert (cert, key) == ("/etc/ssl/kominfo-provision/s-staging/fullchain.pem",
                           "/etc/ssl/kominfo-provision/s-staging/privkey.pem")
    t = InstallTarget("REQ-2026-0001", "staging", "web1", "s", "s-staging", "/srv/apps/s-staging", "static",
                      "git://127.0.0.1/s.git", ["s-staging.example"], 20001, spec=None,
                      tls_cert=cert, tls_key=key, tls_self_signed=True)
    ev = t.extravars(ref="v1")
    assert (ev["app_tls_cert"], ev["app_tls_key"], ev["app_tls_self_signed"]) == (cert, key, True)
    assert cert in written_files(t) and key not in written_files(t)  # the key's digest is not recorded
    vhost = next(c for c in plan_install(t, "v1", None).changes if c.kind == "install.vhost")
    assert vhost.after["tls"] == cert and vhost.after["certificate"].startswith("self-signed")
    # A lost or replaced certificate is a difference: the playbook runs and makes it again.
    gone = _seen(t, "1" * 40)
    gone["files"][cert] = None
    assert compare(t, "v1", gone).reasons == [f"{cert} on the server differs from what the install wrote"]
