"""Groups and projects: creation, look-up by encoded path, taken paths, archive, delete, rename."""

from __future__ import annotations

import gitlab.exceptions as glexc
import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator
from devstack.gitlab_emulator.models import MAINTAINER, OWNER

from .testing import api


def _tree(gitlab: GitLabEmulator) -> tuple[object, object]:
    client = gitlab.client()
    root = client.groups.create({"name": "Pemko Batam", "path": "pemko"})
    opd = client.groups.create({"name": "Disdik", "path": "disdik", "parent_id": root.id})
    return root, opd


def test_group_create_makes_creator_owner_and_nests(gitlab: GitLabEmulator) -> None:
    gitlab.create_user("ops")
    client = gitlab.client(gitlab.create_token("ops"))
    root = client.groups.create({"name": "Pemko", "path": "pemko"})
    child = client.groups.create({"name": "Disdik", "path": "disdik", "parent_id": root.id})
    assert child.full_path == "pemko/disdik"
    assert child.parent_id == root.id
    assert root.members.get(client.users.list(username="ops")[0].id).access_level == OWNER
    assert [g.full_path for g in root.subgroups.list()] == ["pemko/disdik"]


def test_group_get_by_encoded_full_path_and_404_shapes(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    assert client.groups.get("pemko/disdik").id == opd.id  # python-gitlab encodes the slash
    assert api(gitlab, "GET", "/groups/pemko%2Fdisdik").json()["id"] == opd.id
    unencoded = api(gitlab, "GET", "/groups/pemko/disdik")
    assert unencoded.status_code == 404
    missing = api(gitlab, "GET", "/groups/pemko%2Fnope")
    assert missing.status_code == 404
    assert missing.json() == {"message": "404 Group Not Found"}


def test_taken_group_path_is_400_with_a_string_message(gitlab: GitLabEmulator) -> None:
    root, _ = _tree(gitlab)
    with pytest.raises(glexc.GitlabCreateError) as caught:
        gitlab.client().groups.create({"name": "Again", "path": "disdik", "parent_id": root.id})
    assert caught.value.response_code == 400
    assert caught.value.error_message == 'Failed to save group {:path=>["has already been taken"]}'
    assert isinstance(caught.value.error_message, str)


def test_missing_field_is_400_not_given(gitlab: GitLabEmulator) -> None:
    response = api(gitlab, "POST", "/groups", json={"path": "x"})
    assert response.status_code == 400
    assert response.json() == {"message": '400 (Bad request) "name" not given'}


def test_project_with_readme_has_default_branch_protected(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    project = client.projects.create(
        {"name": "Si Sekolah", "path": "sisekolah", "namespace_id": opd.id, "visibility": "private",
         "description": "REQ-2026-0001", "initialize_with_readme": True, "default_branch": "trunk"}
    )
    assert project.path_with_namespace == "pemko/disdik/sisekolah"
    assert project.default_branch == "trunk"
    assert project.visibility == "private"
    assert project.description == "REQ-2026-0001"
    protected = project.protectedbranches.list()
    assert [b.name for b in protected] == ["trunk"]
    assert protected[0].push_access_levels[0]["access_level"] == MAINTAINER
    assert protected[0].merge_access_levels[0]["access_level"] == MAINTAINER
    assert protected[0].allow_force_push is False
    assert project.files.get("README.md", ref="trunk").decode().startswith(b"# Si Sekolah")


def test_project_without_readme_is_empty_and_ignores_default_branch(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    project = gitlab.client().projects.create({"name": "Kosong", "path": "kosong", "namespace_id": opd.id, "default_branch": "trunk"})
    assert project.empty_repo is True
    assert project.default_branch == "main"
    assert project.protectedbranches.list() == []


def test_taken_project_name_and_path_is_400_with_a_dict_message(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    with pytest.raises(glexc.GitlabCreateError) as caught:
        client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    assert caught.value.response_code == 400
    assert caught.value.error_message == {"name": ["has already been taken"], "path": ["has already been taken"]}
    with pytest.raises(glexc.GitlabCreateError) as only_path:
        client.projects.create({"name": "Other name", "path": "app", "namespace_id": opd.id})
    assert only_path.value.error_message == {"path": ["has already been taken"]}


def test_project_get_by_path_and_404(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    created = client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    assert client.projects.get("pemko/disdik/app").id == created.id
    assert api(gitlab, "GET", "/projects/pemko%2Fdisdik%2Fapp").json()["id"] == created.id
    assert api(gitlab, "GET", "/projects/pemko/disdik/app").status_code == 404
    with pytest.raises(glexc.GitlabGetError) as caught:
        client.projects.get("pemko/disdik/nope")
    assert caught.value.response_code == 404
    assert caught.value.error_message == "404 Project Not Found"


def test_private_project_is_404_for_a_non_member(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    gitlab.client().projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    gitlab.create_user("stranger")
    stranger = gitlab.client(gitlab.create_token("stranger"))
    with pytest.raises(glexc.GitlabGetError) as caught:
        stranger.projects.get("pemko/disdik/app")
    assert caught.value.response_code == 404
    assert api(gitlab, "GET", "/projects/pemko%2Fdisdik%2Fapp", token=None).status_code == 404


def test_edit_project_saves_only_what_changed(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    project = gitlab.client().projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    project.description = "new text"
    project.save()
    again = gitlab.client().projects.get(project.id)
    assert again.description == "new text"
    assert again.name == "App"
    puts = gitlab.calls.api(method="PUT")
    assert len(puts) == 1


def test_archived_project_refuses_writes_with_403(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    project = client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id, "initialize_with_readme": True})
    project.archive()
    assert client.projects.get(project.id).archived is True
    gitlab.create_user("dev")
    with pytest.raises(glexc.GitlabCreateError) as member:
        project.members.create({"username": "dev", "access_level": 30})
    assert member.value.response_code == 403
    with pytest.raises(glexc.GitlabCreateError) as variable:
        project.variables.create({"key": "A", "value": "b"})
    assert variable.value.response_code == 403
    with pytest.raises(glexc.GitlabCreateError) as file:
        project.files.create({"file_path": "x.txt", "branch": "main", "content": "x", "commit_message": "x"})
    assert file.value.response_code == 403
    project.unarchive()
    project.members.create({"username": "dev", "access_level": 30})
    assert client.projects.get(project.id).archived is False


def test_delete_is_202_scheduled_and_the_path_stays_taken(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    project = client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    response = api(gitlab, "DELETE", f"/projects/{project.id}")
    assert response.status_code == 202
    assert response.json() == {"message": "202 Accepted"}
    assert client.projects.get(project.id).marked_for_deletion_on is not None
    with pytest.raises(glexc.GitlabCreateError) as taken:
        client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    assert taken.value.error_message["path"] == ["has already been taken"]
    final = api(gitlab, "DELETE", f"/projects/{project.id}", params={"permanently_remove": "true", "full_path": "pemko/disdik/app"})
    assert final.status_code == 202
    assert api(gitlab, "GET", f"/projects/{project.id}").status_code == 404
    client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})


def test_renamed_project_answers_301_to_the_new_path(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    project = client.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    project.path = "app2"
    project.save()
    moved = api(gitlab, "GET", "/projects/pemko%2Fdisdik%2Fapp", allow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith("/api/v4/projects/pemko%2Fdisdik%2Fapp2")
    assert client.projects.get("pemko/disdik/app").id == project.id  # GET follows the redirect


def test_developer_cannot_create_projects_in_a_group(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    gitlab.create_user("dev")
    gitlab.set_member("pemko/disdik", "dev", 30)
    dev = gitlab.client(gitlab.create_token("dev"))
    with pytest.raises(glexc.GitlabCreateError) as caught:
        dev.projects.create({"name": "App", "path": "app", "namespace_id": opd.id})
    assert caught.value.response_code == 400
    assert caught.value.error_message == {"namespace": ["is not valid"]}


def test_namespaces_by_path(gitlab: GitLabEmulator) -> None:
    _, opd = _tree(gitlab)
    client = gitlab.client()
    assert client.namespaces.get("pemko/disdik").id == opd.id
    assert client.namespaces.get("pemko/disdik").kind == "group"
    assert client.namespaces.get("root").kind == "user"
    assert api(gitlab, "GET", "/namespaces/pemko%2Fnope").json() == {"message": "404 Namespace Not Found"}


def test_unknown_namespace_is_400_namespace_is_not_valid(gitlab: GitLabEmulator) -> None:
    response = api(gitlab, "POST", "/projects", json={"name": "App", "namespace_id": 9999})
    assert response.status_code == 400
    assert response.json() == {"message": {"namespace": ["is not valid"]}}


def test_racing_creators_get_one_201_and_taken_for_the_rest(gitlab: GitLabEmulator) -> None:
    import threading

    _, opd = _tree(gitlab)
    statuses: list[int] = []

    def create() -> None:
        response = api(gitlab, "POST", "/projects", json={"name": "App", "path": "app", "namespace_id": opd.id,
                                                          "initialize_with_readme": True})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 400, 400, 400, 400, 400]
    assert len(gitlab.client().groups.get(opd.id).projects.list(get_all=True)) == 1


def test_subgroup_needs_maintainer_on_the_parent_and_group_members_api(gitlab: GitLabEmulator) -> None:
    root, _ = _tree(gitlab)
    dev = gitlab.create_user("dev")
    client = gitlab.client()
    client.groups.get(root.id).members.create({"user_id": dev.id, "access_level": 30})
    as_dev = gitlab.client(gitlab.create_token("dev"))
    with pytest.raises(glexc.GitlabCreateError) as caught:
        as_dev.groups.create({"name": "X", "path": "x", "parent_id": root.id})
    assert caught.value.response_code == 403
    member = client.groups.get(root.id).members.get(dev.id)
    member.access_level = MAINTAINER
    member.save()
    assert as_dev.groups.create({"name": "X", "path": "x", "parent_id": root.id}).full_path == "pemko/x"
    assert {m.username for m in client.groups.get("pemko/disdik").members_all.list(get_all=True)} >= {"dev", "root"}


def test_gitlab_policy_mode_keeps_settings_writable_when_archived(gitlab: GitLabEmulator) -> None:
    gitlab.settings.archived_blocks_settings = False  # the fixture's reset() restores it
    gitlab.create_group("pemko")
    gitlab.create_project("pemko/app")
    gitlab.archive_project("pemko/app")
    gitlab.create_user("dev")
    project = gitlab.client().projects.get("pemko/app")
    project.members.create({"username": "dev", "access_level": 30})
    project.description = "still editable"
    project.save()
    with pytest.raises(glexc.GitlabCreateError) as code:
        project.files.create({"file_path": "x", "branch": "main", "content": "x", "commit_message": "x"})
    assert code.value.response_code == 403
    gitlab.reset()
    assert gitlab.settings.archived_blocks_settings is True
