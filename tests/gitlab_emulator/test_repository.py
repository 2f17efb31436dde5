"""Repository files, commits, branches and tree: real commits in a bare repository."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import threading

import gitlab.exceptions as glexc
import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator
from devstack.gitlab_emulator.git_store import FileAction, RefUpdateRace
from devstack.gitlab_emulator.models import DEVELOPER

from .testing import api


@pytest.fixture
def project(gitlab: GitLabEmulator):  # noqa: ANN201 - a python-gitlab Project
    return gitlab.client().projects.create({"name": "App", "path": "app", "initialize_with_readme": True})


def _new_file(project, path: str, content: str, **extra: str):  # noqa: ANN001, ANN202
    return project.files.create({"file_path": path, "branch": "main", "content": content, "commit_message": f"add {path}", **extra})


def test_file_create_is_a_real_commit(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    _new_file(project, "docs/panduan-instalasi.md", "# Panduan\n")
    repo = gitlab.repository_path(project.path_with_namespace)
    log = subprocess.run(["git", "--git-dir", repo, "log", "--format=%s", "main"], capture_output=True, text=True, check=True)
    assert log.stdout.splitlines() == ["add docs/panduan-instalasi.md", "Initial commit"]
    shown = subprocess.run(["git", "--git-dir", repo, "show", "main:docs/panduan-instalasi.md"], capture_output=True, text=True, check=True)
    assert shown.stdout == "# Panduan\n"


def test_file_get_returns_base64_and_hashes(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    _new_file(project, "a.txt", "halo\n")
    head = project.branches.get("main").commit["id"]
    f = project.files.get("a.txt", ref="main")
    assert base64.b64decode(f.content) == b"halo\n"
    assert f.encoding == "base64"
    assert f.content_sha256 == hashlib.sha256(b"halo\n").hexdigest()
    blob = subprocess.run(["git", "hash-object", "--stdin"], input=b"halo\n", capture_output=True, check=True).stdout.decode().strip()
    assert f.blob_id == blob
    assert f.last_commit_id == head
    _new_file(project, "b.txt", "other")
    again = project.files.get("a.txt", ref="main")
    assert again.last_commit_id == head  # the last commit that touched a.txt
    assert again.commit_id != head


def test_file_get_needs_ref_and_404s(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    no_ref = api(gitlab, "GET", f"/projects/{project.id}/repository/files/README.md")
    assert no_ref.status_code == 400
    assert no_ref.json() == {"error": "ref is missing"}
    missing = api(gitlab, "GET", f"/projects/{project.id}/repository/files/nope.md", params={"ref": "main"})
    assert missing.status_code == 404
    assert missing.json() == {"message": "404 File Not Found"}
    unencoded = api(gitlab, "GET", f"/projects/{project.id}/repository/files/docs/x.md", params={"ref": "main"})
    assert unencoded.status_code == 404


def test_existing_file_is_400_and_update_replaces_content(project) -> None:  # noqa: ANN001
    _new_file(project, "a.txt", "one")
    with pytest.raises(glexc.GitlabCreateError) as caught:
        _new_file(project, "a.txt", "two")
    assert caught.value.response_code == 400
    assert caught.value.error_message == "A file with this name already exists"
    f = project.files.get("a.txt", ref="main")
    f.content = base64.b64encode(b"two").decode()
    f.encoding = "base64"
    f.save(branch="main", commit_message="update a.txt")
    assert project.files.get("a.txt", ref="main").decode() == b"two"
    assert project.commits.list(ref_name="main", get_all=False)[0].title == "update a.txt"


def test_update_of_missing_file_is_400(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    response = api(gitlab, "PUT", f"/projects/{project.id}/repository/files/nope.txt",
                   json={"branch": "main", "content": "x", "commit_message": "x"})
    assert response.status_code == 400
    assert response.json() == {"message": "A file with this name doesn't exist"}


def test_multi_file_commit(project) -> None:  # noqa: ANN001
    commit = project.commits.create({
        "branch": "main",
        "commit_message": "seed",
        "actions": [
            {"action": "create", "file_path": "docs/a.md", "content": "a"},
            {"action": "create", "file_path": ".gitlab-ci.yml", "content": "stages: [deploy]\n"},
            {"action": "update", "file_path": "README.md", "content": "# App\n"},
        ],
    })
    assert commit.title == "seed"
    paths = {t["path"] for t in project.repository_tree(recursive=True, get_all=True)}
    assert {"docs", "docs/a.md", ".gitlab-ci.yml", "README.md"} <= paths


def test_developer_cannot_write_to_the_protected_default_branch(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    gitlab.create_user("dev")
    gitlab.set_member(project.path_with_namespace, "dev", DEVELOPER)
    as_dev = gitlab.client(gitlab.create_token("dev")).projects.get(project.id)
    with pytest.raises(glexc.GitlabCreateError) as caught:
        _new_file(as_dev, "x.txt", "x")
    assert caught.value.response_code == 403
    as_dev.branches.create({"branch": "fitur", "ref": "main"})
    as_dev.files.create({"file_path": "x.txt", "branch": "fitur", "content": "x", "commit_message": "x"})
    assert as_dev.files.get("x.txt", ref="fitur").decode() == b"x"


def test_branches_create_get_list(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    created = project.branches.create({"branch": "develop", "ref": "main"})
    assert created.commit["id"] == project.branches.get("main").commit["id"]
    assert {b.name for b in project.branches.list(get_all=True)} == {"main", "develop"}
    main = project.branches.get("main")
    assert main.protected is True and main.default is True
    with pytest.raises(glexc.GitlabCreateError) as again:
        project.branches.create({"branch": "develop", "ref": "main"})
    assert again.value.error_message == "Branch already exists"
    with pytest.raises(glexc.GitlabGetError) as missing:
        project.branches.get("nope")
    assert missing.value.error_message == "404 Branch Not Found"


def test_stale_parent_fails_like_gitlab(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    repos = gitlab.app.repos
    parent = repos.branches(project.id)["main"]
    repos.commit_actions(project.id, "main", parent, [FileAction("create", "one.txt", b"1")], "first", "a", "a@x")
    with pytest.raises(RefUpdateRace) as caught:
        repos.commit_actions(project.id, "main", parent, [FileAction("create", "two.txt", b"2")], "second", "a", "a@x")
    assert str(caught.value) == "Could not update refs/heads/main. Please refresh and try again"


def test_parallel_file_writes_lose_nothing(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    results: dict[str, int] = {}
    bodies: dict[str, object] = {}

    def write(name: str) -> None:
        response = api(gitlab, "POST", f"/projects/{project.id}/repository/files/{name}",
                       json={"branch": "main", "content": name, "commit_message": name})
        results[name] = response.status_code
        bodies[name] = response.json()

    threads = [threading.Thread(target=write, args=(f"f{i}.txt",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    landed = {t["path"] for t in project.repository_tree(get_all=True)}
    for name, status in results.items():
        if status == 201:
            assert name in landed
        else:
            assert status == 400
            assert bodies[name] == {"message": "Could not update refs/heads/main. Please refresh and try again"}
            assert name not in landed
    assert len(results) == 8
    assert 201 in results.values()


def test_raw_file_and_head_headers(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    _new_file(project, "docs/x.md", "isi\n")
    assert project.files.raw("docs/x.md", ref="main") == b"isi\n"
    head = api(gitlab, "HEAD", f"/projects/{project.id}/repository/files/docs%2Fx.md", params={"ref": "main"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["X-Gitlab-File-Path"] == "docs/x.md"
    assert head.headers["X-Gitlab-Content-Sha256"] == hashlib.sha256(b"isi\n").hexdigest()
    assert head.headers["X-Gitlab-Last-Commit-Id"] == project.branches.get("main").commit["id"]


def test_delete_file_and_commit_with_delete_action(gitlab: GitLabEmulator, project) -> None:  # noqa: ANN001
    _new_file(project, "a.txt", "a")
    _new_file(project, "b.txt", "b")
    project.files.delete(file_path="a.txt", branch="main", commit_message="remove a")
    assert gitlab.read_file(project.path_with_namespace, "a.txt") is None
    project.commits.create({"branch": "main", "commit_message": "swap",
                            "actions": [{"action": "delete", "file_path": "b.txt"},
                                        {"action": "create", "file_path": "c.txt", "content": "Yw==", "encoding": "base64"}]})
    names = {t["path"] for t in project.repository_tree(get_all=True)}
    assert names == {"README.md", "c.txt"}
    assert gitlab.read_file(project.path_with_namespace, "c.txt") == b"c"
    missing = api(gitlab, "DELETE", f"/projects/{project.id}/repository/files/a.txt", json={"branch": "main", "commit_message": "x"})
    assert missing.status_code == 400
    assert missing.json() == {"message": "A file with this name doesn't exist"}
