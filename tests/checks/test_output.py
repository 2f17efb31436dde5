"""JSON, JUnit XML and Prometheus text of a run."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from provision.checks.output import as_json, junit, prometheus, write_atomic
from provision.checks.results import Result, Summary

RESULTS = [
    Result("dns", "REQ-2026-0001", "served by 127.0.0.1:5301", "pass", "2 record sets as recorded", 0.01),
    Result("tls", "REQ-2026-0001", "certificate of a.batam.test", "warn", "expires in 12.0 days", 0.02),
    Result("host", "REQ-2026-0002", "kominfo1: services", "fail", 'php8.2-fpm is inactive; "quoted"\x01', 0.5),
    Result("dns", None, "name lama.batam.test.", "warn", "no request owns this name (A)", 0.0),
]


def test_json_has_counts_and_every_result() -> None:
    data = as_json(Summary(RESULTS, 1.5), "run-1")
    assert data["ok"] is False and data["run_id"] == "run-1"
    assert data["counts"] == {"pass": 1, "warn": 2, "fail": 1}
    assert data["by_check"]["dns"] == {"pass": 1, "warn": 1, "fail": 0}
    assert {r["request"] for r in data["results"]} == {"REQ-2026-0001", "REQ-2026-0002", None}


def test_junit_one_suite_per_check_failures_and_warnings() -> None:
    root = ET.fromstring(junit(Summary(RESULTS, 1.5)))
    # 4 results, and each of the 2 warnings again as a failing case of the "warnings" suite
    assert root.tag == "testsuites" and root.get("tests") == "6" and root.get("failures") == "3"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["dns", "tls", "host", "warnings"]
    host = suites["host"].findall("testcase")
    assert host[0].get("name") == "REQ-2026-0002: kominfo1: services"
    assert host[0].get("classname") == "host.REQ-2026-0002"
    failure = host[0].find("failure")
    assert failure is not None and failure.get("message") == 'php8.2-fpm is inactive; "quoted"'
    tls = suites["tls"].find("testcase")
    assert tls is not None and tls.find("failure") is None
    assert tls.findtext("system-out") == "WARNING: expires in 12.0 days"
    zone = [c for c in suites["dns"].findall("testcase") if c.get("classname") == "dns.zone"]
    assert zone and zone[0].get("name") == "zone: name lama.batam.test."


def test_junit_warnings_survive_gitlabs_parser() -> None:
    """GitLab's parser (lib/gitlab/ci/parsers/test/junit.rb) keeps the text of <failure>,
    <error> and <skipped> only; it reads a case with none of them as a success with no
    output. Read the report as it does: each warning must come out as a case with text."""
    root = ET.fromstring(junit(Summary(RESULTS, 1.5)))
    shown = []
    for suite in root.findall("testsuite"):
        for case in suite.findall("testcase"):
            for tag in ("failure", "error", "skipped"):  # the parser's order
                el = case.find(tag)
                if el is not None:
                    shown.append((suite.get("name"), case.get("name"), el.text or ""))
                    break
    warnings = [s for s in shown if s[0] == "warnings"]
    assert [w[1] for w in warnings] == ["WARNING tls REQ-2026-0001: certificate of a.batam.test",
                                        "WARNING dns zone: name lama.batam.test."]
    assert all(w[2].startswith("WARNING (not a failure: the check passed with a warning): ") for w in warnings)
    assert "expires in 12.0 days" in warnings[0][2]
    assert [s for s in shown if s[0] != "warnings"] == [
        ("host", "REQ-2026-0002: kominfo1: services", 'php8.2-fpm is inactive; "quoted"')]
    clean = ET.fromstring(junit(Summary(RESULTS[:1], 0.1)))  # no warning: no warnings suite
    assert [s.get("name") for s in clean.findall("testsuite")] == ["dns"]


def test_prometheus_text_format() -> None:
    text = prometheus(Summary(RESULTS, 1.5), now=1700000000)
    assert 'provision_check_status{check="host",request="REQ-2026-0002",name="kominfo1: services"} 2' in text
    assert 'provision_check_status{check="dns",request="",name="name lama.batam.test."} 1' in text
    assert 'provision_check_results{check="tls",status="warn"} 1' in text
    assert "provision_check_ok 0" in text and "provision_check_last_run_timestamp_seconds 1700000000" in text
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))


def test_prometheus_escapes_labels() -> None:
    r = Result("http", "REQ-1", 'GET "x"\\y\nz', "pass", "", 0)
    assert 'name="GET \\"x\\"\\\\y\\nz"' in prometheus(Summary([r]))


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    p = write_atomic(tmp_path / "sub" / "c.prom", "a 1\n")
    write_atomic(p, "b 2\n")
    assert p.read_text() == "b 2\n"
    assert [x.name for x in p.parent.iterdir()] == ["c.prom"]
    assert oct(p.stat().st_mode & 0o777) == "0o644"
