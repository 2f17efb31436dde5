"""What the checks read: the inventory (cached for plain files), addresses, connect_to."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import provision.install.inventory as inventory_module
from provision.checks.guard import AddressGuard, NotAllowed
from provision.checks.targets import Endpoints, Inventory, load_check_inventory


def config(tmp_path: Path, inv: Path) -> SimpleNamespace:
    return SimpleNamespace(hosting=SimpleNamespace(inventory=str(inv)), state_dir=tmp_path / "state")


def test_plain_inventory_is_read_once_until_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake(path: str) -> SimpleNamespace:
        calls.append(path)
        return SimpleNamespace(hostvars={"web1": {"provision_addresses": [f"127.0.0.{len(calls)}"]}})

    monkeypatch.setattr(inventory_module, "load_inventory", fake)
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  hosts:\n    web1:\n")
    cfg = config(tmp_path, inv)
    assert load_check_inventory(cfg).addresses("web1") == ["127.0.0.1"]
    assert load_check_inventory(cfg).addresses("web1") == ["127.0.0.1"]
    assert len(calls) == 1
    inv.write_text("all:\n  hosts:\n    web1:\n      x: 1\n")
    assert load_check_inventory(cfg).addresses("web1") == ["127.0.0.2"]
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("y: 2\n")
    assert load_check_inventory(cfg).addresses("web1") == ["127.0.0.3"]
    assert len(calls) == 3


def test_dynamic_inventory_is_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(inventory_module, "load_inventory",
                        lambda p: calls.append(p) or SimpleNamespace(hostvars={}))
    script = tmp_path / "hosts.py"
    script.write_text("#!/bin/sh\necho '{}'\n")
    script.chmod(0o755)
    load_check_inventory(config(tmp_path, script))
    load_check_inventory(config(tmp_path, script))
    assert len(calls) == 2


def test_addresses_and_endpoints() -> None:
    inv = Inventory({"web1": {"ansible_host": "127.0.0.5", "provision_addresses": ["127.0.0.9", "::1"]},
                     "web2": {"ansible_host": "web2.example"}, "web3": {"ansible_host": "10.0.0.3"}})
    assert inv.addresses("web1") == ["127.0.0.9", "::1", "127.0.0.5"]
    assert inv.addresses("web2") == []
    assert inv.all_addresses()["127.0.0.5"] == "web1"
    guard = AddressGuard(["127.0.0.0/8"])
    ep = Endpoints({"a.batam.test:443": "127.0.0.1:8443", "web2:80": "127.0.0.2:8080"}, inv, guard)
    assert ep.resolve("a.batam.test", "web1", 443) == ("127.0.0.1", 8443)
    assert ep.resolve("b.batam.test", "web1", 443) == ("127.0.0.9", 443)
    assert ep.resolve("b.batam.test", "web2", 80) == ("127.0.0.2", 8080)
    with pytest.raises(LookupError, match="no address for web2"):
        ep.resolve("b.batam.test", "web2", 443)
    with pytest.raises(NotAllowed, match="10.0.0.3 is outside"):
        ep.resolve("c.batam.test", "web3", 443)
