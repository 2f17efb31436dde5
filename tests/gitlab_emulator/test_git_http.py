"""Clone and push over smart HTTP with tokens; GitLab's access and protected-branch rules on push."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator
from devstack.gitlab_emulator.models import DEVELOPER, MAINTAINER, REPORTER

from .testing import git


@pytest.fixture
def project(gitlab: GitLabEmulator):  # noqa: ANN201 - a python-gitlab Project
    gitlab.create_group("pemko")
    group = gitlab.client().groups.get("pemko")
    return gitlab.client().projects.create({"name": "App", "path": "app", "namespace_id": group.id, "initialize_with_readme": True})


def _member_token(gitlab: GitLabEmulator, username: str, level: int, scopes: tuple[str, ...] = ("api",)) -> str:
    gitlab.create_user(username)
    gitlab.set_member("pemko/app", username, level)
    return gitlab.create_token(username, scopes=scopes)


def _commit(work: Path, name: str) -> None:
    (work / name).write_text(name)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"add {name}", cwd=work)


def test_clone_with_oauth2_and_any_username(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    git("clone", "-q", gitlab.http_clone_url("pemko/app", gitlab.root_token), str(tmp_path / "a"))
    assert (tmp_path / "a" / "README.md").read_text().startswith("# App")
    git("clone", "-q", gitlab.http_clone_url("pemko/app", gitlab.root_token, username="anything"), str(tmp_path / "b"))
    assert (tmp_path / "b" / "README.md").exists()
    git("clone", "-q", gitlab.http_clone_url("pemko/app", gitlab.root_token).removesuffix(".git"), str(tmp_path / "c"))
    assert (tmp_path / "c" / "README.md").exists()


def test_clone_without_or_with_a_bad_token_fails(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    anonymous = git("clone", "-q", gitlab.http_clone_url("pemko/app"), str(tmp_path / "a"), check=False)
    assert anonymous.returncode != 0
    bad = git("clone", "-q", gitlab.http_clone_url("pemko/app", "glpat-wrong"), str(tmp_path / "b"), check=False)
    assert bad.returncode != 0
    assert "Authentication failed" in bad.stderr or "401" in bad.stderr


def test_non_member_gets_not_found(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    gitlab.create_user("stranger")
    token = gitlab.create_token("stranger")
    result = git("clone", "-q", gitlab.http_clone_url("pemko/app", token), str(tmp_path / "a"), check=False)
    assert result.returncode != 0
    assert "could not be found" in result.stderr or "not found" in result.stderr.lower()


def test_developer_pushes_a_branch_but_not_the_protected_default(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    token = _member_token(gitlab, "dev", DEVELOPER)
    work = tmp_path / "w"
    git("clone", "-q", gitlab.http_clone_url("pemko/app", token), str(work))
    _commit(work, "fitur.txt")
    git("push", "-q", "origin", "HEAD:refs/heads/fitur", cwd=work)
    assert gitlab.read_file("pemko/app", "fitur.txt", ref="fitur") == b"fitur.txt"
    refused = git("push", "origin", "HEAD:main", cwd=work, check=False)
    assert refused.returncode != 0
    assert "You are not allowed to push into this branch" in refused.stderr
    assert gitlab.read_file("pemko/app", "fitur.txt", ref="main") is None


def test_maintainer_pushes_main_but_cannot_force_push(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    token = _member_token(gitlab, "lead", MAINTAINER)
    work = tmp_path / "w"
    git("clone", "-q", gitlab.http_clone_url("pemko/app", token), str(work))
    _commit(work, "app.php")
    git("push", "-q", "origin", "main", cwd=work)
    assert gitlab.read_file("pemko/app", "app.php") == b"app.php"
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    _commit(work, "rewrite.txt")
    forced = git("push", "--force", "origin", "main", cwd=work, check=False)
    assert forced.returncode != 0
    assert "force push" in forced.stderr
    assert gitlab.read_file("pemko/app", "app.php") == b"app.php"


def test_reporter_and_read_only_token_cannot_push(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    reporter = _member_token(gitlab, "rep", REPORTER)
    work = tmp_path / "w"
    git("clone", "-q", gitlab.http_clone_url("pemko/app", reporter), str(work))
    _commit(work, "x.txt")
    refused = git("push", "origin", "HEAD:refs/heads/x", cwd=work, check=False)
    assert refused.returncode != 0
    assert "not allowed to push" in refused.stderr
    read_only = _member_token(gitlab, "dev", DEVELOPER, scopes=("read_repository",))
    git("remote", "set-url", "origin", gitlab.http_clone_url("pemko/app", read_only), cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    assert git("push", "origin", "HEAD:refs/heads/x", cwd=work, check=False).returncode != 0
    assert "x" not in gitlab.app.repos.branches(project.id)


def test_push_to_an_archived_project_is_refused(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    work = tmp_path / "w"
    git("clone", "-q", gitlab.http_clone_url("pemko/app", gitlab.root_token), str(work))
    gitlab.archive_project("pemko/app")
    _commit(work, "late.txt")
    refused = git("push", "origin", "HEAD:refs/heads/late", cwd=work, check=False)
    assert refused.returncode != 0
    assert "archived" in refused.stderr


def test_first_push_to_an_empty_project_sets_and_protects_the_default_branch(gitlab: GitLabEmulator, tmp_path: Path) -> None:
    empty = gitlab.client().projects.create({"name": "Empty", "path": "empty"})
    work = tmp_path / "w"
    git("init", "-q", "-b", "trunk", str(work))
    _commit(work, "index.php")
    git("push", "-q", gitlab.http_clone_url("root/empty", gitlab.root_token), "trunk", cwd=work)
    fresh = gitlab.client().projects.get(empty.id)
    assert fresh.default_branch == "trunk"
    assert fresh.empty_repo is False
    assert [b.name for b in fresh.protectedbranches.list()] == ["trunk"]
    assert fresh.files.get("index.php", ref="trunk").decode() == b"index.php"


def test_large_push_goes_through_chunked_transfer(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    import os

    work = tmp_path / "w"
    git("clone", "-q", gitlab.http_clone_url("pemko/app", gitlab.root_token), str(work))
    payload = os.urandom(3_000_000)  # above git's 1 MiB http.postBuffer: the push body is chunked
    (work / "vendor.bin").write_bytes(payload)
    git("add", "vendor.bin", cwd=work)
    git("commit", "-q", "-m", "vendor", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/vendor", cwd=work)
    assert gitlab.read_file("pemko/app", "vendor.bin", ref="vendor") == payload


def test_blocked_user_cannot_clone(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    token = _member_token(gitlab, "dev", DEVELOPER)
    git("ls-remote", gitlab.http_clone_url("pemko/app", token))
    gitlab.block_user("dev")
    assert git("ls-remote", gitlab.http_clone_url("pemko/app", token), check=False).returncode != 0
