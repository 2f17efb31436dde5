"""Kominfo's install.yml run for real by gitlab-ci-local (shell executor) with the variables
GitLab would give the job (the emulator's pipeline simulation), so `provision install`
runs inside the pipeline exactly as the job's script says.

What is shown here: gitlab-ci-local accepts the file (it validates against GitLab's
schema), its rules run the job only for a protected tag, and the job's install proves its
project and tag before doing anything: every refusal path exits the job with the
install's exit 2 and message. The accepted job goes past the proof to the install itself,
which fails here only because this test has no server (hosting is not configured).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.gitlab_emulator import GitLabEmulator
from tests.gitlab.ci_env import OPS, Vendor, gitlab_config, last_pipeline, open_and_apply, prepare_gitlab
from tests.gitlab.cli_env import SPEC

ROOT = Path(__file__).resolve().parents[2]
GCL = ROOT / ".tools" / "gcl" / "node_modules" / ".bin" / "gitlab-ci-local"
PATH = "pemko-batam/disdik/sisekolah"


def gitlab_ci_local(work: Path, content: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the pipeline `content` in `work` with `variables` as the job's CI variables."""
    if not GCL.exists():
        pytest.fail(f"gitlab-ci-local is not installed at {GCL}: run scripts/setup.sh", pytrace=False)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=work, check=True)
        subprocess.run(["git", "-c", "user.name=k", "-c", "user.email=k@example.test", "commit", "-q",
                        "--allow-empty", "-m", "ops"], cwd=work, check=True)
    (work / ".gitlab-ci.yml").write_text(content)
    # --variable: gitlab-ci-local's own predefined variables (CI_JOB_TOKEN among them) win over a
    # variables file. The job token is the emulator's, for this test only.
    args = [a for k, v in variables.items() for a in ("--variable", f"{k}={v}")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([str(GCL), *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def world(provision_home: Path, gitlab: GitLabEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    token = prepare_gitlab(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    (provision_home / "provision.toml").write_text(
        f'[general]\nstate_dir = "{provision_home / "state"}"\n' + gitlab_config(gitlab, provision_home))
    rid = open_and_apply(provision_home, "sisekolah", SPEC.format(slug="sisekolah"))
    vendor = Vendor(gitlab, "siti_lead", provision_home / "work")
    vendor.clone(PATH)
    vendor.commit({"index.html": "<h1>Sekolah</h1>\n"})
    vendor.tag("v1.0.0")
    vendor.push("main", "v1.0.0")
    return {"rid": rid, "vendor": vendor, "emulator": gitlab, "home": provision_home}


def test_the_job_runs_only_for_protected_tags_and_proves_who_it_is_for(world: dict[str, Any]) -> None:
    emulator, home = world["emulator"], world["home"]
    p = last_pipeline(emulator, "v1.0.0")
    assert p.config_project == OPS
    run = gitlab_ci_local(home / "ci", p.content, p.variables)
    out = run.stdout + run.stderr
    assert "json schema validated" in out  # gitlab-ci-local checked the file against GitLab's schema
    assert "deploy-staging starting shell" in out
    assert 'provision install --ref "${KOMINFO_UPSTREAM_TAG:-$CI_COMMIT_TAG}" --env staging --yes' in out
    assert "CI install refused" not in out, out
    assert "kominfo-provision, version 0.1.0" in out  # the before_script names the toolkit version that runs
    # The proof passed; the install itself stops at the first thing this test lacks: a server.
    assert "GitLab CI: protected tag" not in out  # printed after the target, which needs hosting
    assert "hosting" in out and run.returncode != 0, out

    # A branch push: the rules do not run the job at all.
    vendor = world["vendor"]
    vendor.git("checkout", "-qb", "develop")
    vendor.commit({"x.txt": "x\n"})
    vendor.push("develop")
    branch = last_pipeline(emulator, "develop")
    run = gitlab_ci_local(home / "ci", branch.content, branch.variables)
    assert "deploy-staging starting shell" not in run.stdout + run.stderr, run.stdout


@pytest.mark.parametrize("override, message", [
    ({"PROVISION_REQUEST": "REQ-2026-0999"}, "PROVISION_REQUEST is REQ-2026-0999 but the pipeline's project"),
    ({"CI_PROJECT_PATH": "pemko-batam/ops/ci"}, "no request has the GitLab project pemko-batam/ops/ci recorded"),
    ({"CI_JOB_TOKEN": "glcbt-forged"}, "does not recognise the job's CI_JOB_TOKEN"),
])
def test_each_refusal_stops_the_job_with_exit_2(world: dict[str, Any], override: dict[str, str], message: str) -> None:
    p = last_pipeline(world["emulator"], "v1.0.0")
    run = gitlab_ci_local(world["home"] / "ci", p.content, {**p.variables, **override})
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "CI install refused: " in out and message in out, out
    assert "deploy-staging finished in" in out and " FAIL 2 " in out, out  # the job's exit code: the install's 2


def test_an_unprotected_tag_claimed_protected_by_a_variable_is_refused_in_the_job(world: dict[str, Any]) -> None:
    emulator, vendor = world["emulator"], world["vendor"]
    emulator.client().projects.get(PATH).variables.create({"key": "CI_COMMIT_REF_PROTECTED", "value": "true"})
    vendor.commit({"index.html": "<h1>rc</h1>\n"})
    vendor.tag("rc-1")
    vendor.push("main", "rc-1")
    p = last_pipeline(emulator, "rc-1")
    run = gitlab_ci_local(world["home"] / "ci", p.content, p.variables)
    out = run.stdout + run.stderr
    assert "deploy-staging starting shell" in out  # the overriding variable fooled the rules ...
    assert f"CI install refused: GitLab does not protect the tag rc-1 of {PATH}" in out, out  # ... not the install
    assert run.returncode != 0
