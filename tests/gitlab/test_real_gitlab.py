"""The same provider contract against a real GitLab.

Runs when GITLAB_TEST_URL and GITLAB_TEST_TOKEN are set (skipped otherwise, with the
reason; a skip is never a pass). The token's user must own GITLAB_TEST_ROOT_GROUP
(default `provision-contract-tests`, which must exist), and GITLAB_TEST_USERS must name
at least four other existing users (comma-separated). GITLAB_TEST_CA_BUNDLE for a
private CA. Every project a test creates is deleted at the end (GitLab 18 keeps it
"pending deletion" for a while; the OPD subgroups, named opd<random>, stay).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.gitlab_target import Target, real_target_from_env

from .contract import *  # noqa: F403 - the shared contract tests

_TARGET = real_target_from_env()

pytestmark = [
    pytest.mark.real_gitlab,
    pytest.mark.skipif(_TARGET is None, reason="GITLAB_TEST_URL and GITLAB_TEST_TOKEN are not set: "
                       "the contract tests against a real GitLab did not run"),
]


@pytest.fixture
def target() -> Iterator[Target]:
    assert _TARGET is not None
    if len(_TARGET.users) < 4:
        pytest.fail("GITLAB_TEST_USERS must name at least four existing users", pytrace=False)
    yield _TARGET
    while _TARGET.cleanup:
        _TARGET.cleanup.pop()()
