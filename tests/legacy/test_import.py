"""`provision import` against an estate prepared by hand: a sandbox server with three
nginx sites written directly (portal: PHP; perpus: static; arsip: half-broken, an expired
certificate and no DNS record) and a BIND zone whose records are in its zone file, with
one name nobody can attribute (misteri). The plan lists them, --map attributes them,
apply imports them (adopted ownership records, audited), a second import plans nothing,
and `provision check` then covers the legacy apps and warns only about misteri."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devstack.ca import CA
from devstack.gitlab_emulator import GitLabEmulator
from devstack.sandbox.bind import BindPair
from devstack.sandbox.hosting import install_app, reload
from devstack.sandbox.server import Server
from tests.checks.env import by, write_config
from tests.helpers import run_cli

pytestmark = [pytest.mark.root, pytest.mark.slow]

ZONE = "batam.test"
# slug -> (kind, days the certificate has left)
SITES = {"portal": ("php", 200), "perpus": ("static", 90), "arsip": ("static", -3)}
ZONE_RECORDS = ["portal 300 IN A 127.0.0.1", "perpus 300 IN A 127.0.0.1",
                "misteri 300 IN A 192.0.2.77"]  # arsip: a site without DNS
MAP = {
    "portal.batam.test": {"opd_code": "diskominfo", "opd_name": "Dinas Kominfo", "application": "Portal Kota"},
    "perpus": {"opd_code": "disarpus", "opd_name": "Dinas Perpustakaan", "application": "Katalog Perpustakaan"},
    "arsip.batam.test": {"opd_code": "disarpus", "opd_name": "Dinas Perpustakaan", "application": "Arsip Digital"},
}


@dataclass
class Estate:
    server: Server
    inventory: Path
    known_hosts: Path
    ca_file: Path
    ports: dict[int, int]


@pytest.fixture(scope="module")
def estate(kominfo_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    d = tmp_path_factory.mktemp("estate")
    ca = CA.new()
    (d / "ca.pem").write_bytes(ca.pem)
    for slug, (kind, days) in SITES.items():
        cert, key = ca.leaf([f"{slug}.batam.test"], days)
        install_app(kominfo_server, slug, f"{slug}.batam.test", cert, key, kind)
    reload(kominfo_server)
    inv = d / "inventory.yml"
    inv.write_text(f"all:\n  hosts:\n    {kominfo_server.name}:\n      ansible_host: {kominfo_server.name}\n"
                   f"      ansible_user: root\n      ansible_ssh_common_args: -F {kominfo_server.ssh_config}\n"
                   f"      provision_addresses: ['127.0.0.1']\n")
    known = Path(kominfo_server.ssh_config).parent / "known_hosts"
    ports = {80: kominfo_server.forward(80), 443: kominfo_server.forward(443)}
    yield Estate(kominfo_server, inv, known, d / "ca.pem", ports)


@pytest.fixture
def zone(bind_factory: object) -> BindPair:
    return bind_factory(records=ZONE_RECORDS)  # type: ignore[operator, no-any-return]


@pytest.fixture
def home(provision_home: Path, estate: Estate, zone: BindPair, gitlab: GitLabEmulator,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    name = estate.server.name
    gitlab.create_user("provisioner", "Kominfo Provisioner")
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", gitlab.create_token("provisioner", ["api"]))
    gitlab.create_group("pemko-batam", "Pemerintah Kota Batam", owner="provisioner")
    gitlab.create_group("diskominfo", parent="pemko-batam", owner="provisioner")
    gitlab.create_group("disarpus", parent="pemko-batam", owner="provisioner")
    gitlab.create_project("pemko-batam/diskominfo/portal")
    write_config(provision_home,
                 gitlab={"url": gitlab.url, "root_group": "pemko-batam", "max_retries": 1, "timeout": 5},
                 dns={"zone": ZONE, "primary": zone.primary_addr, "tsig_key_file": str(zone.client_key_file),
                      "verify_servers": zone.servers, "timeout": 2.0, "verify_timeout": 10.0,
                      "allow_private_addresses": True},
                 hosting={"inventory": str(estate.inventory), "ssh_config": str(estate.server.ssh_config),
                          "known_hosts": str(estate.known_hosts)},
                 checks={"connect_to": {f"{name}:80": f"127.0.0.1:{estate.ports[80]}",
                                        f"{name}:443": f"127.0.0.1:{estate.ports[443]}",
                                        **{f"{s}.batam.test:443": f"127.0.0.1:{estate.ports[443]}" for s in SITES},
                                        **{f"{s}.batam.test:80": f"127.0.0.1:{estate.ports[80]}" for s in SITES}},
                         "ca_bundle": str(estate.ca_file), "timeout": 8.0, "probe_timeout": 0.5})
    (provision_home / "map.yaml").write_text(yaml.safe_dump(MAP))
    return provision_home


def axfr(zone: BindPair) -> list[str]:
    host, port = zone.primary_addr.rsplit(":", 1)
    out = subprocess.run(["dig", "-p", port, f"@{host}", "-y", _tsig(zone), ZONE, "AXFR", "+noall", "+answer"],
                         capture_output=True, text=True, timeout=20, check=True).stdout
    return sorted(" ".join(line.split()) for line in out.splitlines() if line.strip())


def _tsig(zone: BindPair) -> str:
    text = zone.client_key_file.read_text()
    import re

    name = re.search(r'key\s+"([^"]+)"', text).group(1)  # type: ignore[union-attr]
    alg = re.search(r"algorithm\s+([\w-]+);", text).group(1)  # type: ignore[union-attr]
    secret = re.search(r'secret\s+"([^"]+)"', text).group(1)  # type: ignore[union-attr]
    return f"{alg}:{name}:{secret}"


def audit_count() -> int:
    from provision.context import App
    from provision.store.models import AuditEvent

    app = App()
    with app.store.read() as s:
        n = s.query(AuditEvent).count()
    app.store.dispose()
    return n


def test_plan_lists_what_exists_and_who_is_unknown(home: Path, estate: Estate) -> None:
    r = run_cli("import", "--dry-run")
    assert r.exit_code == 0, r
    assert "Legacy records: nothing to do" in r.stdout, r.stdout
    assert "Sites without an OPD (listed, not imported" in r.stdout
    for slug in SITES:
        assert f"{estate.server.name}:{slug}.conf  {slug}.batam.test" in r.stdout, r.stdout
    assert "Names nobody can attribute" in r.stdout and "  misteri.batam.test" in r.stdout
    assert "Dry run: nothing applied." in r.stdout


def test_bad_map_is_refused_naming_the_field(home: Path) -> None:
    (home / "bad.yaml").write_text(yaml.safe_dump({"portal.batam.test": {"opd_code": "Kominfo!",
                                                                         "opd_name": "X", "colour": "red"}}))
    r = run_cli("import", "--map", str(home / "bad.yaml"), "--dry-run")
    assert r.exit_code == 2, r
    assert "portal.batam.test.opd_code: must be 2-32 lowercase letters" in r.stderr, r.stderr
    assert "portal.batam.test.colour: unknown field" in r.stderr
    assert "portal.batam.test.application: required" in r.stderr
    assert "Legacy records" not in r.stdout  # refused before the zone or any server was read


def test_map_attributes_apply_imports_second_import_plans_nothing(home: Path, estate: Estate, zone: BindPair,
                                                                  gitlab: GitLabEmulator) -> None:
    mapfile = str(home / "map.yaml")
    r = run_cli("import", "--map", mapfile, "--dry-run", "--json")
    assert r.exit_code == 0, r
    legacy, dnsplan = r.json["plans"]
    creates = sorted((c["kind"], c["target"]) for c in legacy["changes"])
    rids = sorted({t for _, t in creates})
    assert len(rids) == 3 and [k for k, _ in creates] == ["hosting.registry"] * 3 + ["legacy.request"] * 3
    by_app = {c["after"]["application"]: c for c in legacy["changes"] if c["kind"] == "legacy.request"}
    assert set(by_app) == {"Portal Kota", "Katalog Perpustakaan", "Arsip Digital"}
    assert by_app["Portal Kota"]["after"]["sources"]["opd"] == f"map {mapfile}"
    assert by_app["Portal Kota"]["after"]["gitlab_project"] == "pemko-batam/diskominfo/portal"
    assert by_app["Portal Kota"]["after"]["sources"]["gitlab_project"].startswith("GitLab http")
    assert by_app["Katalog Perpustakaan"]["after"]["gitlab_project"] is None  # no project of that name (yet)
    assert by_app["Portal Kota"]["after"]["sources"]["php_socket"].startswith("nginx site /etc/nginx/sites-enabled/portal.conf")
    assert [c["kind"] for c in dnsplan["changes"]] == ["dns.owner", "dns.owner"], dnsplan["changes"]
    assert sorted(c["target"] for c in dnsplan["changes"]) == [
        "_provision-owner.perpus.batam.test. TXT", "_provision-owner.portal.batam.test. TXT"], dnsplan
    notes = legacy["notes"]
    assert any("Arsip Digital: arsip.batam.test not in the zone" in n for n in notes), notes
    assert any("Arsip Digital: the certificate /etc/ssl/kominfo/arsip.crt expired on" in n for n in notes), notes
    assert r.json["result"]["review"]["unattributed"] == ["misteri.batam.test"]
    assert r.json["result"]["review"]["unmapped"] == []
    checksum = r.json["checksum"]

    zone_before = axfr(zone)
    r = run_cli("import", "--map", mapfile, "--checksum", "0" * 16, "--yes")
    assert r.exit_code == 7 and "the plan is not the one reviewed" in r.stderr, r
    r = run_cli("import", "--map", mapfile)  # no terminal, no --yes
    assert r.exit_code == 2 and "no terminal to ask on" in r.stderr, r
    assert axfr(zone) == zone_before

    r = run_cli("import", "--map", mapfile, "--checksum", checksum, "--yes")
    assert r.exit_code == 0, r
    assert "Imported 3 legacy applications: 6 records written, 2 ownership records added." in r.stdout, r.stdout
    after = axfr(zone)
    owners = [line for line in after if line.startswith("_provision-owner.")]
    assert len(owners) == 2 and all("opd=" in o for o in owners), owners
    assert [x for x in after if " A " in f" {x} "] == [x for x in zone_before if " A " in f" {x} "]  # records kept

    listed = run_cli("request", "list", "--json")
    assert listed.exit_code == 0, listed
    legacy_rows = [x for x in listed.json if x["kind"] == "legacy"]
    assert sorted(x["id"] for x in legacy_rows) == rids and not any(x["overdue"] for x in legacy_rows)
    portal = next(x["id"] for x in legacy_rows if x["application"] == "Portal Kota")
    shown = run_cli("request", "show", portal)
    assert shown.exit_code == 0, shown
    assert "legacy application, imported" in shown.stdout and "no SOP steps" in shown.stdout
    assert f"(from map {mapfile})" in shown.stdout and "OVERDUE" not in shown.stdout
    log = run_cli("audit", "log", "--json")
    assert log.exit_code == 0, log
    adopts = [e for e in log.json if e["provider"] == "dns" and e["action"] == "adopt"]
    assert len(adopts) == 2 and all("provision import: legacy application" in json.dumps(e) for e in adopts)

    n = audit_count()
    r = run_cli("import", "--map", mapfile, "--yes")
    assert r.exit_code == 0, r
    assert "Nothing to import: every application found is already recorded." in r.stdout, r.stdout
    assert axfr(zone) == after
    # The second run writes only its own run record (start and end), never a change.
    log2 = run_cli("audit", "log", "--json")
    assert [e for e in log2.json if e.get("outcome") in ("attempted", "succeeded")] == \
        [e for e in log.json if e.get("outcome") in ("attempted", "succeeded")]
    assert audit_count() == n  # runs are recorded in their own table: no audit event at all

    # A project made since is linked by the next import: one update, then nothing again.
    gitlab.create_project("pemko-batam/disarpus/perpus")
    r = run_cli("import", "--map", mapfile, "--yes", "--json")
    assert r.exit_code == 0, r
    [link] = r.json["plans"][0]["changes"]
    assert (link["action"], link["kind"], link["after"]) == ("update", "legacy.request",
                                                             {"gitlab_project": "pemko-batam/disarpus/perpus"})
    assert r.json["plans"][1]["changes"] == []
    r = run_cli("import", "--map", mapfile, "--yes")
    assert r.exit_code == 0 and "Nothing to import" in r.stdout, r
    perpus = next(x["id"] for x in legacy_rows if x["application"] == "Katalog Perpustakaan")
    shown = run_cli("request", "show", perpus, "--json")
    assert shown.exit_code == 0 and shown.json["imported"]["gitlab_project"] == "pemko-batam/disarpus/perpus", shown

    r = run_cli("check", "--only", "dns,tls,host", "--json")
    assert r.exit_code == 3, r  # arsip's certificate expired: a real failure
    results = r.json["results"]
    covered = {x["request"] for x in results if x["request"]}
    assert set(rids) <= covered, covered
    unowned = [x["name"] for x in results if "no request owns this name" in x["message"]]
    assert unowned == ["name misteri.batam.test."], unowned
    arsip = next(x["id"] for x in legacy_rows if x["application"] == "Arsip Digital")
    tls = {x["request"]: x for x in by(results, check="tls")}
    assert tls[arsip]["status"] == "fail" and tls[arsip]["message"].startswith("expired on "), tls[arsip]
    assert tls[portal]["status"] == "pass", tls[portal]
    own = {x["request"]: x for x in by(results, check="dns", name="ownership")}
    assert own[portal]["status"] == "pass" and own[arsip]["status"] == "warn", own
    assert "not in the zone" in own[arsip]["message"]
