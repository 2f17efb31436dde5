"""The provider contract against the GitLab emulator (see contract.py)."""

from __future__ import annotations

import pytest

from devstack.gitlab_target import Target

from .contract import *  # noqa: F403 - the shared contract tests


@pytest.fixture
def target(emulator_target: Target) -> Target:
    return emulator_target
