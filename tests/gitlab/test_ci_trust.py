"""The GitLab trust boundary of the install pipeline, against the emulator with real git
(docs/ci.md): a vendor with Maintainer rights cannot run their own code on the installing
runner, nor install another OPD's application. Each attempt and how it is stopped:

- their `.gitlab-ci.yml` never runs: the tag's pipeline is Kominfo's install.yml;
- a tag that is not protected, a branch, a forged or missing job token, a project variable
  overriding CI_PROJECT_PATH / CI_COMMIT_REF_PROTECTED / PROVISION_REQUEST: `provision install`
  refuses (exit 2) before anything is installed;
- a CI path or tag protection changed by hand: `provision check` reports it and
  `repo apply` plans it back.

The successful install through gitlab-ci-local is in tests/install/test_ci_pipeline.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.gitlab_emulator import GitLabEmulator
from provision.errors import ExitCode
from tests.gitlab.ci_env import EVIL_CI, OPS, Vendor, gitlab_config, last_pipeline, open_and_apply, prepare_gitlab
from tests.gitlab.cli_env import SPEC
from tests.helpers import run_cli

PATH = "pemko-batam/disdik/sisekolah"
OTHER = "pemko-batam/disdik/siperpus"


@pytest.fixture
def world(provision_home: Path, gitlab: GitLabEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    token = prepare_gitlab(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    (provision_home / "provision.toml").write_text(
        f'[general]\nstate_dir = "{provision_home / "state"}"\n' + gitlab_config(gitlab, provision_home))
    rid = open_and_apply(provision_home, "sisekolah", SPEC.format(slug="sisekolah"))
    other = open_and_apply(provision_home, "siperpus", SPEC.format(slug="siperpus").replace(
        "name: Sistem Informasi Sekolah", "name: Sistem Informasi Perpustakaan"))
    from tests.checks.env import register

    register(rid, "web1", "sisekolah.batam.test")
    register(other, "web1", "siperpus.batam.test")
    vendor = Vendor(gitlab, "siti_lead", provision_home / "work")
    vendor.clone(PATH)
    vendor.commit({"index.html": "<h1>Sekolah</h1>\n", ".gitlab-ci.yml": EVIL_CI})
    vendor.tag("v1.0.0")
    vendor.push("main", "v1.0.0")
    yield {"rid": rid, "other": other, "vendor": vendor, "emulator": gitlab}


def install(env: dict[str, str], *args: str) -> Any:
    return run_cli("install", *args, "--ref", env.get("CI_COMMIT_TAG", "v1.0.0"), "--env", "staging", "--yes",
                   "--dry-run", env=env)


def refused(r: Any, text: str) -> None:
    assert r.exit_code == ExitCode.USAGE, r
    assert "CI install refused: " in r.stderr and text in r.stderr, r.stderr


def test_the_vendors_ci_file_never_runs_kominfos_does(world: dict[str, Any]) -> None:
    emulator = world["emulator"]
    p = last_pipeline(emulator, "v1.0.0")
    assert (p.config_project, p.config_file, p.protected) == (OPS, "install.yml", True)
    assert "VENDOR-CODE-RAN" not in p.content and "provision install --ref" in p.content
    assert p.content == emulator.read_file(OPS, "install.yml").decode()
    # Their file is in their repository at the tag, and that is all it is.
    assert b"VENDOR-CODE-RAN" in emulator.read_file(PATH, ".gitlab-ci.yml", ref="v1.0.0")
    assert p.variables["CI_CONFIG_PATH"] == f"install.yml@{OPS}"
    assert p.variables["CI_PROJECT_PATH"] == PATH and p.variables["CI_COMMIT_REF_PROTECTED"] == "true"
    assert "PROVISION_REQUEST" in p.variables  # set by repo apply, for people: the install never reads it


def test_a_developer_cannot_create_a_release_tag(world: dict[str, Any], provision_home: Path) -> None:
    dev = Vendor(world["emulator"], "budi.dev", provision_home / "dev")
    dev.clone(PATH)
    dev.git("checkout", "-qb", "fitur")
    dev.commit({"fitur.txt": "x\n"})
    dev.tag("v9.9.9")
    r = dev.push("fitur", "v9.9.9", check=False)
    assert r.returncode != 0 and "You are not allowed to create this tag as it is protected" in r.stderr
    assert [p.ref for p in world["emulator"].pipelines if p.ref == "v9.9.9"] == []


def test_a_maintainer_cannot_move_or_delete_a_release_tag(world: dict[str, Any]) -> None:
    vendor = world["vendor"]
    vendor.commit({"index.html": "<h1>diganti</h1>\n"})
    vendor.git("tag", "-f", "-a", "v1.0.0", "-m", "dipindah")
    moved = vendor.git("push", "-q", "-f", "origin", "v1.0.0", check=False)
    assert moved.returncode != 0 and "not allowed to change existing tags" in moved.stderr
    deleted = vendor.git("push", "-q", "origin", ":refs/tags/v1.0.0", check=False)
    assert deleted.returncode != 0 and "not allowed to delete protected tags" in deleted.stderr


def test_an_unprotected_tag_is_refused(world: dict[str, Any]) -> None:
    vendor = world["vendor"]
    vendor.commit({"index.html": "<h1>rc</h1>\n"})
    vendor.tag("rc-2")  # outside the protected pattern v*
    vendor.push("main", "rc-2")
    p = last_pipeline(world["emulator"], "rc-2")
    assert p.protected is False and p.config_file == "install.yml"
    refused(install(p.variables), "the tag rc-2 is not protected (CI_COMMIT_REF_PROTECTED is 'false')")


def test_a_variable_claiming_the_tag_is_protected_is_not_believed(world: dict[str, Any]) -> None:
    emulator, vendor = world["emulator"], world["vendor"]
    maintainer = emulator.create_token("siti_lead", ["api"], name="api")
    project = emulator.client(maintainer).projects.get(PATH)
    project.variables.create({"key": "CI_COMMIT_REF_PROTECTED", "value": "true"})  # the vendor's own variable
    vendor.commit({"index.html": "<h1>rc</h1>\n"})
    vendor.tag("rc-3")
    vendor.push("main", "rc-3")
    p = last_pipeline(emulator, "rc-3")
    assert p.protected is False and p.variables["CI_COMMIT_REF_PROTECTED"] == "true"  # GitLab's precedence
    refused(install(p.variables), f"GitLab does not protect the tag rc-3 of {PATH} (protected tag rules: v*)")


def test_provision_request_naming_another_request_is_refused(world: dict[str, Any]) -> None:
    p = last_pipeline(world["emulator"], "v1.0.0")
    env = {**p.variables, "PROVISION_REQUEST": world["other"]}
    refused(install(env), f"PROVISION_REQUEST is {world['other']} but the pipeline's project {PATH} "
                          f"is recorded for {world['rid']}")
    refused(install(p.variables, world["other"]), f"REQ is {world['other']} but the pipeline's project")


def test_a_project_variable_claiming_another_project_is_refused(world: dict[str, Any]) -> None:
    p = last_pipeline(world["emulator"], "v1.0.0")
    env = {**p.variables, "CI_PROJECT_PATH": OTHER, "CI_PROJECT_ID": str(world["emulator"].project(OTHER).id)}
    refused(install(env), f"CI_PROJECT_PATH is '{OTHER}' but GitLab says the job's is '{PATH}'")


def test_a_forged_or_missing_job_token_is_refused(world: dict[str, Any]) -> None:
    p = last_pipeline(world["emulator"], "v1.0.0")
    refused(install({**p.variables, "CI_JOB_TOKEN": "glcbt-forged"}), "does not recognise the job's CI_JOB_TOKEN")
    env = dict(p.variables)
    del env["CI_JOB_TOKEN"]
    refused(install(env), "CI_JOB_TOKEN is not set")


def test_a_branch_pipeline_is_refused(world: dict[str, Any]) -> None:
    vendor = world["vendor"]
    vendor.git("checkout", "-qb", "develop")
    vendor.commit({"x.txt": "x\n"})
    vendor.push("develop")
    p = last_pipeline(world["emulator"], "develop")
    env = {**p.variables, "CI_COMMIT_TAG": "v1.0.0"}  # claims a tag
    refused(install(env), "the job runs for the branch 'develop', not for a release tag")


def test_outside_ci_req_is_required() -> None:
    r = run_cli("install", "--ref", "v1.0.0", "--yes")
    assert r.exit_code == ExitCode.USAGE, r
    assert "Missing argument '[REQ]'" in r.stderr


def test_a_ci_path_changed_by_hand_runs_the_vendors_file_until_check_reports_and_apply_restores(
        world: dict[str, Any]) -> None:
    emulator, vendor, rid = world["emulator"], world["vendor"], world["rid"]
    emulator.set_ci_config_path(PATH, ".gitlab-ci.yml")  # a maintainer, in Settings > CI/CD
    emulator.unprotect_tag(PATH, "v*")
    vendor.commit({"index.html": "<h1>v1.1</h1>\n"})
    vendor.tag("v1.1.0")
    vendor.push("main", "v1.1.0")
    p = last_pipeline(emulator, "v1.1.0")
    assert (p.config_project, p.config_file) == (PATH, ".gitlab-ci.yml") and "VENDOR-CODE-RAN" in p.content
    # Had their file called the install, it would be refused: the path is not Kominfo's.
    refused(install({**p.variables, "CI_COMMIT_REF_PROTECTED": "true"}),
            f"the CI configuration path of {PATH} is '.gitlab-ci.yml', not Kominfo's install.yml@{OPS}")
    r = run_cli("check", "--only", "gitlab", "--json")
    assert r.exit_code == ExitCode.CHECKS_FAILED, r
    mine = {x["name"]: x for x in r.json["results"] if x["request"] == rid}
    assert mine["CI configuration path"]["status"] == "fail"
    assert mine["CI configuration path"]["message"] == \
        f"the CI configuration path is .gitlab-ci.yml, expected install.yml@{OPS}"
    assert mine["release tags protected"]["status"] == "fail"
    assert mine["release tags protected"]["message"] == "tags v* are not protected"
    plan = run_cli("repo", "plan", rid, "--json")
    assert plan.exit_code == 0, plan
    changes = {c["kind"]: c for c in plan.json["changes"]}
    assert set(changes) == {"gitlab.ci_config", "gitlab.protected_tag"}
    assert changes["gitlab.ci_config"]["after"]["why"].startswith("the CI configuration path was changed by hand")
    assert run_cli("repo", "apply", rid, "--yes").exit_code == 0
    assert emulator.project(PATH).ci_config_path == f"install.yml@{OPS}"
    vendor.commit({"index.html": "<h1>v1.2</h1>\n"})
    vendor.tag("v1.2.0")
    vendor.push("main", "v1.2.0")
    assert last_pipeline(emulator, "v1.2.0").config_project == OPS
    again = run_cli("repo", "plan", rid)
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_check_reports_a_runner_that_is_not_protected(world: dict[str, Any]) -> None:
    emulator = world["emulator"]
    runner = emulator.register_runner("kominfo1 shell", ["kominfo-provision"], [PATH, OTHER])
    r = run_cli("check", "--only", "gitlab", "--json")
    assert r.exit_code == 0, r
    ok = [x for x in r.json["results"] if x["name"] == "installing runner"]
    assert [x["status"] for x in ok] == ["pass"]
    assert ok[0]["message"] == "1 runner(s) tagged kominfo-provision: protected, locked, tagged jobs only"
    emulator.set_runner(runner, access_level="not_protected", run_untagged=True)
    r = run_cli("check", "--only", "gitlab", "--json")
    assert r.exit_code == ExitCode.CHECKS_FAILED, r
    bad = [x for x in r.json["results"] if x["name"] == "installing runner"]
    assert [x["status"] for x in bad] == ["fail"]
    assert bad[0]["message"] == ("runner #1 (kominfo1 shell): not protected (it runs jobs of unprotected branches "
                                 "and tags), runs untagged jobs")
