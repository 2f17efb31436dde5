"""Pytest fixtures for the GitLab emulator (loaded by tests/conftest.py).

- `gitlab_emulator` (module scope): a started `GitLabEmulator` with sshd.
- `gitlab` (function scope): the same emulator, reset to a fresh state (only `root`,
  no faults, counters at zero); fails the test if the emulator hit an internal error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator


@pytest.fixture(scope="module")
def gitlab_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabEmulator]:
    state_dir = tmp_path_factory.mktemp("gitlab-emulator")
    emulator = GitLabEmulator(state_dir)
    try:
        emulator.start()
    except Exception as e:  # never skip: a missing sshd or git is a broken test machine
        pytest.fail(f"the GitLab emulator could not start: {e}", pytrace=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def gitlab(gitlab_emulator: GitLabEmulator) -> Iterator[GitLabEmulator]:
    gitlab_emulator.reset()
    yield gitlab_emulator
    errors = list(gitlab_emulator.internal_errors)
    gitlab_emulator.faults.clear()
    if errors:
        pytest.fail("the GitLab emulator hit an internal error (a bug in the emulator):\n" + "\n".join(errors), pytrace=False)
