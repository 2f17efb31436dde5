"""The ownership records survive octoDNS: a zone read from one real BIND by octoDNS's
BIND provider (AXFR), written to a zone file, read back and written by UPDATE into
another BIND is still the toolkit's, and its plan is empty (or, for a record an older
toolkit wrote as several strings, one change that rewrites it as one string)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from devstack.sandbox.bind import BindPair
from tests.dns.conftest import OPD, REQ, CountingProvider, MemoryRecorder, dig, make_spec, nsupdate, settings_for
from tests.sandbox.bind_fixtures import ZONE

# No ';' in TXT values here: octoDNS wants them escaped in its own files, not our subject.
APP: list[dict[str, Any]] = [{"name": "sisekolah", "type": "A", "values": ["203.0.113.50"]},
                             {"name": "www.sisekolah", "type": "CNAME", "values": ["sisekolah"]},
                             {"name": "lama.sisekolah", "type": "A", "values": ["203.0.113.77"]}]
OLD_FORM = '"kominfo-provision" "request=REQ-2026-0001" "opd=Dinas Pendidikan" "types=A"'
NEW_LAMA = "kominfo-provision request=REQ-2026-0001 types=A opd=Dinas Pendidikan"


def octodns_sync(config: Path) -> str:
    """Run octodns-sync --doit (from this venv: a missing octoDNS is a failure)."""
    sync = Path(sys.executable).parent / "octodns-sync"
    assert sync.exists(), f"octoDNS is not installed beside {sys.executable} (pyproject test extra)"
    proc = subprocess.run([str(sync), "--config-file", str(config), "--doit"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def rfc2136(name: str, pair: BindPair) -> str:
    secret = pair.client_key_file.read_text().split('secret "')[1].split('"')[0]
    host, port = pair.primary_addr.rsplit(":", 1)
    return (f"  {name}:\n    class: octodns_bind.Rfc2136Provider\n    host: {host}\n    port: {port}\n"
            f"    key_name: provision-key\n    key_secret: {secret}\n    key_algorithm: hmac-sha256\n")


def round_trip(source: BindPair, target: BindPair, work: Path) -> str:
    """octoDNS: `source` by AXFR -> a zone file -> `target` by UPDATE. The zone file's text."""
    zones = work / "zones"
    zones.mkdir(parents=True)
    providers = (f"providers:\n  files:\n    class: octodns_bind.ZoneFileProvider\n    directory: {zones}\n"
                 + rfc2136("source", source) + rfc2136("target", target))
    out = work / "out.yaml"
    out.write_text(providers + f"zones:\n  {ZONE}:\n    sources: [source]\n    targets: [files]\n")
    octodns_sync(out)
    back = work / "back.yaml"
    back.write_text(providers + f"zones:\n  {ZONE}:\n    sources: [files]\n    targets: [target]\n")
    octodns_sync(back)
    return (zones / ZONE).read_text()


def owner_txt(pair: BindPair, name: str) -> list[str]:
    return dig(pair.primary_addr, f"_provision-owner.{name}.batam.test", "TXT")


def test_ownership_survives_octodns_round_trip_and_old_form_migrates(bind_factory: Any, tmp_path: Path) -> None:
    a = bind_factory(records=[], secondary=False)
    nsupdate(a, f"update add lama.sisekolah.{ZONE} 3600 IN A 203.0.113.77\n"
                f"update add _provision-owner.lama.sisekolah.{ZONE} 300 IN TXT {OLD_FORM}")
    first = CountingProvider(settings_for(a, max_update_share=1.0))
    plan = first.provider.plan(make_spec(APP), REQ, OPD)
    # The old form is read as ours (no "made by hand" refusal) and rewritten as one string.
    assert {c.target: c.action for c in plan.changes if "lama" in c.target} == {
        f"_provision-owner.lama.sisekolah.{ZONE} TXT": "update"}
    assert first.provider.apply(plan, MemoryRecorder()).ok
    assert owner_txt(a, "lama.sisekolah") == [f'"{NEW_LAMA}"']

    # An older toolkit's record is back beside the new ones before octoDNS reads the zone.
    nsupdate(a, f"update delete _provision-owner.lama.sisekolah.{ZONE} TXT\n"
                f"update add _provision-owner.lama.sisekolah.{ZONE} 300 IN TXT {OLD_FORM}")
    b = bind_factory(records=[], secondary=False)
    text = round_trip(a, b, tmp_path / "ab")
    assert "_provision-owner.sisekolah" in text and "_provision-owner.lama.sisekolah" in text
    # octoDNS joined the old form's four strings into one value: still readable as ours.
    assert owner_txt(b, "lama.sisekolah") == ['"kominfo-provisionrequest=REQ-2026-0001opd=Dinas Pendidikantypes=A"']
    assert owner_txt(b, "sisekolah") == ['"kominfo-provision request=REQ-2026-0001 types=A opd=Dinas Pendidikan"']
    second = CountingProvider(settings_for(b, max_update_share=1.0))
    owners = {r["name"]: r["owner"] for r in second.provider.list_names()}
    assert owners[f"sisekolah.{ZONE}"] == owners[f"www.sisekolah.{ZONE}"] == owners[f"lama.sisekolah.{ZONE}"] == REQ
    plan = second.provider.plan(make_spec(APP), REQ, OPD)
    assert [(c.target, c.action) for c in plan.changes] == [(f"_provision-owner.lama.sisekolah.{ZONE} TXT", "update")]
    assert second.provider.apply(plan, MemoryRecorder()).ok and second.sent == 1
    assert owner_txt(b, "lama.sisekolah") == [f'"{NEW_LAMA}"']
    plan = second.provider.plan(make_spec(APP), REQ, OPD)
    assert plan.empty and plan.summary() == "nothing to do"

    # Once more through octoDNS, from the migrated zone: nothing to do, nothing sent.
    c = bind_factory(records=[], secondary=False)
    round_trip(b, c, tmp_path / "bc")
    third = CountingProvider(settings_for(c, max_update_share=1.0))
    plan = third.provider.plan(make_spec(APP), REQ, OPD)
    assert plan.empty and plan.summary() == "nothing to do"
    assert third.provider.apply(plan, MemoryRecorder()).applied == [] and third.sent == 0
    for name in ("sisekolah", "www.sisekolah", "lama.sisekolah"):
        assert owner_txt(c, name) == owner_txt(b, name) and len(owner_txt(c, name)) == 1
