"""`provision check` and `provision check history` through the real entry point: usage
errors, nothing to check, the terminal table, the files for CI and Prometheus, storage."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.checks.env import open_request, register, spec_dict, write_config
from tests.helpers import run_cli


@pytest.fixture
def one_app(provision_home: Path) -> tuple[str, int]:
    """One registered app whose host 'web1' is a listener on 127.0.0.1 that never speaks HTTP."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    port = s.getsockname()[1]
    write_config(provision_home, checks={"connect_to": {"web1:80": f"127.0.0.1:{port}",
                                                        "web1:443": "10.20.30.40:443"},
                                         "timeout": 1.0})
    rid = open_request(provision_home, spec_dict("sisekolah", tls=False))
    register(rid, "web1", "sisekolah.batam.test", "php")
    yield rid, port
    s.close()


def test_unknown_check_kind_is_a_usage_error(provision_home: Path) -> None:
    r = run_cli("check", "--only", "dns,ftp")
    assert r.exit_code == 2
    assert "--only: unknown check ftp; choose from dns, http, tls, host, gitlab." in r.stderr


def test_unknown_request(provision_home: Path) -> None:
    r = run_cli("check", "--request", "REQ-2026-0999")
    assert r.exit_code == 2 and "REQ-2026-0999" in r.stderr, r


def test_request_without_hosting(provision_home: Path) -> None:
    rid = open_request(provision_home, spec_dict("sisekolah"))
    r = run_cli("check", "--request", rid, "--only", "http")
    assert r.exit_code == 2
    assert f"request {rid} has no active hosting in the registry; nothing to check." in r.stderr


def test_nothing_hosted_is_not_a_pass(provision_home: Path) -> None:
    """A nightly check reading an empty (or the wrong) state store must not be green."""
    r = run_cli("check", "--only", "http,tls")
    assert r.exit_code == 12, r
    assert "No hosted application is registered in the state store (sqlite:///" in r.stderr
    assert "nothing to check" in r.stderr and "--allow-empty" in r.stderr
    r = run_cli("check", "--only", "http,tls", "--allow-empty")
    assert r.exit_code == 0 and r.stdout.startswith("0 checks: 0 passed, 0 warnings, 0 failed"), r


def test_unwritable_report_directory_is_refused_before_any_check(provision_home: Path, tmp_path: Path) -> None:
    """As a service user would run it: a directory owned by root, 0755 (node-exporter's
    textfile directory on Debian), refused with exit 2 naming the option, nothing checked."""
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="kp-textfile-"))
    try:
        root.chmod(0o755)
        textfile = root / "node-exporter"
        textfile.mkdir(mode=0o755)
        cli = Path(__file__).resolve().parents[2] / "cli.py"
        proc = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, str(cli),
             "check", "--prometheus", str(textfile / "provision_check.prom")],
            capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "PROVISION_CONFIG": "/nonexistent-is-not-read.toml", "HOME": "/"})
        assert proc.returncode == 2, proc
        assert f"--prometheus: this user (nobody) cannot write in {textfile} (Permission denied)." in proc.stderr
        assert "ReadWritePaths" in proc.stderr and "Internal error" not in proc.stderr
        assert list(textfile.iterdir()) == []
        missing = run_cli("check", "--junit", str(tmp_path / "no-such-dir" / "junit.xml"))
        assert missing.exit_code == 2, missing
        assert "Invalid value for '--junit': the directory of" in missing.stderr and "does not exist" in missing.stderr
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def test_failure_table_files_history_and_audit(one_app: tuple[str, int], provision_home: Path) -> None:
    rid, port = one_app
    junit, prom = provision_home / "out" / "junit.xml", provision_home / "out" / "check.prom"
    (provision_home / "out").mkdir()  # an output file's directory must exist (a typo is caught first)
    r = run_cli("check", "--only", "http,tls", "--junit", str(junit), "--prometheus", str(prom))
    assert r.exit_code == 3
    assert r.stderr.strip() == ("Error: 1 of 1 checks failed. The table above says what differs; "
                                "`provision check history` keeps past runs.")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["STATUS", "CHECK", "REQUEST", "WHAT", "DETAIL"]
    assert lines[1].startswith(f"FAIL    http   {rid}  GET http://sisekolah.batam.test/")
    assert "no answer from 127.0.0.1:" in lines[1] or "did not answer within 1 s" in lines[1]
    assert lines[-1].startswith("1 checks: 0 passed, 0 warnings, 1 failed")
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "http" and suite.get("failures") == "1"
    assert f'provision_check_status{{check="http",request="{rid}",name="GET http://sisekolah.batam.test/"}} 2' \
        in prom.read_text()
    h = run_cli("check", "history", "--request", rid, "--json")
    assert h.exit_code == 0 and [(x["check"], x["status"]) for x in h.json] == [("http", "fail")]
    h = run_cli("check", "history")
    assert h.exit_code == 0 and "FAIL" in h.stdout and rid in h.stdout
    events = run_cli("audit", "log", rid, "--json").json
    fails = [e for e in events if e["provider"] == "check"]
    assert [(e["action"], e["outcome"], e["target"]) for e in fails] == [
        ("http", "failed", "http GET http://sisekolah.batam.test/")]


def test_connect_to_outside_the_allow_list_is_not_probed(one_app: tuple[str, int], provision_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rid, _ = one_app
    seen: list[object] = []
    real = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda a, *x, **k: seen.append(a) or real(a, *x, **k))
    spec = spec_dict("sisekolah", tls=True)
    (provision_home / "s.yaml").write_text(__import__("yaml").safe_dump(spec))
    assert run_cli("spec", "set", rid, str(provision_home / "s.yaml")).exit_code == 0
    r = run_cli("check", "--only", "http,tls", "--json")
    assert r.exit_code == 3
    msgs = {x["check"]: x["message"] for x in r.json["results"]}
    assert msgs == {"http": "not checked: 10.20.30.40 is outside checks.probe_networks; not probed",
                    "tls": "not checked: 10.20.30.40 is outside checks.probe_networks; not probed"}
    assert seen == []


def test_history_empty_and_bad_limit(provision_home: Path) -> None:
    r = run_cli("check", "history")
    assert r.exit_code == 0 and r.stdout.strip() == "No check results stored."
    r = run_cli("check", "history", "--limit", "0")
    assert r.exit_code == 2 and "--limit" in r.stderr


def test_unconfigured_dns_and_gitlab_are_warnings(one_app: tuple[str, int]) -> None:
    r = run_cli("check", "--only", "dns,gitlab", "--json")
    assert r.exit_code == 0, r
    assert [(x["check"], x["status"], x["message"]) for x in r.json["results"]] == [
        ("dns", "warn", "dns.zone is not set: DNS not checked"),
        ("gitlab", "warn", "gitlab.url is not set: GitLab not checked")]


def test_old_results_are_pruned(one_app: tuple[str, int], provision_home: Path) -> None:
    import datetime as dt

    from provision.context import App
    from provision.store.models import CheckResult

    app = App()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(days=300)
    with app.store.write() as s:
        s.add(CheckResult(check="tls", name="old", status="pass", created_at=old))
        s.add(CheckResult(check="tls", name="recent", status="pass", created_at=recent))
    app.store.dispose()
    r = run_cli("check", "--only", "gitlab")
    assert r.exit_code == 0 and "1 checks: 0 passed, 1 warnings, 0 failed" in r.stdout, r
    names = [x["name"] for x in run_cli("check", "history", "--json").json]
    assert "recent" in names and "old" not in names
