"""pytest fixtures for BIND 9: `bind_zone`, a fresh primary + secondary per test.

A fresh pair per test (about 1 s) keeps every test's zone, journal and serial its own;
the tests change the zone, so sharing one would make them depend on their order. A
BIND that cannot start fails the test with named's own log (never a skip).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.sandbox import SandboxError
from devstack.sandbox.bind import BindPair

ZONE = "batam.test."

#: Records "made by hand" in every test zone: the provider must never touch them.
HAND_RECORDS = [
    "www 300 IN A 203.0.113.10",
    "@ 300 IN MX 10 mail",
    "mail 300 IN A 203.0.113.25",
    'hand 300 IN TXT "made by hand; keep me"',
    "portal 300 IN CNAME www",
    "lama 300 IN A 203.0.113.30",
]


@pytest.fixture
def bind_zone() -> Iterator[BindPair]:
    """A BIND primary (dynamic zone `batam.test.` under update-policy, TSIG key
    `provision-key`) and a secondary transferring from it, both on 127.0.0.1 at free
    ports, running as nobody; holds HAND_RECORDS. Stopped and deleted after the test."""
    pair = BindPair(zone=ZONE, records=HAND_RECORDS)
    try:
        pair.start()
    except SandboxError as e:
        pytest.fail(f"BIND could not start: {e}", pytrace=False)
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def bind_factory() -> Iterator[Callable[..., BindPair]]:
    """Start BIND pairs with other settings (policy, options, no secondary) for one test:
    `bind_factory(policy="grant provision-key zonesub A TXT;")`. All stopped after it."""
    started: list[BindPair] = []

    def start(**kw: Any) -> BindPair:
        kw.setdefault("zone", ZONE)
        kw.setdefault("records", HAND_RECORDS)
        pair = BindPair(**kw)
        try:
            pair.start()
        except SandboxError as e:
            pytest.fail(f"BIND could not start: {e}", pytrace=False)
        started.append(pair)
        return pair

    try:
        yield start
    finally:
        for pair in started:
            pair.stop()
