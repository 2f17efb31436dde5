"""Protected branches, deploy keys and CI/CD variables: status codes and body shapes."""

from __future__ import annotations

from pathlib import Path

import gitlab.exceptions as glexc
import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator
from devstack.gitlab_emulator.models import DEVELOPER, MAINTAINER, NO_ACCESS

from .testing import api, make_key


@pytest.fixture
def project(gitlab: GitLabEmulator):  # noqa: ANN201 - a python-gitlab Project
    gitlab.create_group("pemko")
    return gitlab.client().projects.create(
        {"name": "App", "path": "app", "namespace_id": gitlab.client().groups.get("pemko").id, "initialize_with_readme": True}
    )


# -- protected branches -----------------------------------------------------------------------


def test_protecting_the_auto_protected_default_branch_is_409(project) -> None:  # noqa: ANN001
    with pytest.raises(glexc.GitlabCreateError) as caught:
        project.protectedbranches.create({"name": "main", "push_access_level": MAINTAINER, "merge_access_level": MAINTAINER})
    assert caught.value.response_code == 409
    assert caught.value.error_message == "Protected branch 'main' already exists"


def test_protect_wildcard_get_patch_and_unprotect(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    created = project.protectedbranches.create({"name": "release/*", "push_access_level": NO_ACCESS, "merge_access_level": DEVELOPER})
    assert created.push_access_levels[0]["access_level"] == NO_ACCESS
    got = project.protectedbranches.get("release/*")
    assert got.merge_access_levels[0]["access_level"] == DEVELOPER
    entry = got.push_access_levels[0]["id"]
    patched = api(gitlab, "PATCH", f"/projects/{project.id}/protected_branches/release%2F%2A",
                  json={"allow_force_push": True, "allowed_to_push": [{"id": entry, "_destroy": True}, {"access_level": MAINTAINER}]})
    assert patched.status_code == 200
    assert patched.json()["allow_force_push"] is True
    assert [a["access_level"] for a in patched.json()["push_access_levels"]] == [MAINTAINER]
    assert api(gitlab, "DELETE", f"/projects/{project.id}/protected_branches/release%2F%2A").status_code == 204
    with pytest.raises(glexc.GitlabGetError) as gone:
        project.protectedbranches.get("release/*")
    assert gone.value.response_code == 404
    assert api(gitlab, "DELETE", f"/projects/{project.id}/protected_branches/nope").status_code == 404


def test_bad_protection_level_is_rejected(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    response = api(gitlab, "POST", f"/projects/{project.id}/protected_branches", json={"name": "dev", "push_access_level": 35})
    assert response.status_code == 400
    assert response.json() == {"error": "push_access_level does not have a valid value"}
    blank = api(gitlab, "POST", f"/projects/{project.id}/protected_branches", json={"name": " "})
    assert blank.status_code == 422
    assert isinstance(blank.json()["message"], list)


# -- deploy keys --------------------------------------------------------------------------------


def test_deploy_key_create_reuse_update_delete(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    _, public = make_key(tmp_path, "kominfo")
    key = project.keys.create({"title": "Kominfo server", "key": public, "can_push": False})
    assert key.can_push is False
    assert key.fingerprint_sha256.startswith("SHA256:")
    same_text = project.keys.create({"title": "another title", "key": public + "\n"})
    assert same_text.id == key.id
    assert same_text.title == "Kominfo server"  # GitLab answers with the existing key, title unchanged
    with pytest.raises(glexc.GitlabCreateError) as other_comment:
        project.keys.create({"title": "t", "key": public.rsplit(" ", 1)[0] + " other-comment"})
    assert other_comment.value.response_code == 400
    assert other_comment.value.error_message == {"fingerprint_sha256": ["has already been taken"]}
    assert len(project.keys.list()) == 1
    key.title = "renamed"
    key.save()
    assert project.keys.get(key.id).title == "renamed"
    project.keys.delete(key.id)
    assert project.keys.list() == []


def test_deploy_key_enable_on_a_second_project(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    _, public = make_key(tmp_path, "kominfo")
    key = project.keys.create({"title": "Kominfo", "key": public})
    other = gitlab.client().projects.create({"name": "Other", "path": "other"})
    other.keys.enable(key.id)
    assert [k.id for k in other.keys.list()] == [key.id]


def test_invalid_deploy_key_is_400(project) -> None:  # noqa: ANN001
    with pytest.raises(glexc.GitlabCreateError) as caught:
        project.keys.create({"title": "bad", "key": "ssh-ed25519 not-base64"})
    assert caught.value.response_code == 400
    assert caught.value.error_message["key"] == ["is invalid"]


# -- variables ------------------------------------------------------------------------------------


def test_variable_create_get_update_delete(project) -> None:  # noqa: ANN001
    var = project.variables.create({"key": "PROVISION_REQUEST", "value": "REQ-2026-0001", "protected": True})
    assert var.environment_scope == "*"
    assert var.masked is False
    got = project.variables.get("PROVISION_REQUEST")
    assert got.value == "REQ-2026-0001" and got.protected is True
    got.value = "REQ-2026-0002"
    got.save()
    assert project.variables.get("PROVISION_REQUEST").value == "REQ-2026-0002"
    project.variables.delete("PROVISION_REQUEST")
    with pytest.raises(glexc.GitlabGetError) as gone:
        project.variables.get("PROVISION_REQUEST")
    assert gone.value.response_code == 404


def test_variable_key_rule_and_duplicates(project) -> None:  # noqa: ANN001
    with pytest.raises(glexc.GitlabCreateError) as bad_key:
        project.variables.create({"key": "BAD-KEY", "value": "x"})
    assert bad_key.value.response_code == 400
    assert "key" in bad_key.value.error_message
    project.variables.create({"key": "TOKEN", "value": "x"})
    with pytest.raises(glexc.GitlabCreateError) as dup:
        project.variables.create({"key": "TOKEN", "value": "y"})
    assert dup.value.response_code == 400
    assert dup.value.error_message == {"key": ["(TOKEN) has already been taken"]}


@pytest.mark.parametrize("value", ["short", "has space inside", "two\nlines!"])
def test_unmaskable_values_are_400_value_is_invalid(project, value: str) -> None:  # noqa: ANN001
    with pytest.raises(glexc.GitlabCreateError) as caught:
        project.variables.create({"key": "SECRET", "value": value, "masked": True})
    assert caught.value.response_code == 400
    assert caught.value.error_message == {"value": ["is invalid"]}


def test_hidden_variable_value_cannot_be_read_back(project) -> None:  # noqa: ANN001
    created = project.variables.create({"key": "DEPLOY_TOKEN", "value": "s3cr3t-value", "masked_and_hidden": True})
    assert created.hidden is True and created.masked is True
    assert created.value is None
    assert project.variables.get("DEPLOY_TOKEN").value is None


def test_same_key_in_two_scopes_needs_the_filter(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    project.variables.create({"key": "DB_HOST", "value": "staging.db", "environment_scope": "staging"})
    project.variables.create({"key": "DB_HOST", "value": "prod.db", "environment_scope": "production"})
    ambiguous = api(gitlab, "GET", f"/projects/{project.id}/variables/DB_HOST")
    assert ambiguous.status_code == 409
    assert "filter[environment_scope]" in ambiguous.json()["message"]
    prod = project.variables.get("DB_HOST", filter={"environment_scope": "production"})
    assert prod.value == "prod.db"
    deleted = api(gitlab, "DELETE", f"/projects/{project.id}/variables/DB_HOST", params={"filter[environment_scope]": "staging"})
    assert deleted.status_code == 204
    assert project.variables.get("DB_HOST").value == "prod.db"
