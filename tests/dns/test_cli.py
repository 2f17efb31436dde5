"""`provision dns plan|apply|delete|list` through the real entry point against BIND:
every test checks the exit code and the message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.sandbox.bind import BindPair
from tests.dns.conftest import ZONE, dig
from tests.helpers import run_cli

SPEC = {"version": 1, "application": {"slug": "sisekolah", "name": "Sistem Informasi Sekolah"},
        "runtime": {"kind": "php", "version": "8.2"}, "hosting": {"host": "web1", "aliases": ["lama"]},
        "dns": {"records": [{"name": "sisekolah", "type": "A", "values": ["203.0.113.50"]},
                            {"name": "www.sisekolah", "type": "CNAME", "values": ["sisekolah"]}]}}
OPEN = ["request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app",
        "Sistem Informasi Sekolah", "--letter-number", "005/DISDIK/2026", "--letter-date", "2026-11-02", "--json"]


def write_config(home: Path, bind: BindPair, **dns: object) -> None:
    settings = {"zone": ZONE, "primary": bind.primary_addr, "tsig_key_file": str(bind.client_key_file),
                "verify_servers": bind.servers, "timeout": 2.0, "verify_timeout": 10.0,
                "allow_private_addresses": True, "max_delete_share": 0.6,
                "require_passing_test": False}  # the gate has its own test below
    settings.update(dns)
    lines = [f'[general]\nstate_dir = "{home / "state"}"\n', "[dns]"]
    for k, v in settings.items():
        lines.append(f"{k} = " + (f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool)
                                  else "[" + ", ".join(f'"{x}"' for x in v) + "]" if isinstance(v, list) else str(v)))
    (home / "provision.toml").write_text("\n".join(lines) + "\n")


def new_request(home: Path, spec: dict = SPEC) -> str:
    r = run_cli(*OPEN)
    assert r.exit_code == 0, r
    rid = r.json["id"]
    (home / "spec.yaml").write_text(yaml.safe_dump(spec))
    r = run_cli("spec", "set", rid, str(home / "spec.yaml"))
    assert r.exit_code == 0, r
    return rid


@pytest.fixture
def dns_home(provision_home: Path, bind_zone: BindPair) -> Path:
    write_config(provision_home, bind_zone)
    return provision_home


def test_plan_dry_run_then_apply_twice(dns_home: Path, bind_zone: BindPair) -> None:
    rid = new_request(dns_home)
    r = run_cli("dns", "plan", rid)
    assert r.exit_code == 0, r
    assert r.stdout.startswith(f"dns plan for {rid}: 4 to create")
    assert "+ dns.rrset sisekolah.batam.test. A" in r.stdout and "+ dns.owner _provision-owner.sisekolah" in r.stdout
    r = run_cli("dns", "apply", rid, "--dry-run")
    assert r.exit_code == 0 and "Dry run: nothing applied." in r.stdout, r
    assert dig(bind_zone.primary_addr, "sisekolah.batam.test") == []
    r = run_cli("dns", "apply", rid)  # no terminal and no --yes
    assert r.exit_code == 2 and "no terminal to ask on" in r.stderr and "--yes" in r.stderr, r
    r = run_cli("dns", "apply", rid, "--yes")
    assert r.exit_code == 0, r
    assert "Applied 4 of 4 changes in 1 UPDATE message(s); the primary serves serial 2026010102." in r.stdout
    assert f"{bind_zone.secondary_addr}: serial 2026010102, ok" in r.stdout
    assert dig(bind_zone.secondary_addr, "www.sisekolah.batam.test", "CNAME") == ["sisekolah.batam.test."]
    r = run_cli("dns", "apply", rid, "--yes")
    assert r.exit_code == 0 and "Nothing to do: the zone already holds this request's records." in r.stdout, r
    events = run_cli("audit", "log", rid, "--json").json
    dns_events = [(e["action"], e["target"], e["outcome"]) for e in events if e["provider"] == "dns"]
    assert ("create", "sisekolah.batam.test. A", "attempted") in dns_events
    assert ("create", "sisekolah.batam.test. A", "succeeded") in dns_events
    assert len(dns_events) == 8  # 4 changes, each attempted then succeeded


def test_apply_json(dns_home: Path, bind_zone: BindPair) -> None:
    rid = new_request(dns_home)
    r = run_cli("dns", "apply", rid, "--yes", "--json")
    assert r.exit_code == 0, r
    out = r.json
    assert out["result"]["ok"] is True
    assert [v["ok"] for v in out["result"]["details"]["verification"]] == [True, True]
    assert out["plans"][0]["meta"]["serial"] == 2026010101 and out["checksum"] == out["plans"][0]["checksum"]


def test_delete_twice(dns_home: Path, bind_zone: BindPair) -> None:
    rid = new_request(dns_home)
    assert run_cli("dns", "apply", rid, "--yes").exit_code == 0
    r = run_cli("dns", "delete", rid, "--yes")
    assert r.exit_code == 0, r
    assert "- dns.rrset sisekolah.batam.test. A" in r.stdout and "Applied 4 of 4 changes" in r.stdout
    assert dig(bind_zone.secondary_addr, "sisekolah.batam.test") == []
    r = run_cli("dns", "delete", rid, "--yes")
    assert r.exit_code == 0 and "Nothing to do" in r.stdout, r
    assert dig(bind_zone.secondary_addr, "www.batam.test") == ["203.0.113.10"]


def test_ownership_refused_then_adopted_with_reason(dns_home: Path, bind_zone: BindPair) -> None:
    spec = dict(SPEC, dns={"records": [{"name": "lama", "type": "A", "values": ["203.0.113.99"]}]})
    rid = new_request(dns_home, spec)
    r = run_cli("dns", "apply", rid, "--yes")
    assert r.exit_code == 4, r
    assert "lama.batam.test. has records made by hand (A)" in r.stderr and "--adopt --reason" in r.stderr
    r = run_cli("dns", "apply", rid, "--yes", "--adopt")
    assert r.exit_code == 2 and "need --reason TEXT" in r.stderr, r
    r = run_cli("dns", "apply", rid, "--yes", "--adopt", "--reason", "SK 12/2026")
    assert r.exit_code == 0 and "note: lama.batam.test.: adopting a hand-made name" in r.stdout, r
    assert dig(bind_zone.secondary_addr, "lama.batam.test") == ["203.0.113.99"]
    events = run_cli("audit", "log", rid, "--json").json
    assert [e["after"]["reason"] for e in events if e["action"] == "adopt"] == ["SK 12/2026"]


def test_other_requests_name_exit_4_naming_owner(dns_home: Path, bind_zone: BindPair) -> None:
    first = new_request(dns_home)
    assert run_cli("dns", "apply", first, "--yes").exit_code == 0
    second = new_request(dns_home)
    r = run_cli("dns", "plan", second)
    assert r.exit_code == 4, r
    assert f"owned by request {first} (Dinas Pendidikan): not touched" in r.stderr


def test_list(dns_home: Path, bind_zone: BindPair) -> None:
    rid = new_request(dns_home)
    assert run_cli("dns", "apply", rid, "--yes").exit_code == 0
    r = run_cli("dns", "list")
    assert r.exit_code == 0, r
    line = next(x for x in r.stdout.splitlines() if x.startswith("sisekolah.batam.test."))
    assert line.split()[1:] == ["A", rid, "Dinas", "Pendidikan"]
    assert any(x.startswith("www.batam.test.") and "(made by hand)" in x for x in r.stdout.splitlines())
    rows = run_cli("dns", "list", "--json").json
    assert {"name": "www.sisekolah.batam.test.", "types": ["CNAME"], "owner": rid, "opd": "Dinas Pendidikan"} in rows


def test_bad_key_exit_9(provision_home: Path, bind_zone: BindPair) -> None:
    key = provision_home / "bad.key"
    key.write_text('key "provision-key" {\n\talgorithm hmac-sha256;\n\tsecret "YS0zMi1ieXRlLWtleS10aGUtc2VydmVyLWxhY2tzISE=";\n};\n')
    key.chmod(0o600)
    write_config(provision_home, bind_zone, tsig_key_file=str(key))
    rid = new_request(provision_home)
    r = run_cli("dns", "plan", rid)
    assert r.exit_code == 9, r
    assert r.stderr.startswith("Error: zone transfer of batam.test.:") and "(BADSIG)" in r.stderr


def test_unreachable_exit_8(provision_home: Path, bind_zone: BindPair) -> None:
    from devstack.sandbox import free_port
    write_config(provision_home, bind_zone, primary=f"127.0.0.1:{free_port()}")
    rid = new_request(provision_home)
    r = run_cli("dns", "apply", rid, "--yes")
    assert r.exit_code == 8, r
    assert "refused the connection (nothing listens there)" in r.stderr


def test_verification_failure_exit_3_per_server(provision_home: Path, bind_zone: BindPair) -> None:
    write_config(provision_home, bind_zone, verify_timeout=1.0, timeout=0.5)
    rid = new_request(provision_home)
    assert bind_zone.secondary is not None
    bind_zone.secondary.stop()
    r = run_cli("dns", "apply", rid, "--yes")
    assert r.exit_code == 3, r
    assert "1 of 2 authoritative servers do not serve serial 2026010102" in r.stderr
    assert f"{bind_zone.primary_addr}: serial 2026010102, ok" in r.stdout
    assert f"{bind_zone.secondary_addr}: serial None, NOT VERIFIED" in r.stdout


def test_invalid_records_exit_2_before_network(provision_home: Path, bind_zone: BindPair) -> None:
    write_config(provision_home, bind_zone, allow_private_addresses=False, primary="127.0.0.1:9")
    rid = new_request(provision_home)
    r = run_cli("dns", "plan", rid)
    assert r.exit_code == 2, r
    assert "203.0.113.50 is not a public address" in r.stderr


def test_list_other_zone_not_served_exit_2(dns_home: Path, bind_zone: BindPair) -> None:
    r = run_cli("dns", "list", "--zone", "kota-lain.test")
    assert r.exit_code == 2, r
    assert "is not authoritative for kota-lain.test. (NOTAUTH)" in r.stderr


def test_help_and_plan_json(dns_home: Path, bind_zone: BindPair) -> None:
    r = run_cli("dns", "--help")
    assert r.exit_code == 0 and "Step 15: the application's subdomain records" in r.stdout, r
    for sub in ("plan", "apply", "delete", "list"):
        assert f"  {sub} " in r.stdout
    rid = new_request(dns_home)
    r = run_cli("dns", "plan", rid, "--json")
    assert r.exit_code == 0, r
    plan = r.json
    assert plan["summary"] == "4 to create" and plan["meta"]["serial"] == 2026010101
    assert {c["target"] for c in plan["changes"]} == {
        "sisekolah.batam.test. A", "www.sisekolah.batam.test. CNAME",
        "_provision-owner.sisekolah.batam.test. TXT", "_provision-owner.www.sisekolah.batam.test. TXT"}
    r = run_cli("dns", "delete", rid, "--dry-run", "--json")
    assert r.exit_code == 0 and r.json["plans"][0]["summary"] == "nothing to do" and r.json["result"] is None, r


def test_partial_apply_exit_5_lists_parts_and_audit_agrees(provision_home: Path, bind_factory: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import provision.dns.update as update_mod
    bind = bind_factory(options="    max-records-per-type 3;")
    write_config(provision_home, bind)
    monkeypatch.setattr(update_mod, "BUDGET", 700)  # a few names per message
    records = [{"name": f"n{i}.sisekolah", "type": "A", "values": [f"203.0.113.{i + 1}"]} for i in range(6)]
    records += [{"name": "zz.sisekolah", "type": "A", "values": [f"203.0.113.{i}" for i in range(10, 14)]}]
    records += [{"name": f"zzz{i}.sisekolah", "type": "A", "values": ["203.0.113.9"]} for i in range(4)]
    rid = new_request(provision_home, dict(SPEC, dns={"records": records}))
    r = run_cli("dns", "apply", rid, "--yes")
    assert r.exit_code == 5, r
    assert f"Error: DNS apply for {rid} was partial:" in r.stderr and "SERVFAIL" in r.stderr
    assert "failed (" in r.stdout and ": not attempted:" in r.stdout
    applied = int(r.stdout.split("Applied ")[1].split(" of ")[0])
    assert applied > 0
    events = [e for e in run_cli("audit", "log", rid, "--json").json if e["provider"] == "dns"]
    assert sum(e["outcome"] == "succeeded" for e in events) == applied
    assert any(e["outcome"] == "failed" and "SERVFAIL" in e["reason"] for e in events)


def test_checksum_pins_the_reviewed_plan(dns_home: Path, bind_zone: BindPair) -> None:
    from tests.dns.conftest import nsupdate
    rid = new_request(dns_home)
    reviewed = run_cli("dns", "plan", rid, "--json").json["checksum"]
    nsupdate(bind_zone, "update add other.batam.test. 300 IN A 203.0.113.77")  # the zone moves on
    r = run_cli("dns", "apply", rid, "--checksum", reviewed, "--yes")
    assert r.exit_code == 7, r
    assert f"the plan is not the one reviewed (checksum {reviewed}, now " in r.stderr
    assert dig(bind_zone.primary_addr, "sisekolah.batam.test") == []
    now = run_cli("dns", "plan", rid, "--json").json["checksum"]
    r = run_cli("dns", "apply", rid, "--checksum", now, "--yes")
    assert r.exit_code == 0 and "Applied 4 of 4 changes" in r.stdout, r


def test_apply_needs_a_passing_test_unless_forced(provision_home: Path, bind_zone: BindPair) -> None:
    """The production gate: no passing `provision test` of the commit to install, no records."""
    write_config(provision_home, bind_zone, require_passing_test=True)
    rid = new_request(provision_home)
    serial = bind_zone.soa_serial(int(bind_zone.primary_addr.rsplit(":", 1)[1]))
    r = run_cli("dns", "apply", rid, "--yes")
    assert r.exit_code == 4, r
    assert f"production dns for {rid} refused" in r.stderr and "--force --reason" in r.stderr
    assert bind_zone.soa_serial(int(bind_zone.primary_addr.rsplit(":", 1)[1])) == serial
    r = run_cli("dns", "apply", rid, "--yes", "--force", "--reason", "darurat: uji manual oleh Kadis")
    assert r.exit_code == 0, r
    log = run_cli("audit", "log", rid, "--json").json
    override = [e for e in log if e["action"] == "gate-override"]
    assert override and override[0]["reason"] == "darurat: uji manual oleh Kadis"
