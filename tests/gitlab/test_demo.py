"""The main job end to end: apply, the developer pushes a sample app over HTTP with a
token, and the Kominfo server clones the release tag over SSH with the read-only deploy key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from devstack.demo_push import push_sample_app
from devstack.gitlab_emulator import GitLabEmulator
from provision.errors import ProviderError
from tests.gitlab_emulator.testing import git, ssh_env
from tests.helpers import run_cli

from .cli_env import Env, apply, setup_emulator

PATH = "pemko-batam/disdik/sisekolah"


@pytest.fixture
def env(gitlab: GitLabEmulator, provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    token, key = setup_emulator(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    e = Env(provision_home, gitlab, token, key)
    e.config()
    return e


def test_developer_pushes_and_the_server_clones_the_tag_with_the_deploy_key(env: Env, tmp_path: Path) -> None:
    rid = env.open_request()
    assert apply(rid).exit_code == 0
    info = run_cli("repo", "show", rid, "--json").json
    dev_token = env.emulator.create_token("budi.dev", ["write_repository"], name="laptop")
    # Release tags (v*) are protected: the developer may push a branch but not tag a release ...
    with pytest.raises(ProviderError, match="not allowed to create this tag as it is protected"):
        push_sample_app(info["http_url"], dev_token)
    assert env.emulator.pipelines == []  # the refused push created nothing
    # ... a maintainer of the project does.
    lead_token = env.emulator.create_token("siti_lead", ["write_repository"], name="laptop")
    sha = push_sample_app(info["http_url"], lead_token)
    assert len(sha) == 40
    tag_pipeline = [p for p in env.emulator.pipelines if p.tag]
    assert [(p.ref, p.protected, p.config_project, p.config_file) for p in tag_pipeline] == \
        [("v1.0.0", True, "pemko-batam/ops/ci", "install.yml")]
    clone = tmp_path / "release"
    ssh = ssh_env(env.emulator, env.home / "kominfo", tmp_path)
    git("clone", "--quiet", "--branch", "v1.0.0", env.emulator.ssh_clone_url(PATH), str(clone), env=ssh)
    assert "Selamat datang" in (clone / "public" / "index.php").read_text()
    assert (clone / "README.md").exists()  # the seed files are there too
    assert git("rev-parse", "HEAD^{commit}", cwd=clone).stdout.strip() == sha
    (clone / "x.txt").write_text("x")
    git("add", "x.txt", cwd=clone)
    git("commit", "-qm", "x", cwd=clone)
    pushed = git("push", "origin", "HEAD:refs/heads/hack", cwd=clone, env=ssh, check=False)
    assert pushed.returncode != 0  # the deploy key is read-only
    # The developer's changes to seeded files survive the next apply, which writes nothing.
    env.emulator.calls.reset()
    again = apply(rid)
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    assert env.emulator.calls.writes == 0


def test_a_developer_cannot_push_to_the_protected_default_branch(env: Env) -> None:
    rid = env.open_request()
    assert apply(rid).exit_code == 0
    dev_token = env.emulator.create_token("budi.dev", ["write_repository"], name="laptop")
    url = f"{env.emulator.url}/{PATH}.git"
    with pytest.raises(ProviderError, match="git push failed") as caught:
        push_sample_app(url, dev_token, branch="main", tag=None)
    assert "not allowed to push" in str(caught.value)
    assert b"Selamat datang" not in (env.emulator.read_file(PATH, "README.md") or b"")


def test_push_as_developer_for_the_sandbox(env: Env, tmp_path: Path) -> None:
    from devstack.demo_push import push_as_developer
    from provision.context import App

    rid = env.open_request()
    assert apply(rid).exit_code == 0
    sha = push_as_developer(App(), rid, env.emulator.root_token, username="siti_lead")  # a maintainer tags
    out = tmp_path / "check"
    # The token in a header, as the toolkit sends it: in the URL it would stay in .git/config.
    basic = base64.b64encode(f"oauth2:{env.emulator.root_token}".encode()).decode()
    header = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
              "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}
    git("clone", "--quiet", "--branch", "v1.0.0", f"{env.emulator.url}/{PATH}.git", str(out), env=header)
    assert git("rev-parse", "HEAD", cwd=out).stdout.strip() == sha
    assert git("log", "-1", "--format=%an", cwd=out).stdout.strip() == "Tim Pengembang OPD"


def test_each_project_key_clones_its_own_project_only_and_a_rotated_key_clones_nothing(env: Env, tmp_path: Path) -> None:
    import shutil

    env.config(deploy_key_file='""')  # each project its own key (provision/deploy_keys.py)
    a, b = env.open_request("sisekolah"), env.open_request("siperpus", opd="dishub")  # two OPDs
    for rid in (a, b):
        r = apply(rid)
        assert r.exit_code == 0, r
    keys = env.home / "state" / "deploy-keys"
    key_a, key_b = keys / a / "id_ed25519", keys / b / "id_ed25519"
    path_a, path_b = PATH, "pemko-batam/dishub/siperpus"

    def clone(key: Path, path: str) -> int:
        dest = tmp_path / f"clone-{len(list(tmp_path.glob('clone-*')))}"
        done = git("clone", "--quiet", env.emulator.ssh_clone_url(path), str(dest), check=False,
                   env=ssh_env(env.emulator, key, tmp_path))
        return done.returncode

    assert clone(key_a, path_a) == 0 and clone(key_b, path_b) == 0
    assert clone(key_a, path_b) != 0 and clone(key_b, path_a) != 0  # a project's key opens no other
    old_a = tmp_path / "old_a"
    shutil.copy2(key_a, old_a)
    r = run_cli("repo", "rotate-key", a, "--yes")
    assert r.exit_code == 0, r
    assert "the old one is removed from GitLab" in r.stdout
    assert clone(old_a, path_a) != 0  # revoked
    assert clone(key_a, path_a) == 0 and clone(key_b, path_b) == 0
