"""Helpers for the DNS tests. The BIND fixture comes from tests.sandbox.bind_fixtures."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from devstack.sandbox.bind import BindPair
from provision.config import Dns
from provision.dns import DnsProvider
from provision.plan import Change
from provision.spec import Spec, load_spec
from tests.sandbox.bind_fixtures import ZONE  # bind_zone, bind_factory: plugin in tests/conftest.py

REQ = "REQ-2026-0001"
OPD = "Dinas Pendidikan"


def make_spec(records: list[dict[str, Any]], slug: str = "sisekolah", aliases: list[str] | None = None) -> Spec:
    data = {"version": 1, "application": {"slug": slug, "name": "Sistem Informasi Sekolah"},
            "runtime": {"kind": "php", "version": "8.2"},
            "hosting": {"host": "web1", "aliases": aliases or []},
            "dns": {"records": records}}
    return load_spec(yaml.safe_dump(data, allow_unicode=True), "spec.yaml")


def settings_for(bind: BindPair, **over: Any) -> Dns:
    base: dict[str, Any] = dict(zone=ZONE, primary=bind.primary_addr, tsig_key_file=str(bind.client_key_file),
                                verify_servers=bind.servers, timeout=2.0, verify_timeout=10.0,
                                allow_private_addresses=True)
    base.update(over)
    return Dns(**base)


@dataclass
class MemoryRecorder:
    """The recorder contract (audit.AuditLog's attempt/succeeded/failed) kept in memory."""

    events: list[tuple[str, int, str, str]] = field(default_factory=list)  # (outcome, id, target, reason)
    _next: int = 0

    def attempt(self, provider: str, change: Change) -> int:
        self._next += 1
        self.events.append(("attempted", self._next, change.target, ""))
        return self._next

    def succeeded(self, attempt_id: int, provider: str, change: Change, detail: Any = None) -> int:
        self.events.append(("succeeded", attempt_id, change.target, ""))
        return attempt_id

    def failed(self, attempt_id: int, provider: str, change: Change, reason: str) -> int:
        self.events.append(("failed", attempt_id, change.target, reason))
        return attempt_id

    def outcomes(self, outcome: str) -> list[str]:
        return [t for o, _, t, _ in self.events if o == outcome]


class CountingProvider:
    """A DnsProvider whose UPDATE sends are counted (wrapping the transport's send)."""

    def __init__(self, settings: Dns) -> None:
        self.provider = DnsProvider(settings)
        self.sent = 0
        t = self.provider.transport
        original = t.send_update

        def counted(msg: Any, what: str) -> None:
            self.sent += 1
            original(msg, what)

        t.send_update = counted  # type: ignore[method-assign]


@pytest.fixture
def provider(bind_zone: BindPair) -> CountingProvider:  # noqa: F811
    # The test zone holds 10 record sets (15 with one application): withdrawing it is a third.
    return CountingProvider(settings_for(bind_zone, max_delete_share=0.6, max_update_share=0.6))


def dig(server: str, name: str, rdtype: str = "A") -> list[str]:
    host, port = server.rsplit(":", 1)
    out = subprocess.run(["dig", "+short", "+norecurse", "-p", port, f"@{host}", name, rdtype],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


def nsupdate(bind: BindPair, commands: str) -> None:
    host, port = bind.primary_addr.rsplit(":", 1)
    script = f"server {host} {port}\nzone {ZONE}\n{commands}\nsend\n"
    proc = subprocess.run(["nsupdate", "-k", str(bind.client_key_file)], input=script,
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr


def checked_zone(bind: BindPair, server: str) -> str:
    """AXFR the zone from `server` with dig and check it with named-checkzone; the text."""
    host, port = server.rsplit(":", 1)
    axfr = subprocess.run(["dig", "-k", str(bind.client_key_file), "-p", port, f"@{host}", ZONE, "AXFR",
                           "+nocomments", "+nostats", "+nocmd"], capture_output=True, text=True,
                          timeout=10, check=True).stdout
    assert "Transfer failed" not in axfr and "SOA" in axfr, axfr
    axfr = "\n".join(line for line in axfr.splitlines() if "\tTSIG\t" not in line) + "\n"
    assert bind.base is not None
    path = bind.base / "transferred.db"
    path.write_text(axfr)
    proc = subprocess.run(["named-checkzone", "-i", "full", ZONE, str(path)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return axfr


@pytest.fixture(autouse=True)
def zone_checked_after(request: pytest.FixtureRequest) -> Any:
    """After every test that used `bind_zone`: the zone from each running server passes
    named-checkzone, and the secondary serves the primary's zone exactly."""
    if "bind_zone" not in request.fixturenames:
        yield
        return
    bind: BindPair = request.getfixturevalue("bind_zone")
    yield
    if bind.primary is None or not bind.primary.alive():
        return
    primary = checked_zone(bind, bind.primary_addr)
    if bind.secondary is not None and bind.secondary.alive():
        serial = bind.soa_serial(bind.primary.port)
        assert serial is not None
        bind.wait_secondary(serial)
        secondary = checked_zone(bind, bind.secondary_addr)
        assert sorted(secondary.splitlines()) == sorted(primary.splitlines())
