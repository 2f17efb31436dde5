"""Fault injection and call counters, seen through python-gitlab's retry behaviour."""

from __future__ import annotations

import time

import gitlab.exceptions as glexc
import pytest
import requests

from devstack.gitlab_emulator.emulator import GitLabEmulator

from .testing import api


def test_500_once_is_retried_only_with_retry_transient_errors(gitlab: GitLabEmulator) -> None:
    gitlab.create_group("pemko")
    gitlab.faults.error(r"/groups/pemko$", status=500, times=1)
    with pytest.raises(glexc.GitlabGetError) as caught:
        gitlab.client().groups.get("pemko")
    assert caught.value.response_code == 500
    gitlab.faults.error(r"/groups/pemko$", status=502, times=2)
    gitlab.calls.reset()
    group = gitlab.client(retry_transient_errors=True).groups.get("pemko")
    assert group.path == "pemko"
    assert [c.status for c in gitlab.calls.api(r"/groups/pemko$")] == [502, 502, 200]


def test_503_storm_beyond_max_retries_surfaces(gitlab: GitLabEmulator) -> None:
    gitlab.faults.error(r"/projects", status=503, times=None)
    client = gitlab.client(retry_transient_errors=True)
    with pytest.raises(glexc.GitlabListError) as caught:
        client.projects.list(max_retries=2)
    assert caught.value.response_code == 503
    assert len(gitlab.calls.api(r"/projects$")) == 3


def test_429_has_gitlab_body_and_headers(gitlab: GitLabEmulator) -> None:
    gitlab.faults.rate_limit(times=1, retry_after=7)
    response = api(gitlab, "GET", "/projects")
    assert response.status_code == 429
    assert response.text.strip() == "Retry later"
    assert response.headers["Retry-After"] == "7"
    for header in ("RateLimit-Limit", "RateLimit-Observed", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-ResetTime"):
        assert header in response.headers
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Reset"]) >= int(time.time()) + 5
    assert api(gitlab, "GET", "/projects").status_code == 200  # the storm was one request long


def test_python_gitlab_waits_retry_after_and_succeeds(gitlab: GitLabEmulator) -> None:
    gitlab.faults.rate_limit(r"/projects$", times=2, retry_after=1)
    started = time.monotonic()
    assert gitlab.client().projects.list() == []
    assert time.monotonic() - started >= 2.0  # two waits of Retry-After: 1
    assert [c.status for c in gitlab.calls.api(r"/projects$")] == [429, 429, 200]


def test_429_storm_longer_than_max_retries_raises(gitlab: GitLabEmulator) -> None:
    gitlab.faults.rate_limit(times=None, retry_after=0)
    with pytest.raises(glexc.GitlabListError) as caught:
        gitlab.client().projects.list(max_retries=3)
    assert caught.value.response_code == 429


def test_dropped_connection(gitlab: GitLabEmulator) -> None:
    gitlab.faults.drop(r"/user$", times=1)
    with pytest.raises(requests.ConnectionError):
        api(gitlab, "GET", "/user")
    gitlab.faults.drop(r"/user$", times=1)
    client = gitlab.client(retry_transient_errors=True)
    client.auth()
    assert client.user is not None and client.user.username == "root"


def test_slow_answer_times_the_client_out(gitlab: GitLabEmulator) -> None:
    gitlab.faults.slow(r"/user$", seconds=1.5, times=1)
    with pytest.raises(requests.exceptions.Timeout):
        api(gitlab, "GET", "/user", timeout=0.5)
    assert api(gitlab, "GET", "/user").status_code == 200


def test_faults_match_methods_and_run_out(gitlab: GitLabEmulator) -> None:
    fault = gitlab.faults.error(r"/groups$", status=500, times=2, methods=["POST"])
    assert api(gitlab, "GET", "/groups").status_code == 200
    assert api(gitlab, "POST", "/groups", json={"name": "a", "path": "a"}).status_code == 500
    assert api(gitlab, "POST", "/groups", json={"name": "a", "path": "a"}).status_code == 500
    assert api(gitlab, "POST", "/groups", json={"name": "a", "path": "a"}).status_code == 201
    assert fault.hits == 2 and fault.exhausted


def test_counters_split_reads_and_writes_and_reset(gitlab: GitLabEmulator) -> None:
    client = gitlab.client()
    group = client.groups.create({"name": "Pemko", "path": "pemko"})
    client.groups.get(group.id)
    client.groups.list(get_all=True)
    assert gitlab.calls.writes == 1
    assert gitlab.calls.reads == 2
    assert gitlab.calls.by_method() == {"POST": 1, "GET": 2}
    assert gitlab.calls.by_route()["GET /api/v4/groups/:id"] == 1
    gitlab.calls.reset()
    client.groups.get("pemko")
    assert (gitlab.calls.reads, gitlab.calls.writes) == (1, 0)
    gitlab.create_user("seeded")  # admin helpers are not API calls
    assert (gitlab.calls.reads, gitlab.calls.writes) == (1, 0)
