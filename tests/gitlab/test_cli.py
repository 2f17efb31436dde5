"""`provision repo ...` end to end against the emulator: exit codes, messages, the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.gitlab_emulator import GitLabEmulator
from provision.errors import ExitCode
from provision.gitlab.desired import fingerprint
from tests.helpers import run_cli

from .cli_env import Env, apply, setup_emulator


@pytest.fixture
def env(gitlab: GitLabEmulator, provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    token, key = setup_emulator(gitlab, provision_home)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    e = Env(provision_home, gitlab, token, key)
    e.config()
    yield e


def test_plan_shows_every_change_and_writes_nothing(env: Env) -> None:
    rid = env.open_request()
    env.emulator.calls.reset()
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == 0, r
    assert f"gitlab plan for {rid}: 12 to create" in r.stdout
    for line in ("+ gitlab.group pemko-batam/disdik", "+ gitlab.project pemko-batam/disdik/sisekolah",
                 "+ gitlab.ci_config pemko-batam/disdik/sisekolah CI configuration path",
                 "+ gitlab.seed pemko-batam/disdik/sisekolah seed files",
                 "+ gitlab.protected_branch pemko-batam/disdik/sisekolah branch main",
                 "+ gitlab.protected_tag pemko-batam/disdik/sisekolah tags v*",
                 "+ gitlab.member pemko-batam/disdik/sisekolah member budi.dev",
                 "+ gitlab.member pemko-batam/disdik/sisekolah member kominfo.ops",
                 "+ gitlab.variable pemko-batam/disdik/sisekolah variable PROVISION_REQUEST"):
        assert line in r.stdout, line
    assert env.emulator.calls.writes == 0


def test_apply_then_reapply_writes_nothing_and_logs_every_change(env: Env) -> None:
    rid = env.open_request()
    r = apply(rid, "--json")
    assert r.exit_code == 0, r
    assert r.json["result"]["ok"] is True
    assert len(r.json["result"]["applied"]) == 12
    assert r.json["checksum"] == r.json["plans"][0]["checksum"] and len(r.json["plans"]) == 1
    env.emulator.calls.reset()
    again = apply(rid)
    assert again.exit_code == 0, again
    assert f"gitlab plan for {rid}: nothing to do" in again.stdout
    assert env.emulator.calls.writes == 0
    # token, project, protection, protected tags, members (all, direct), keys, variables
    assert env.emulator.calls.reads == 8
    log = run_cli("audit", "log", rid, "--json")
    assert log.exit_code == 0, log
    gitlab_events = [e for e in log.json if e["provider"] == "gitlab"]
    assert sum(1 for e in gitlab_events if e["outcome"] == "attempted") == 12
    assert sum(1 for e in gitlab_events if e["outcome"] == "succeeded") == 12
    show = run_cli("repo", "show", rid, "--json")
    assert show.exit_code == 0, show
    assert show.json["path"] == "pemko-batam/disdik/sisekolah"
    assert show.json["web_url"] == f"{env.emulator.url}/pemko-batam/disdik/sisekolah"
    assert show.json["default_branch"] == "main"
    # No .gitlab-ci.yml: the project's CI configuration is Kominfo's install.yml (docs/ci.md).
    assert set(show.json["seed_files"]) >= {"README.md", "docs/panduan-instalasi.md"}
    assert ".gitlab-ci.yml" not in show.json["seed_files"]


def test_dry_run_and_no_terminal(env: Env) -> None:
    rid = env.open_request()
    r = run_cli("repo", "apply", rid, "--dry-run")
    assert r.exit_code == 0, r
    assert "12 to create" in r.stdout
    no = run_cli("repo", "apply", rid)
    assert no.exit_code == ExitCode.USAGE
    assert "no terminal to ask on" in no.stderr and "--yes" in no.stderr
    assert env.emulator.calls.writes == 0


def test_unknown_users_exit_2_listing_all(env: Env) -> None:
    env.config(team='["kominfo.ops", "ghost.ops"]')
    rid = env.open_request()
    spec = env.home / "bad.yaml"
    spec.write_text((env.home / "sisekolah.yaml").read_text().replace("siti_lead", "nobody.here"))
    assert run_cli("spec", "set", rid, str(spec)).exit_code == 0
    r = apply(rid)
    assert r.exit_code == ExitCode.USAGE, r
    assert "invalid members (nothing was changed) (2 problems)" in r.stderr
    assert "repository.members[1].username: no GitLab user named 'nobody.here'" in r.stderr
    assert "gitlab.team[1]: no GitLab user named 'ghost.ops'" in r.stderr
    assert env.emulator.calls.writes == 0


def test_bad_token_exit_9(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = env.open_request()
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", "glpat-wrong")
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.AUTH, r
    assert "refused the token (401)" in r.stderr and "PROVISION_GITLAB_TOKEN" in r.stderr


def test_token_without_api_scope_exit_9(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = env.open_request()
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", env.emulator.create_token("provisioner", ["read_api"], name="ro"))
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.AUTH, r
    assert "Error: the GitLab token 'ro' has the scopes read_api but not api" in r.stderr


def test_revoked_token_exit_9(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = env.open_request()
    env.emulator.revoke_token(env.token)
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.AUTH, r
    assert "refused the token (401)" in r.stderr


def test_unreachable_exit_8(env: Env) -> None:
    from devstack.gitlab_emulator.ssh_server import free_port

    env.config(url=f'"http://127.0.0.1:{free_port()}"', max_retries=1)
    rid = env.open_request()
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.UNREACHABLE, r
    assert "could not be reached" in r.stderr and "Check gitlab.url" in r.stderr


def test_archived_project_exit_4(env: Env) -> None:
    rid = env.open_request()
    assert apply(rid).exit_code == 0
    env.emulator.archive_project("pemko-batam/disdik/sisekolah")
    env.emulator.calls.reset()
    r = apply(rid)
    assert r.exit_code == ExitCode.UNSAFE_PLAN, r
    assert "Error: the GitLab project pemko-batam/disdik/sisekolah is archived" in r.stderr
    assert "Unarchive it" in r.stderr
    assert env.emulator.calls.writes == 0


def test_rate_limit_storm_exit_8_after_retries(env: Env) -> None:
    rid = env.open_request()
    env.config(max_retries=2)
    env.emulator.faults.rate_limit(r"/personal_access_tokens/self", times=None, retry_after=0)
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.UNREACHABLE, r
    assert "stayed rate limited (429)" in r.stderr and "after 2 retries" in r.stderr
    assert len(env.emulator.calls.api(r"/personal_access_tokens/self")) == 3  # the call and 2 retries


def test_short_5xx_burst_is_retried_and_succeeds(env: Env) -> None:
    rid = env.open_request()
    env.config(max_retries=3)
    env.emulator.faults.error(r"/projects$", status=502, times=2, methods=["POST"])
    r = apply(rid)
    assert r.exit_code == 0, r
    assert "Applied 12 changes." in r.stdout
    assert len(env.emulator.calls.api(r"/api/v4/projects$", method="POST")) == 3


def test_persistent_500_fails_with_one_message(env: Env) -> None:
    rid = env.open_request()
    env.emulator.faults.error(r"/groups$", status=500, times=None, methods=["POST"])
    r = apply(rid)
    assert r.exit_code == ExitCode.FAILURE, r
    assert "GitLab failed on group pemko-batam/disdik with 500" in r.stderr
    assert "after 1 retries" in r.stderr


def test_crash_mid_apply_is_completed_by_the_next_apply(env: Env) -> None:
    rid = env.open_request()
    env.emulator.faults.error(r"/members$", status=500, times=None, methods=["POST"])
    r = apply(rid)
    assert r.exit_code == ExitCode.PARTIAL_APPLY, r
    # group, project, CI configuration path, seed, branch and tag protection: then the first member
    assert "was partial: 6 changes applied, then gitlab.member" in r.stderr
    assert "run `provision repo apply" in r.stderr
    env.emulator.faults.clear()
    plan = run_cli("repo", "plan", rid, "--json")
    assert plan.exit_code == 0, plan
    assert sorted({c["kind"] for c in plan.json["changes"]}) == ["gitlab.deploy_key", "gitlab.member", "gitlab.variable"]
    assert apply(rid).exit_code == 0
    env.emulator.calls.reset()
    done = apply(rid)
    assert done.exit_code == 0 and "nothing to do" in done.stdout
    assert env.emulator.calls.writes == 0


def test_crash_before_seeding_seeds_on_the_next_apply(env: Env) -> None:
    rid = env.open_request()
    env.emulator.faults.error(r"/repository/commits$", status=500, times=None, methods=["POST"])
    assert apply(rid).exit_code == ExitCode.PARTIAL_APPLY
    env.emulator.faults.clear()
    r = apply(rid)
    assert r.exit_code == 0, r
    assert "+ gitlab.seed" in r.stdout
    assert b"Sistem Informasi Sekolah" in env.emulator.read_file("pemko-batam/disdik/sisekolah", "README.md")


def test_archive_and_delete_need_their_flags(env: Env) -> None:
    rid = env.open_request()
    assert apply(rid).exit_code == 0
    r = run_cli("repo", "delete", rid, "--yes")
    assert r.exit_code == ExitCode.USAGE, r
    assert "needs --purge, --force, --reason TEXT; nothing was deleted" in r.stderr
    a = run_cli("repo", "archive", rid, "--yes")
    assert a.exit_code == 0, a
    assert "~ gitlab.archive pemko-batam/disdik/sisekolah" in a.stdout
    assert env.emulator.project("pemko-batam/disdik/sisekolah").archived is True
    again = run_cli("repo", "archive", rid, "--yes")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    d = run_cli("repo", "delete", rid, "--purge", "--force", "--reason", "Permohonan dibatalkan", "--yes")
    assert d.exit_code == 0, d
    assert "- gitlab.project pemko-batam/disdik/sisekolah" in d.stdout
    assert env.emulator.project("pemko-batam/disdik/sisekolah").marked_for_deletion_on is not None
    show = run_cli("repo", "show", rid, "--json")
    assert show.exit_code == 0 and show.json["deleted"] is True


def test_closed_request_refuses_apply(env: Env) -> None:
    rid = env.open_request()
    assert run_cli("request", "close", rid, "--reason", "batal", "--yes").exit_code == 0
    r = apply(rid)
    assert r.exit_code == ExitCode.USAGE, r
    assert f"request {rid} is closed" in r.stderr
    assert env.emulator.calls.writes == 0


def test_missing_token_is_a_config_error(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = env.open_request()
    monkeypatch.delenv("PROVISION_GITLAB_TOKEN")
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.USAGE, r
    assert "no GitLab token" in r.stderr and "PROVISION_GITLAB_TOKEN" in r.stderr


def test_settings_are_checked_before_any_call(env: Env) -> None:
    (env.home / "bad.pub").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n")
    pw = env.home / "db-password"
    pw.write_text("short pw\n")
    pw.chmod(0o600)
    env.config(deploy_key_file=f'"{env.home / "bad.pub"}"', variable_files=f'{{DB_PASSWORD = "{pw}"}}')
    rid = env.open_request()
    env.emulator.calls.reset()
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.USAGE, r
    assert "invalid GitLab settings (2 problems)" in r.stderr
    assert "gitlab.deploy_key_file: " in r.stderr and "holds a private key" in r.stderr
    assert "gitlab.variable_files.DB_PASSWORD: DB_PASSWORD looks like a secret" in r.stderr
    assert "short pw" not in r.stderr
    assert env.emulator.calls.api() == []
    # A secret-looking variable written into the configuration file is refused on loading,
    # without showing its value (issue 13, item 4).
    env.config(variables='{DB_PASSWORD = "s3cr3t-in-the-file"}')
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.USAGE, r
    assert "gitlab.variables.DB_PASSWORD: looks like a secret: secrets are not read from the configuration file" \
        in r.stderr and "gitlab.variable_files.DB_PASSWORD" in r.stderr
    assert "s3cr3t-in-the-file" not in r.stderr + r.stdout
    assert env.emulator.calls.api() == []
    # A malformed variable name is refused as soon as the configuration is loaded.
    env.config(variables='{"BAD-NAME" = "x"}')
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == ExitCode.USAGE, r
    assert "gitlab.variables: variable name 'BAD-NAME' must match [A-Za-z_][A-Za-z0-9_]*" in r.stderr
    assert env.emulator.calls.api() == []


def test_a_masked_variable_never_shows_its_value(env: Env) -> None:
    secret = env.home / "deploy-token"
    secret.write_text("s3cr3t-value-123\n")
    secret.chmod(0o600)
    env.config(variable_files=f'{{DEPLOY_TOKEN = "{secret}"}}')
    rid = env.open_request()
    r = apply(rid, "--json")
    assert r.exit_code == 0, r
    assert "s3cr3t-value-123" not in r.stdout
    var = next(v for v in env.emulator.project("pemko-batam/disdik/sisekolah").variables if v.key == "DEPLOY_TOKEN")
    assert var.masked is True and var.value == "s3cr3t-value-123"
    log = run_cli("audit", "export", "--format", "jsonl")
    assert log.exit_code == 0, log
    assert "s3cr3t-value-123" not in log.stdout and "DEPLOY_TOKEN" in log.stdout


@pytest.mark.parametrize("status,code,text", [
    (403, ExitCode.AUTH, "GitLab refused project pemko-batam/disdik/sisekolah (403 Forbidden"),
    (503, ExitCode.UNREACHABLE, "stayed unavailable (503) for project pemko-batam/disdik/sisekolah"),
])
def test_a_failed_lookup_is_never_read_as_absent(env: Env, status: int, code: int, text: str) -> None:
    rid = env.open_request()
    env.emulator.faults.error(r"/projects/pemko-batam%2Fdisdik%2Fsisekolah$", status=status, times=None,
                              methods=["GET"])
    r = apply(rid)
    assert r.exit_code == code, r
    assert text in r.stderr
    assert env.emulator.calls.writes == 0


def test_public_project_in_a_private_root_group_is_refused(env: Env) -> None:
    rid = env.open_request()
    spec = env.home / "public.yaml"
    spec.write_text((env.home / "sisekolah.yaml").read_text().replace("repository:\n", "repository:\n  visibility: public\n"))
    assert run_cli("spec", "set", rid, str(spec)).exit_code == 0
    r = apply(rid)
    assert r.exit_code == ExitCode.USAGE, r
    assert "asks for a public project but the root group pemko-batam is private" in r.stderr
    assert env.emulator.calls.writes == 0


def test_protection_is_redone_when_gitlab_refuses_the_patch(env: Env) -> None:
    rid = env.open_request()
    assert apply(rid).exit_code == 0
    env.emulator.protect_branch("pemko-batam/disdik/sisekolah", "main", push=30, merge=40, allow_force_push=True)
    env.emulator.faults.error(r"/protected_branches/main$", status=422, times=1, methods=["PATCH"])
    env.emulator.calls.reset()
    r = apply(rid)
    assert r.exit_code == 0, r
    assert "~ gitlab.protected_branch pemko-batam/disdik/sisekolah branch main" in r.stdout
    assert [c.method for c in env.emulator.calls.api(r"/protected_branches")] == ["GET", "GET", "PATCH", "DELETE", "POST"]
    rule = next(b for b in env.emulator.project("pemko-batam/disdik/sisekolah").protected_branches if b.name == "main")
    assert [a.access_level for a in rule.push_access_levels] == [40] and rule.allow_force_push is False


def test_apply_with_checksum_applies_only_the_reviewed_plan(env: Env) -> None:
    rid = env.open_request()
    reviewed = run_cli("repo", "plan", rid, "--json")
    assert reviewed.exit_code == 0, reviewed
    env.emulator.create_group("disdik", parent="pemko-batam", owner="provisioner")  # GitLab moved on
    r = apply(rid, "--checksum", reviewed.json["checksum"])
    assert r.exit_code == ExitCode.CONFLICT, r
    assert f"the plan is not the one reviewed (checksum {reviewed.json['checksum']}" in r.stderr
    assert env.emulator.calls.writes == 0
    fresh = run_cli("repo", "plan", rid, "--json")
    ok = apply(rid, "--checksum", fresh.json["checksum"])
    assert ok.exit_code == 0, ok
    assert "Applied 11 changes." in ok.stdout


def test_a_token_about_to_expire_is_noted(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    rid = env.open_request()
    soon = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", env.emulator.create_token("provisioner", ["api"], expires_at=soon))
    r = run_cli("repo", "plan", rid)
    assert r.exit_code == 0, r
    assert f"note: the GitLab token expires on {soon} (3 days): renew it." in r.stdout


def test_show_documents_tells_placeholders_from_delivered_files(env: Env) -> None:
    rid = env.open_request()
    assert apply(rid).exit_code == 0
    path = "pemko-batam/disdik/sisekolah"
    env.emulator.commit_file(path, "docs/panduan-instalasi.md", "# Panduan Instalasi\n\nLangkah 1...\n")
    env.emulator.commit_file(path, "docs/kebutuhan-sistem.md", None)
    env.emulator.calls.reset()
    r = run_cli("repo", "show", rid, "--documents")
    assert r.exit_code == 0, r
    assert "document docs/panduan-instalasi.md: changed" in r.stdout
    assert "document docs/kebutuhan-sistem.md: missing" in r.stdout
    assert "document docs/panduan-pengguna.md: placeholder" in r.stdout
    assert "document README.md: placeholder" in r.stdout
    assert env.emulator.calls.writes == 0
    assert len(env.emulator.calls.api("/repository/files/", method="HEAD")) == 5  # the seeded files (no CI file)


def test_an_application_name_used_in_the_group_is_named_as_the_conflict(env: Env) -> None:
    # GitLab keeps project names (not only paths) unique within a group.
    first = env.open_request("sisekolah")
    assert apply(first).exit_code == 0
    second = env.open_request("sisekolah-dua")  # same application.name, another slug
    env.emulator.calls.reset()
    r = apply(second)
    assert r.exit_code == ExitCode.FAILURE, r
    assert "another project in pemko-batam/disdik is already named 'Sistem Informasi Sekolah'" in r.stderr
    assert "application.name" in r.stderr
    assert env.emulator.calls.writes == 1  # the refused create; nothing else


def test_rotate_key_shows_the_plan_then_replaces_the_project_key(env: Env) -> None:
    from provision import deploy_keys

    env.config(deploy_key_file='""')  # each project its own key
    rid = env.open_request()
    early = run_cli("repo", "rotate-key", rid, "--yes")
    assert early.exit_code == ExitCode.USAGE, early
    assert f"{rid} has no deploy key yet, so none to rotate" in early.stderr
    assert f"provision repo apply {rid}" in early.stderr
    assert apply(rid).exit_code == 0
    state = env.home / "state"
    old = deploy_keys.public_key(state, rid)
    env.emulator.calls.reset()
    dry = run_cli("repo", "rotate-key", rid, "--dry-run")
    assert dry.exit_code == 0, dry
    assert "+ gitlab.deploy_key pemko-batam/disdik/sisekolah deploy key (new, this project's own)" in dry.stdout
    assert f"- gitlab.deploy_key pemko-batam/disdik/sisekolah deploy key {fingerprint(old)}" in dry.stdout
    assert env.emulator.calls.writes == 0 and deploy_keys.pending_next(state, rid) is None
    r = run_cli("repo", "rotate-key", rid, "--yes")
    assert r.exit_code == 0, r
    new = deploy_keys.public_key(state, rid)
    assert new and new != old and deploy_keys.pending_next(state, rid) is None
    assert f"The deploy key of {rid} is now {fingerprint(new)}; the old one is removed from GitLab" in r.stdout
    assert f"provision install {rid} --env ENV" in r.stdout
    keys = env.emulator_keys("pemko-batam/disdik/sisekolah")
    assert keys == [(new, False)]
    log = run_cli("audit", "log", rid, "--json")
    assert log.exit_code == 0, log
    done = [(e["action"], e["target"]) for e in log.json if e["provider"] == "gitlab" and e["outcome"] in
            ("succeeded", "recorded") and "deploy key" in e["target"]]
    assert done[-3:] == [("create", "pemko-batam/disdik/sisekolah deploy key (new, this project's own)"),
                         ("delete", f"pemko-batam/disdik/sisekolah deploy key {fingerprint(old)}"),
                         ("rotate-key", f"{rid} deploy key")]
    again = run_cli("repo", "plan", rid, "--json")
    assert again.exit_code == 0 and again.json["changes"] == [], again


def test_rotate_key_refuses_a_shared_key(env: Env) -> None:
    rid = env.open_request()
    assert apply(rid).exit_code == 0
    env.emulator.calls.reset()
    r = run_cli("repo", "rotate-key", rid, "--yes")
    assert r.exit_code == ExitCode.USAGE, r
    assert "the deploy key is the shared gitlab.deploy_key_file: there is no project key to rotate" in r.stderr
    assert "remove both keys to give each project its own" in r.stderr
    assert env.emulator.calls.writes == 0
