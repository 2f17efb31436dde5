"""Pure functions of the GitLab provider: key files, variables, the protection PATCH body, seed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.gitlab.desired import check_variable, fingerprint, key_body, read_deploy_key
from provision.gitlab.planner import protection_patch
from provision.gitlab.seed import blob_id

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0QLam9hEGmeOWJ3+shlKC19ElHS2Y5I2J70lFJPteH"


def test_deploy_key_file_is_one_public_key(tmp_path: Path) -> None:
    good = tmp_path / "k.pub"
    good.write_text(KEY + " kominfo@server\n")
    assert read_deploy_key(str(good)) == (KEY, [])
    for text, msg in (("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "holds a private key"),
                      ("ssh-ed25519\n", "not one OpenSSH public key line"),
                      (KEY + "\n" + KEY + "\n", "not one OpenSSH public key line"),
                      ("ssh-ed25519 not*base64", "damaged")):
        bad = tmp_path / "bad.pub"
        bad.write_text(text)
        key, problems = read_deploy_key(str(bad))
        assert key is None and msg in problems[0].message, (text, problems)
    key, problems = read_deploy_key(str(tmp_path / "missing.pub"))
    assert key is None and "cannot read" in problems[0].message
    assert read_deploy_key("") == (None, [])


def test_key_identity_ignores_the_comment() -> None:
    assert key_body(KEY + " a@b") == key_body(KEY + " other") == KEY
    assert fingerprint(KEY + " a@b") == fingerprint(KEY)
    assert fingerprint(KEY).startswith("SHA256:") and not fingerprint(KEY).endswith("=")


def test_variables_name_and_masking_rules() -> None:
    assert check_variable("APP_STAGE", "staging", "f")[0].masked is False
    var, problems = check_variable("DEPLOY_TOKEN", "abcDEF123_+=/@:.~-", "f")
    assert problems == [] and var is not None and var.masked is True
    assert var.shown()["value"] == "[masked]"
    for key, value, msg in (("DB_PASSWORD", "short", "cannot mask"), ("API_KEY", "has spaces in it", "cannot mask"),
                            ("BAD-NAME", "x", "not a CI/CD variable name"), ("", "x", "not a CI/CD variable name")):
        var, problems = check_variable(key, value, "f")
        assert var is None and msg in problems[0].message, (key, problems)


def test_protection_patch_makes_maintainers_only_without_force_push() -> None:
    right = {"push_access_levels": [{"id": 1, "access_level": 40}],
             "merge_access_levels": [{"id": 2, "access_level": 40}], "allow_force_push": False}
    assert protection_patch(right) == {}
    wrong = {"push_access_levels": [{"id": 1, "access_level": 30}, {"id": 3, "access_level": 40, "user_id": 7}],
             "merge_access_levels": [{"id": 2, "access_level": 40}, {"id": 4, "access_level": 40}],
             "allow_force_push": True}
    assert protection_patch(wrong) == {
        "allowed_to_push": [{"id": 1, "_destroy": True}, {"id": 3, "_destroy": True}, {"access_level": 40}],
        "allowed_to_merge": [{"id": 4, "_destroy": True}],
        "allow_force_push": False,
    }


def test_blob_id_is_gits() -> None:
    import subprocess

    out = subprocess.run(["git", "hash-object", "--stdin"], input=b"halo\n", capture_output=True, check=True)
    assert blob_id("halo\n") == out.stdout.decode().strip()


def _desired(**gitlab: object) -> object:
    from devstack.gitlab_target import make_request, make_spec
    from provision.config import Config, Settings
    from provision.gitlab.desired import desired_state

    cfg = Config(Settings.model_validate({"gitlab": {"url": "http://x", "root_group": "pemko-batam", **gitlab}}),
                 {}, None)
    return desired_state(make_request("REQ-2026-0007"), make_spec("sisekolah", []), cfg)


def test_no_ci_file_is_seeded_when_kominfo_owns_the_pipeline() -> None:
    from provision.gitlab.seed import seed_files

    d = _desired()
    assert d.ci_mode == "config_path" and d.ci_config_path == "install.yml@pemko-batam/ops/ci"
    assert sorted(seed_files(d)) == sorted(["README.md", "docs/kebutuhan-sistem.md", "docs/panduan-instalasi.md",
                                            "docs/panduan-pengguna.md", "docs/pengujian/README.md"])
    assert "berkas `install.yml` di proyek `pemko-batam/ops/ci`" in seed_files(d)["README.md"]


def test_trigger_mode_seeds_a_job_that_only_triggers_the_operations_pipeline() -> None:
    import yaml

    from provision.gitlab.seed import seed_files

    d = _desired(ci_mode="trigger", ci_config="deploy.yml@pemko-batam/infra/pipelines")
    assert d.ci_config_path == "" and d.ops_project == "pemko-batam/infra/pipelines"
    ci = yaml.safe_load(seed_files(d)[".gitlab-ci.yml"])
    job = ci["release"]
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert job["trigger"] == {"project": "pemko-batam/infra/pipelines", "strategy": "depend"}
    assert job["variables"] == {"KOMINFO_UPSTREAM_PROJECT": "$CI_PROJECT_PATH", "KOMINFO_UPSTREAM_TAG": "$CI_COMMIT_TAG",
                                "KOMINFO_UPSTREAM_SHA": "$CI_COMMIT_SHA"}
    assert "script" not in job and "tags" not in job  # it runs nothing, on no runner of Kominfo's


def test_the_operations_pipeline_runs_only_protected_tags_without_a_checkout() -> None:
    import yaml

    from provision.gitlab.seed import ops_ci_file

    ci = yaml.safe_load(ops_ci_file("pemko-batam/ops/ci", runner_tag="kominfo-staging"))
    assert ci["variables"] == {"GIT_STRATEGY": "none"}
    job = ci["deploy-staging"]
    assert job["tags"] == ["kominfo-staging"]
    assert job["rules"][0] == {"if": '$CI_COMMIT_TAG && $CI_COMMIT_REF_PROTECTED == "true" && $CI_PIPELINE_SOURCE == "push"'}
    assert job["script"] == ['provision install --ref "${KOMINFO_UPSTREAM_TAG:-$CI_COMMIT_TAG}" --env staging --yes']
    # the runner's toolkit comes from the wheelhouse (docs/operations.md); the job installs nothing
    # from an index and shows which version runs
    assert job["before_script"] == ["provision --version"]
    text = ops_ci_file("pemko-batam/ops/ci")
    assert "pip install --no-index --find-links wheelhouse" in text
    assert [line for line in text.splitlines() if "pip install" in line and "--no-index" not in line] == []
    assert "PROVISION_REQUEST" not in ops_ci_file("pemko-batam/ops/ci")


@pytest.mark.parametrize("value, message", [
    ("install.yml", "must be FILE@GROUP/PROJECT"),
    ("../x.yml@a/b", "must be a relative path inside the project"),
    ("install.yml@ops", "must be a project path (GROUP/PROJECT)"),
    ("install.yml@a//b", "must be segments separated by single '/'"),
])
def test_a_bad_ci_config_is_refused_naming_the_field(value: str, message: str) -> None:
    from pydantic import ValidationError as PydanticError

    from provision.config import Settings

    with pytest.raises(PydanticError) as caught:
        Settings.model_validate({"gitlab": {"ci_config": value}})
    assert "ci_config" in str(caught.value) and message in str(caught.value)
