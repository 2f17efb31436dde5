"""Members: add by id or username, conflicts, inherited members, levels, and reading every page."""

from __future__ import annotations

import gitlab.exceptions as glexc
import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator
from devstack.gitlab_emulator.models import DEVELOPER, MAINTAINER, REPORTER

from .testing import api


@pytest.fixture
def project(gitlab: GitLabEmulator):  # noqa: ANN201 - a python-gitlab Project
    gitlab.create_group("pemko")
    gitlab.create_group("disdik", parent="pemko")
    gitlab.create_project("pemko/disdik/app")
    return gitlab.client().projects.get("pemko/disdik/app")


def test_add_by_user_id_and_by_username(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    budi = gitlab.create_user("budi")
    gitlab.create_user("sari")
    by_id = project.members.create({"user_id": budi.id, "access_level": DEVELOPER})
    by_name = project.members.create({"username": "sari", "access_level": REPORTER, "expires_at": "2030-01-31"})
    assert by_id.username == "budi" and by_id.access_level == DEVELOPER
    assert by_name.username == "sari" and by_name.expires_at == "2030-01-31"
    assert project.members.get(budi.id).access_level == DEVELOPER


def test_existing_member_is_409_and_unknown_user_404(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    budi = gitlab.create_user("budi")
    project.members.create({"user_id": budi.id, "access_level": DEVELOPER})
    with pytest.raises(glexc.GitlabCreateError) as again:
        project.members.create({"user_id": budi.id, "access_level": MAINTAINER})
    assert again.value.response_code == 409
    assert again.value.error_message == "Member already exists"
    with pytest.raises(glexc.GitlabCreateError) as unknown:
        project.members.create({"username": "nobody", "access_level": DEVELOPER})
    assert unknown.value.response_code == 404
    assert unknown.value.error_message == "404 User Not Found"


def test_edit_and_remove_member(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    budi = gitlab.create_user("budi")
    member = project.members.create({"user_id": budi.id, "access_level": DEVELOPER})
    member.access_level = MAINTAINER
    member.save()
    assert project.members.get(budi.id).access_level == MAINTAINER
    project.members.delete(budi.id)
    with pytest.raises(glexc.GitlabGetError) as gone:
        project.members.get(budi.id)
    assert gone.value.response_code == 404
    assert api(gitlab, "DELETE", f"/projects/{project.id}/members/{budi.id}").status_code == 404


def test_members_all_includes_inherited_group_members(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    gitlab.create_user("lead")
    gitlab.create_user("dev")
    gitlab.set_member("pemko", "lead", MAINTAINER)
    dev = gitlab.client().users.list(username="dev")[0]
    project.members.create({"user_id": dev.id, "access_level": DEVELOPER})
    direct = {m.username for m in project.members.list(get_all=True)}
    everyone = {m.username: m.access_level for m in project.members_all.list(get_all=True)}
    assert direct == {"dev"}
    assert everyone["lead"] == MAINTAINER
    assert everyone["dev"] == DEVELOPER


def test_lower_level_than_inherited_is_refused(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    lead = gitlab.create_user("lead")
    gitlab.set_member("pemko", "lead", MAINTAINER)
    with pytest.raises(glexc.GitlabCreateError) as caught:
        project.members.create({"user_id": lead.id, "access_level": DEVELOPER})
    assert caught.value.response_code == 400
    assert caught.value.error_message == {
        "access_level": ["should be greater than or equal to Maintainer inherited membership from group pemko"]
    }


def test_developer_cannot_manage_members(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    gitlab.create_user("dev")
    other = gitlab.create_user("other")
    gitlab.set_member("pemko/disdik/app", "dev", DEVELOPER)
    as_dev = gitlab.client(gitlab.create_token("dev")).projects.get(project.id)
    with pytest.raises(glexc.GitlabCreateError) as caught:
        as_dev.members.create({"user_id": other.id, "access_level": DEVELOPER})
    assert caught.value.response_code == 403


def test_one_page_by_default_every_page_with_get_all(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    for i in range(45):
        gitlab.set_member("pemko/disdik/app", gitlab.create_user(f"user{i:02d}").username, DEVELOPER)
    first_page = project.members.list(get_all=False)
    assert len(first_page) == 20
    everyone = project.members.list(get_all=True)
    assert len(everyone) == 45
    assert len({m.id for m in everyone}) == 45
    assert len(project.members.list(per_page=100)) == 45
    lazy = project.members.list(iterator=True)
    assert lazy.total == 45 and lazy.total_pages == 3
    assert sum(1 for _ in lazy) == 45
