"""Clone over SSH with deploy keys through the emulator's sshd, the way GitLab Shell restricts them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack.gitlab_emulator.emulator import GitLabEmulator

from .testing import git, make_key, ssh_env


@pytest.fixture
def project(gitlab: GitLabEmulator):  # noqa: ANN201 - a python-gitlab Project
    gitlab.create_group("pemko")
    group = gitlab.client().groups.get("pemko")
    return gitlab.client().projects.create({"name": "App", "path": "app", "namespace_id": group.id, "initialize_with_readme": True})


def _commit(work: Path, name: str) -> None:
    (work / name).write_text(name)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"add {name}", cwd=work)


def test_read_only_deploy_key_clones_with_a_pinned_host_key(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    key, public = make_key(tmp_path, "kominfo")
    project.keys.create({"title": "Kominfo server", "key": public, "can_push": False})
    env = ssh_env(gitlab, key, tmp_path)
    assert project.ssh_url_to_repo == gitlab.ssh_clone_url("pemko/app")
    git("clone", "-q", project.ssh_url_to_repo, str(tmp_path / "w"), env=env)
    assert (tmp_path / "w" / "README.md").read_text().startswith("# App")
    _commit(tmp_path / "w", "x.txt")
    refused = git("push", "origin", "HEAD:refs/heads/x", cwd=tmp_path / "w", env=env, check=False)
    assert refused.returncode != 0
    assert "deploy key does not have write access" in refused.stderr


def test_wrong_host_key_is_refused(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    key, public = make_key(tmp_path, "kominfo")
    project.keys.create({"title": "Kominfo", "key": public})
    _, impostor = make_key(tmp_path, "impostor")
    env = ssh_env(gitlab, key, tmp_path)
    pinned = tmp_path / "known_hosts"
    host, _, _ = gitlab.ssh_known_hosts.partition(" ")
    pinned.write_text(f"{host} {' '.join(impostor.split()[:2])}\n")
    result = git("clone", "-q", gitlab.ssh_clone_url("pemko/app"), str(tmp_path / "w"), env=env, check=False)
    assert result.returncode != 0
    assert "Host key verification failed" in result.stderr or "HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_key_not_enabled_for_the_project_sees_nothing(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    key, public = make_key(tmp_path, "kominfo")
    other = gitlab.client().projects.create({"name": "Other", "path": "other", "initialize_with_readme": True})
    other.keys.create({"title": "only other", "key": public})
    env = ssh_env(gitlab, key, tmp_path)
    git("clone", "-q", gitlab.ssh_clone_url("root/other"), str(tmp_path / "ok"), env=env)
    denied = git("clone", "-q", gitlab.ssh_clone_url("pemko/app"), str(tmp_path / "no"), env=env, check=False)
    assert denied.returncode != 0
    assert "could not be found" in denied.stderr


def test_unknown_key_cannot_log_in(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    key, _ = make_key(tmp_path, "unknown")
    result = git("clone", "-q", gitlab.ssh_clone_url("pemko/app"), str(tmp_path / "w"), env=ssh_env(gitlab, key, tmp_path), check=False)
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


def test_forced_command_refuses_a_shell(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    key, public = make_key(tmp_path, "kominfo")
    project.keys.create({"title": "Kominfo", "key": public})
    ssh = ssh_env(gitlab, key, tmp_path)["GIT_SSH_COMMAND"].split()
    assert gitlab.ssh is not None
    result = subprocess.run(ssh + ["-p", str(gitlab.ssh.port), f"{gitlab.ssh.user}@127.0.0.1", "cat /etc/hostname"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "Disallowed command" in result.stderr


def test_removed_key_loses_access(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    key, public = make_key(tmp_path, "kominfo")
    created = project.keys.create({"title": "Kominfo", "key": public})
    env = ssh_env(gitlab, key, tmp_path)
    git("ls-remote", gitlab.ssh_clone_url("pemko/app"), env=env)
    project.keys.delete(created.id)
    assert git("ls-remote", gitlab.ssh_clone_url("pemko/app"), env=env, check=False).returncode != 0


def test_push_key_pushes_branches_but_not_the_protected_default(gitlab: GitLabEmulator, project, tmp_path: Path) -> None:  # noqa: ANN001
    key, public = make_key(tmp_path, "ci")
    project.keys.create({"title": "CI", "key": public, "can_push": True})
    env = ssh_env(gitlab, key, tmp_path)
    work = tmp_path / "w"
    git("clone", "-q", gitlab.ssh_clone_url("pemko/app"), str(work), env=env)
    _commit(work, "build.txt")
    git("push", "-q", "origin", "HEAD:refs/heads/build", cwd=work, env=env)
    assert gitlab.read_file("pemko/app", "build.txt", ref="build") == b"build.txt"
    refused = git("push", "origin", "HEAD:main", cwd=work, env=env, check=False)
    assert refused.returncode != 0
    assert gitlab.read_file("pemko/app", "build.txt", ref="main") is None
