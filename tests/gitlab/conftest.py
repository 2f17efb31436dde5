"""Fixtures for the GitLab provider tests: the emulator as a contract target."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.gitlab_emulator import GitLabEmulator
from devstack.gitlab_target import Target

USERS = ["budi.dev", "siti_lead", "kominfo.ops", "ani.tester"]


@pytest.fixture
def emulator_target(gitlab: GitLabEmulator) -> Iterator[Target]:
    """A fresh emulator: a `provisioner` user (token with api) owning the root group
    `pemko-batam`, and four more users."""
    gitlab.create_user("provisioner", "Kominfo Provisioner")
    token = gitlab.create_token("provisioner", ["api"])
    for name in USERS:
        gitlab.create_user(name)
    gitlab.create_group("pemko-batam", "Pemerintah Kota Batam", owner="provisioner")
    yield Target("emulator", gitlab.url, token, "pemko-batam", list(USERS), gitlab.client(),
                 server_writes=lambda: gitlab.calls.writes, server_reads=lambda: gitlab.calls.reads)
