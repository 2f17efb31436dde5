"""GitLab checks against the emulator: a project as recorded passes; an unprotected
branch, an archived project, a removed member, a removed deploy key and a missing
project are each reported against their request; an archive made by the toolkit is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.gitlab_emulator import GitLabEmulator
from tests.checks.env import by, open_request, problems, register, spec_dict, write_config
from tests.gitlab.cli_env import setup_emulator
from tests.helpers import run_cli

MEMBERS = [{"username": "budi.dev", "role": "developer"}, {"username": "siti_lead", "role": "maintainer"}]
PATH = "pemko-batam/disdik/{slug}"


@pytest.fixture
def repos(provision_home: Path, gitlab: GitLabEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    token, _ = setup_emulator(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    write_config(provision_home, gitlab={"url": gitlab.url, "root_group": "pemko-batam", "team": ["kominfo.ops"],
                                         "deploy_key_file": str(provision_home / "kominfo.pub"),
                                         "max_retries": 1, "timeout": 5})
    rids = {}
    for slug in ("sisekolah", "siperpus"):
        rid = open_request(provision_home, spec_dict(slug, members=MEMBERS))
        r = run_cli("repo", "apply", rid, "--yes")
        assert r.exit_code == 0, r
        register(rid, "web1", f"{slug}.batam.test")
        rids[slug] = rid
    return rids


def check() -> tuple[int, list[dict], str]:
    r = run_cli("check", "--only", "gitlab", "--json")
    assert r.exit_code in (0, 3), r
    return r.exit_code, r.json["results"], r.stderr


def test_projects_as_recorded_pass(repos: dict[str, str]) -> None:
    code, results, err = check()
    assert code == 0 and err == "", problems(results)
    for slug, rid in repos.items():
        mine = {r["name"]: r for r in by(results, request=rid)}
        assert set(mine) == {"project", "default branch", "default branch protected", "CI configuration path",
                             "release tags protected", "deploy key", "members", "CI/CD variables"}
        assert mine["CI configuration path"]["message"] == "install.yml@pemko-batam/ops/ci"
        assert mine["release tags protected"]["message"] == "v*: created by maintainer"
        assert mine["project"]["message"] == f"{PATH.format(slug=slug)} exists"
        assert mine["members"]["message"] == "3 members as recorded"
        assert mine["default branch protected"]["message"] == "main: maintainers only, no force push"
    # No runner is registered: the runner check says so, as a warning against no one request.
    assert [(r["status"], r["request"], r["message"]) for r in by(results, name="installing runner")] == \
        [("warn", None, "no runner tagged kominfo-provision is visible to pemko-batam/disdik/siperpus, "
                        "pemko-batam/disdik/sisekolah")]


def test_each_drift_reported_against_its_request(repos: dict[str, str], gitlab: GitLabEmulator) -> None:
    a, b = repos["sisekolah"], repos["siperpus"]
    pa, pb = PATH.format(slug="sisekolah"), PATH.format(slug="siperpus")
    gitlab.unprotect_branch(pa, "main")
    gitlab.set_member(pa, "budi.dev", None)
    project = gitlab.client().projects.get(pa)
    for key in project.keys.list(get_all=True):
        project.keys.delete(key.id)
    gitlab.archive_project(pb)
    code, results, err = check()
    assert code == 3 and "4 of " in err and "checks failed" in err
    assert problems(results) == sorted([("fail", a, "gitlab", "default branch protected"),
                                        ("fail", a, "gitlab", "members"), ("fail", a, "gitlab", "deploy key"),
                                        ("fail", b, "gitlab", "project"),
                                        ("warn", None, "gitlab", "installing runner")])
    assert by(results, request=a, name="default branch protected")[0]["message"] == "branch main is not protected"
    assert by(results, request=a, name="members")[0]["message"] == "budi.dev is not a member, expected developer"
    assert by(results, request=a, name="deploy key")[0]["message"].startswith("SHA256:")
    assert by(results, request=a, name="deploy key")[0]["message"].endswith(" is missing")
    assert by(results, request=b, name="project")[0]["message"] == (
        f"the GitLab project {pb} is archived; GitLab refuses every change to it but the records say it is active")
    events = run_cli("audit", "log", b, "--json").json
    assert any(e["provider"] == "check" and e["outcome"] == "failed" and "archived" in (e["reason"] or "")
               for e in events)
    history = run_cli("check", "history", "--request", a, "--failures")
    assert history.exit_code == 0 and "branch main is not protected" in history.stdout, history


def test_archive_by_the_toolkit_is_expected_and_a_missing_project_is_not(
        repos: dict[str, str], gitlab: GitLabEmulator) -> None:
    a, b = repos["sisekolah"], repos["siperpus"]
    r = run_cli("repo", "archive", b, "--yes")
    assert r.exit_code == 0, r
    gitlab.client().projects.delete(PATH.format(slug="sisekolah"))
    gitlab.purge_deleted()
    code, results, _ = check()
    assert code == 3
    assert by(results, request=b, name="project")[0]["status"] == "pass"
    assert by(results, request=b, name="project")[0]["message"] == f"{PATH.format(slug='siperpus')} is archived, as recorded"
    [gone] = by(results, request=a)
    assert (gone["status"], gone["name"]) == ("fail", "project")
    assert gone["message"] == f"{PATH.format(slug='sisekolah')} does not exist on GitLab"


def test_gitlab_down_is_reported_for_every_request(repos: dict[str, str], gitlab: GitLabEmulator) -> None:
    gitlab.stop()
    try:
        code, results, err = check()
    finally:
        gitlab.start()
    assert code == 3
    # One project result per request, and the runner check (it names every request) per request.
    assert sorted(r["request"] for r in results) == sorted(list(repos.values()) * 2)
    assert all(r["status"] == "fail" and "could not be reached" in r["message"] for r in results), results


def test_a_project_key_removed_or_lost_is_reported(provision_home: Path, gitlab: GitLabEmulator,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from provision import deploy_keys
    from provision.gitlab.desired import fingerprint

    token, _ = setup_emulator(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    write_config(provision_home, gitlab={"url": gitlab.url, "root_group": "pemko-batam", "team": ["kominfo.ops"],
                                         "max_retries": 1, "timeout": 5})  # each project its own key
    rid = open_request(provision_home, spec_dict("sisekolah", members=MEMBERS))
    assert run_cli("repo", "apply", rid, "--yes").exit_code == 0
    register(rid, "web1", "sisekolah.batam.test")
    code, results, _ = check()
    assert by(results, request=rid, name="deploy key")[0]["status"] == "pass"
    own = deploy_keys.public_key(provision_home / "state", rid)
    project = gitlab.client().projects.get(PATH.format(slug="sisekolah"))
    for key in project.keys.list(get_all=True):
        project.keys.delete(key.id)
    code, results, _ = check()
    assert code == 3
    assert by(results, request=rid, name="deploy key")[0]["message"] == f"{fingerprint(own)} is missing"
    shutil.rmtree(provision_home / "state" / "deploy-keys" / rid)  # the controller lost it
    code, results, _ = check()
    assert code == 3
    assert by(results, request=rid, name="deploy key")[0]["message"] == \
        "the project has no deploy key of its own yet (`provision repo apply` makes it)"
    assert not (provision_home / "state" / "deploy-keys" / rid).exists()  # a check makes no key
