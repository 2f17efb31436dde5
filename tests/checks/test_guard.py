"""The probe allow-list and the Public Suffix List: what may be probed, who is 'us'."""

from __future__ import annotations

import socket

import pytest

from provision.checks.dns import organisation, probe, same_organisation
from provision.checks.guard import AddressGuard, NotAllowed
from provision.errors import ConfigError


def test_default_allows_loopback_only() -> None:
    g = AddressGuard(["127.0.0.0/8", "::1/128"])
    assert g.allowed("127.0.0.1") and g.allowed("127.9.8.7") and g.allowed("::1")
    for addr in ("10.0.0.1", "192.168.1.1", "172.16.0.1", "203.0.113.10", "8.8.8.8", "2001:db8::1",
                 "localhost", "", "::ffff:10.0.0.1"):
        assert not g.allowed(addr), addr
    assert g.allowed("::ffff:127.0.0.1")


def test_bad_network_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="checks.probe_networks: '10.0.0.0/33' is not a network"):
        AddressGuard(["10.0.0.0/33"])


def test_probe_never_connects_outside_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[tuple[str, int]] = []

    def spy(address: tuple[str, int], *a: object, **kw: object) -> socket.socket:
        attempts.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", spy)
    g = AddressGuard(["127.0.0.0/8"])
    with pytest.raises(NotAllowed, match="203.0.113.10 is outside checks.probe_networks; not probed"):
        probe("203.0.113.10", [80, 443], 0.5, g)
    with pytest.raises(NotAllowed):
        probe("10.1.2.3", [80], 0.5, g)
    assert attempts == []
    assert probe("127.0.0.66", [80, 443], 0.5, g) is None
    assert attempts == [("127.0.0.66", 80), ("127.0.0.66", 443)]


def test_probe_finds_a_listening_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert probe("127.0.0.1", [1, port], 0.5, AddressGuard(["127.0.0.1/32"])) == port


def test_same_organisation_uses_the_public_suffix_list(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*a: object, **kw: object) -> None:
        raise AssertionError("the Public Suffix List must not be fetched")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert organisation("sisekolah.batam.go.id") == "batam.go.id"
    assert organisation("batam.go.id.") == "batam.go.id"
    assert same_organisation("www.disdik.batam.go.id", "batam.go.id")
    # The last two labels would say "go.id" for both: every Indonesian government.
    assert not same_organisation("portal.jakarta.go.id", "batam.go.id")
    assert organisation("go.id") == "go.id"
    # Private PSL entries count: a tenant of a hosting platform is its own organisation.
    assert organisation("pemko.herokuapp.com") == "pemko.herokuapp.com"
    assert not same_organisation("a.herokuapp.com", "b.herokuapp.com")
    # A name under no listed suffix: the PSL's default rule "*".
    assert organisation("www.batam.test") == "batam.test"
