"""Small pieces without servers: dates and numbers of documents, JUnit output, the target's
extravars (no secrets), the instance names and ports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from provision.install.apptest import Check, TestReport
from provision.install.target import InstallTarget, app_port, instance_name
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
