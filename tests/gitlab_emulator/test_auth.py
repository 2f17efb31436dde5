"""Authentication and token scopes, through python-gitlab and raw HTTP."""

from __future__ import annotations

import gitlab.exceptions as glexc
import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator

from .testing import api


def test_valid_token_authenticates_as_its_owner(gitlab: GitLabEmulator) -> None:
    gitlab.create_user("budi", name="Budi Santoso")
    token = gitlab.create_token("budi", scopes=["api"])
    client = gitlab.client(token)
    client.auth()
    assert client.user is not None
    assert client.user.username == "budi"
    assert client.user.name == "Budi Santoso"


def test_missing_token_is_401_on_writes_and_on_current_user(gitlab: GitLabEmulator) -> None:
    anonymous = api(gitlab, "POST", "/groups", token=None, json={"name": "x", "path": "x"})
    assert anonymous.status_code == 401
    assert anonymous.json() == {"message": "401 Unauthorized"}
    assert api(gitlab, "GET", "/user", token=None).status_code == 401


def test_bad_token_raises_authentication_error_not_http_error(gitlab: GitLabEmulator) -> None:
    client = gitlab.client("glpat-not-a-real-token")
    with pytest.raises(glexc.GitlabAuthenticationError) as caught:
        client.auth()
    assert caught.value.response_code == 401
    assert not isinstance(caught.value, glexc.GitlabHttpError)
    assert api(gitlab, "GET", "/projects", token="glpat-wrong").status_code == 401


def test_bearer_header_is_accepted(gitlab: GitLabEmulator) -> None:
    response = api(gitlab, "GET", "/user", token=None, headers={"Authorization": f"Bearer {gitlab.root_token}"})
    assert response.status_code == 200
    assert response.json()["username"] == "root"
    assert response.json()["is_admin"] is True
    bad = api(gitlab, "GET", "/user", token=None, headers={"Authorization": "Bearer glpat-wrong"})
    assert bad.status_code == 401
    assert bad.json() == {"message": "401 Unauthorized"}


def test_revoked_token_and_blocked_user_are_401(gitlab: GitLabEmulator) -> None:
    gitlab.create_user("sari")
    revoked = gitlab.create_token("sari")
    gitlab.revoke_token(revoked)
    assert api(gitlab, "GET", "/user", token=revoked).status_code == 401
    other = gitlab.create_token("sari")
    assert api(gitlab, "GET", "/user", token=other).status_code == 200
    gitlab.block_user("sari")
    assert api(gitlab, "GET", "/user", token=other).status_code == 401


def test_token_self_reports_scopes(gitlab: GitLabEmulator) -> None:
    gitlab.create_user("ci")
    token = gitlab.create_token("ci", scopes=["read_api", "read_repository"], name="ci-token")
    client = gitlab.client(token)
    me = client.personal_access_tokens.get("self")
    assert sorted(me.scopes) == ["read_api", "read_repository"]
    assert me.name == "ci-token"
    assert me.active is True
    assert "api" not in me.scopes


def test_read_api_token_reads_but_writes_get_insufficient_scope(gitlab: GitLabEmulator) -> None:
    gitlab.create_user("reader")
    token = gitlab.create_token("reader", scopes=["read_api"])
    client = gitlab.client(token)
    assert isinstance(client.projects.list(), list)
    with pytest.raises(glexc.GitlabCreateError) as caught:
        client.groups.create({"name": "g", "path": "g"})
    assert caught.value.response_code == 403
    assert caught.value.error_message == "insufficient_scope"
    body = api(gitlab, "POST", "/groups", token=token, json={"name": "g", "path": "g"}).json()
    assert body["error"] == "insufficient_scope"
    assert "scope" in body and "api" in body["scope"]


def test_read_user_token_cannot_read_projects(gitlab: GitLabEmulator) -> None:
    gitlab.create_user("who")
    token = gitlab.create_token("who", scopes=["read_user"])
    assert api(gitlab, "GET", "/user", token=token).status_code == 200
    refused = api(gitlab, "GET", "/projects", token=token)
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"


def test_users_by_username_is_exact_and_search_is_fuzzy(gitlab: GitLabEmulator) -> None:
    for name in ("andi", "andika", "randi"):
        gitlab.create_user(name)
    client = gitlab.client()
    exact = client.users.list(username="andi")
    assert [u.username for u in exact] == ["andi"]
    assert client.users.list(username="and") == []
    fuzzy = {u.username for u in client.users.list(search="andi")}
    assert fuzzy == {"andi", "andika", "randi"}


def test_unknown_route_and_unknown_user_are_404(gitlab: GitLabEmulator) -> None:
    assert api(gitlab, "GET", "/no/such/route").status_code == 404
    missing = api(gitlab, "GET", "/users/9999")
    assert missing.status_code == 404
    assert missing.json() == {"message": "404 User Not Found"}


def test_admin_creates_a_token_for_another_user(gitlab: GitLabEmulator) -> None:
    from .testing import api

    user = gitlab.create_user("budi.dev")
    r = api(gitlab, "POST", f"/users/{user.id}/personal_access_tokens",
            json={"name": "laptop", "scopes": ["write_repository"]})
    assert r.status_code == 201
    assert r.json()["scopes"] == ["write_repository"] and r.json()["token"].startswith("glpat-")
    me = api(gitlab, "GET", "/personal_access_tokens/self", token=r.json()["token"])
    assert me.status_code == 200 and me.json()["user_id"] == user.id
    denied = api(gitlab, "POST", f"/users/{user.id}/personal_access_tokens", token=r.json()["token"],
                 json={"name": "x", "scopes": ["api"]})
    assert denied.status_code == 403
