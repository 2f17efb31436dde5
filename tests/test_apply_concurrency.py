"""Concurrent runs (issue 9, item 4), with real processes against real servers: eight
`provision apply` on different requests at once and two on the same request (SQLite and
PostgreSQL state, the GitLab emulator); eight `provision dns apply` in one zone at once
(BIND), where every UPDATE is pinned to the zone's SOA; and the re-plan that lets a run
whose zone moved under it (another request's records) go on, but never over a change to
its own names.

The whole run (install, hosting) of eight requests at once is measured by
bench/concurrent_apply.py: it takes minutes, too long for every CI run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devstack.gitlab_emulator import GitLabEmulator
from devstack.sandbox.bind import BindPair
from tests.dns.conftest import ZONE, dig, nsupdate
from tests.dns.test_cli import write_config
from tests.gitlab.cli_env import Env, setup_emulator
from tests.gitlab_emulator.testing import api
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def finish(procs: list[subprocess.Popen[str]], timeout: float = 300) -> list[tuple[int, str, str]]:
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, o, e) for p, (o, e) in zip(procs, outs)]


def open_request(home: Path, n: int, spec: dict) -> str:
    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app",
                f"Aplikasi {n}", "--letter-number", f"005/DISDIK/{n}", "--letter-date", "2026-11-02", "--json")
    assert r.exit_code == 0, r
    rid = r.json["id"]
    path = home / f"spec-{n}.yaml"
    path.write_text(yaml.safe_dump(spec))
    r = run_cli("spec", "set", rid, str(path))
    assert r.exit_code == 0, r
    return rid


def audit_ok() -> list[dict]:
    r = run_cli("audit", "verify")
    assert r.exit_code == 0 and "intact" in r.stdout, r
    log = run_cli("audit", "log", "--json")
    assert log.exit_code == 0, log
    return log.json


def outcomes(events: list[dict], provider: str) -> Counter:
    return Counter((e["request_id"], e["outcome"]) for e in events if e["provider"] == provider)


# -- step 11 through `provision apply`, on both state backends ------------------------------

def repo_spec(n: int) -> dict:
    return {"version": 1, "application": {"slug": f"app{n}", "name": f"Aplikasi {n}"},
            "repository": {"members": [{"username": "budi.dev", "role": "developer"}]},
            "runtime": {"kind": "php", "version": "8.2"}, "hosting": {"host": "web1"}}


@pytest.fixture
def gitlab_env(gitlab: GitLabEmulator, provision_home: Path, store_url: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    token, key = setup_emulator(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    env = Env(provision_home, gitlab, token, key)
    env.config()
    yield env


def ready_for_step_11(home: Path, n: int) -> str:
    from provision.context import App

    rid = open_request(home, n, repo_spec(n))
    app = App()  # steps 1-10 recorded in-process: the CLI path has its own tests
    app.audit.start_run(["test: steps 1-10"], rid, None)
    for step in range(1, 11):
        app.requests.step(rid, step, "done")
    return rid


def test_eight_applies_on_eight_requests_all_succeed(gitlab_env: Env) -> None:
    rids = [ready_for_step_11(gitlab_env.home, n) for n in range(1, 9)]
    results = finish([spawn("apply", rid, "--until", "11", "--yes") for rid in rids])
    for rid, (code, out, err) in zip(rids, results):
        assert code == 0, (rid, out, err)
        assert f"{rid}: automated steps up to 11 done." in out and "[done] step 11 repository" in out
    projects = api(gitlab_env.emulator, "GET", "/groups/pemko-batam%2Fdisdik/projects?per_page=100").json()
    assert sorted(p["path"] for p in projects) == [f"app{n}" for n in range(1, 9)]
    events = audit_ok()
    counts = outcomes(events, "gitlab")
    for rid in rids:  # nothing lost: every change attempted and succeeded, once
        assert counts[(rid, "attempted")] == counts[(rid, "succeeded")] > 0, counts
        assert counts[(rid, "failed")] == 0
    groups = api(gitlab_env.emulator, "GET", "/groups?search=disdik").json()
    assert [g["full_path"] for g in groups] == ["pemko-batam/disdik"]  # made once, whoever came first
    for rid in rids:
        r = run_cli("request", "show", rid, "--json")
        assert r.exit_code == 0 and [s["status"] for s in r.json["steps"] if s["number"] == 11] == ["done"], r


def test_two_applies_on_one_request_take_turns(gitlab_env: Env) -> None:
    rid = ready_for_step_11(gitlab_env.home, 1)
    gitlab_env.emulator.calls.reset()
    results = finish([spawn("apply", rid, "--until", "11", "--yes", "--lock-timeout", "120") for _ in range(2)])
    assert [code for code, _, _ in results] == [0, 0], results
    outs = sorted(out for _, out, _ in results)
    assert sum("[done] step 11 repository" in o for o in outs) == 1, outs
    assert sum("[skipped] step 11 repository: nothing to do" in o for o in outs) == 1, outs
    events = audit_ok()
    counts = outcomes(events, "gitlab")
    assert counts[(rid, "attempted")] == counts[(rid, "succeeded")] > 0, counts
    assert counts[(rid, "failed")] == 0
    runs = [e for e in events if e["request_id"] == rid and e["provider"] == "gitlab"]
    assert len({e["run_id"] for e in runs}) == 1  # all the writes belong to the run that went first
    done = [e for e in events if e["request_id"] == rid and e["provider"] == "request" and e["action"] == "step.done"
            and e["target"].endswith("step 11")]
    assert len(done) == 1, done


# -- DNS: eight requests' records into one zone at once -------------------------------------

def dns_spec(n: int) -> dict:
    return {"version": 1, "application": {"slug": f"app{n}", "name": f"Aplikasi {n}"},
            "runtime": {"kind": "php", "version": "8.2"}, "hosting": {"host": "web1"},
            "dns": {"records": [{"name": f"app{n}", "type": "A", "values": [f"203.0.113.{n}"]},
                                {"name": f"www.app{n}", "type": "CNAME", "values": [f"app{n}"]}]}}


@pytest.fixture
def dns_home(provision_home: Path, bind_zone: BindPair) -> Path:
    write_config(provision_home, bind_zone)
    return provision_home


def test_eight_dns_applies_in_one_zone_all_succeed(dns_home: Path, bind_zone: BindPair) -> None:
    rids = [open_request(dns_home, n, dns_spec(n)) for n in range(1, 9)]
    results = finish([spawn("dns", "apply", rid, "--yes") for rid in rids])
    for rid, (code, out, err) in zip(rids, results):
        assert code == 0, (rid, out, err)
        assert "Applied 4 of 4 changes" in out, out
    for n in range(1, 9):
        assert dig(bind_zone.primary_addr, f"app{n}.{ZONE}") == [f"203.0.113.{n}"]
        assert dig(bind_zone.secondary_addr, f"www.app{n}.{ZONE}", "CNAME") == [f"app{n}.{ZONE}"]
    events = audit_ok()
    counts = outcomes(events, "dns")
    for rid in rids:
        # A run whose UPDATE met a moved zone logged its attempts as failed, planned again
        # and tried again; in the end each of its four changes (two records, two owner
        # records) succeeded once.
        assert counts[(rid, "succeeded")] == 4, counts
        assert counts[(rid, "attempted")] == 4 + counts[(rid, "failed")], counts
    retried = sum(counts[(rid, "failed")] for rid in rids) // 4
    print(f"runs that planned again after another wrote the zone: {retried}")


def test_a_moved_zone_is_planned_again_but_a_change_to_our_names_is_a_conflict(
        dns_home: Path, bind_zone: BindPair) -> None:
    from provision.context import App
    from provision.dns import DnsProvider
    from provision.dns.errors import NotOwned

    rid = open_request(dns_home, 1, dns_spec(1))
    app = App()
    app.audit.start_run(["test"], rid, None)
    dns = DnsProvider(app.config.dns, reserved=app.config.names.reserved)
    spec, req = app.specs.get(rid), app.requests.get(rid)

    def replan():  # type: ignore[no-untyped-def]
        return dns.plan(spec, rid, req.opd_name)

    plan = replan()
    nsupdate(bind_zone, f"update add other.{ZONE} 300 A 203.0.113.99\n")  # another writer, other name
    lines: list[str] = []
    report = dns.apply_replanning(plan, replan, app.audit, progress=lines.append)
    assert len(report.applied) == 4
    assert any("planned again, same changes: retry 1 of 19" in line for line in lines), lines
    assert dig(bind_zone.primary_addr, f"app1.{ZONE}") == ["203.0.113.1"]

    rid2 = open_request(dns_home, 2, dns_spec(2))
    spec2, req2 = app.specs.get(rid2), app.requests.get(rid2)
    plan2 = dns.plan(spec2, rid2, req2.opd_name)
    nsupdate(bind_zone, f"update add app2.{ZONE} 300 A 203.0.113.66\n")  # someone took our name meanwhile
    with pytest.raises(NotOwned):
        dns.apply_replanning(plan2, lambda: dns.plan(spec2, rid2, req2.opd_name), app.audit)
    assert dig(bind_zone.primary_addr, f"app2.{ZONE}") == ["203.0.113.66"]  # theirs, untouched
