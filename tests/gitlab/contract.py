"""The provider contract: run against the emulator (test_contract.py) and, when configured,
against a real GitLab (test_real_gitlab.py). Drift is planted through the API, so the
same test means the same thing on both. Each module defines the `target` fixture."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack.gitlab_target import Recorder, Target, make_config, make_request, make_spec
from provision import deploy_keys
from provision.errors import ValidationError
from provision.gitlab import GitLabProvider
from provision.gitlab.desired import key_body
from provision.gitlab.planner import ProjectArchived


def new_key(tmp: Path, name: str) -> str:
    path = tmp / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return (tmp / f"{name}.pub").read_text().strip()


class Case:
    """One request against the target: its names, its provider, and shortcuts to apply."""

    def __init__(self, target: Target, tmp: Path, *, members: list[tuple[str, str]] | None = None,
                 team: list[str] | None = None, opd: str | None = None, per_page: int = 100,
                 key: str | None = None, variables: dict[str, str] | None = None, branch: str = "main") -> None:
        self.target, self.tmp = target, tmp
        self.opd = opd or target.unique("opd")
        self.slug = target.unique("app")
        self.request = make_request(f"REQ-2026-{abs(hash(self.slug)) % 9000 + 1000}", self.opd)
        u = target.users
        self.members = members if members is not None else [(u[0], "developer"), (u[1], "maintainer")]
        self.team = team if team is not None else [u[2]]
        self.key = key
        self.variables = variables if variables is not None else {"APP_STAGE": "staging"}
        self.per_page = per_page
        self.spec = make_spec(self.slug, self.members, branch=branch)
        self.path = f"{target.root_group}/{self.opd}/{self.slug}"
        self.provider = self.new_provider()

    def new_provider(self, **config: Any) -> GitLabProvider:
        cfg = make_config(self.target, self.tmp, team=self.team, deploy_key=config.pop("key", self.key),
                          variables=self.variables, **config)
        return GitLabProvider.from_config(cfg, per_page=self.per_page)

    def plan(self) -> Any:
        return self.provider.plan(self.request, self.spec)

    def apply(self) -> Any:
        plan = self.plan()
        report = self.provider.apply(plan, Recorder())
        self.target.cleanup.append(lambda: _delete(self.target, self.path))
        return plan, report

    def project(self) -> Any:
        return self.target.admin.projects.get(self.path)


def _delete(target: Target, path: str) -> None:
    try:
        target.admin.projects.delete(path)
    except Exception:  # noqa: BLE001 - best effort clean-up of a real GitLab
        pass


def kinds(plan: Any) -> list[tuple[str, str]]:
    return sorted((c.action, c.kind) for c in plan.changes)


def test_first_apply_creates_a_configured_repository(target: Target, tmp_path: Path) -> None:
    key = new_key(tmp_path, "kominfo")
    case = Case(target, tmp_path, key=key)
    plan, report = case.apply()
    assert report.ok and len(report.applied) == len(plan.changes)
    assert ("create", "gitlab.project") in kinds(plan)
    p = case.project()
    assert p.visibility == "private"
    assert case.request.id in p.description and "Dinas Pendidikan" in p.description
    assert p.default_branch == "main"
    rule = p.protectedbranches.get("main")
    assert [a["access_level"] for a in rule.push_access_levels] == [40]
    assert [a["access_level"] for a in rule.merge_access_levels] == [40]
    assert rule.allow_force_push is False
    members = {m.username: m.access_level for m in p.members.list(get_all=True)}
    u = target.users
    assert members[u[0]] == 30 and members[u[1]] == 40 and members[u[2]] == 40
    keys = p.keys.list(get_all=True)
    assert [(key_body(k.key), k.can_push) for k in keys] == [(key_body(key), False)]
    variables = {v.key: v.value for v in p.variables.list(get_all=True)}
    assert variables == {"PROVISION_REQUEST": case.request.id, "APP_STAGE": "staging"}
    readme = p.files.raw("README.md", ref="main").decode()
    for text in (f"Sistem Informasi {case.slug}", "Dinas Pendidikan", case.request.id,
                 "docs/panduan-instalasi.md", "docs/panduan-pengguna.md", "docs/kebutuhan-sistem.md",
                 "docs/pengujian/"):
        assert text in readme, text
    # Kominfo owns the install pipeline: the project's CI configuration is the operations
    # project's file, no .gitlab-ci.yml is seeded, and release tags are protected.
    assert p.ci_config_path == f"install.yml@{target.root_group}/ops/ci"
    assert ".gitlab-ci.yml" not in {t["path"] for t in p.repository_tree(ref="main", get_all=True)}
    assert [(t.name, [a["access_level"] for a in t.create_access_levels]) for t in p.protectedtags.list(get_all=True)] \
        == [("v*", [40])]
    assert p.files.raw("docs/pengujian/README.md", ref="main").decode().startswith("# Dokumen Pengujian")
    project_event = next(e for e in report.plan.changes if e.kind == "gitlab.project")
    assert project_event.after["visibility"] == "private"
    assert report.details["project"]["web_url"] == p.web_url


def test_second_apply_plans_nothing_and_writes_nothing(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path, key=new_key(tmp_path, "k"))
    case.apply()
    provider = case.new_provider()
    server_before = target.server_writes() if target.server_writes else None
    case.provider = provider
    plan = case.plan()
    assert plan.changes == [], plan.changes
    report = provider.apply(plan, Recorder())
    assert report.applied == []
    assert provider.client.counter.writes == 0
    # token, project, protection, protected tags, members (all, direct), keys, variables
    assert provider.client.counter.reads == 8
    if server_before is not None:
        assert target.server_writes() == server_before


def test_drift_is_repaired_and_the_developers_files_are_kept(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path, key=new_key(tmp_path, "k"))
    case.apply()
    p = case.project()
    f = p.files.get("README.md", ref="main")
    f.content = "# Aplikasi kami\n"
    f.save(branch="main", commit_message="Developer's README")
    p.protectedbranches.delete("main")
    p.protectedbranches.create({"name": "main", "push_access_level": 30, "merge_access_level": 40,
                                "allow_force_push": True})
    dev = p.members.get(target.admin.users.list(username=target.users[0])[0].id)
    dev.access_level = 10
    dev.save()
    key = p.keys.list(get_all=True)[0]
    p.keys.update(key.id, {"can_push": True})
    p.variables.update("PROVISION_REQUEST", {"value": "REQ-0000-0000"})
    p.description = "diubah tangan"
    p.save()
    plan = case.plan()
    assert kinds(plan) == sorted([("update", "gitlab.project"), ("update", "gitlab.protected_branch"),
                                  ("update", "gitlab.member"), ("update", "gitlab.deploy_key"),
                                  ("update", "gitlab.variable")])
    case.provider.apply(plan, Recorder())
    assert case.plan().changes == []
    p = case.project()
    rule = p.protectedbranches.get("main")
    assert [a["access_level"] for a in rule.push_access_levels] == [40]
    assert rule.allow_force_push is False
    assert p.files.raw("README.md", ref="main").decode() == "# Aplikasi kami\n"


def test_unknown_users_are_all_reported_before_any_change(target: Target, tmp_path: Path) -> None:
    u = target.users
    case = Case(target, tmp_path, members=[(u[0], "developer"), ("nobody.one", "developer"),
                                           ("nobody.two", "maintainer")], team=[u[2], "ghost.ops"])
    before = target.server_writes() if target.server_writes else None
    with pytest.raises(ValidationError) as caught:
        case.plan()
    fields = sorted(p.field for p in caught.value.problems)
    assert fields == ["gitlab.team[1]", "repository.members[1].username", "repository.members[2].username"]
    assert "nobody.one" in str(caught.value) and "ghost.ops" in str(caught.value)
    assert case.provider.client.counter.writes == 0
    if before is not None:
        assert target.server_writes() == before


def test_archived_project_is_refused_without_writes(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path)
    case.apply()
    case.project().archive()
    case.provider = case.new_provider()
    with pytest.raises(ProjectArchived, match="is archived"):
        case.plan()
    assert case.provider.client.counter.writes == 0


def test_lists_are_read_to_the_last_page(target: Target, tmp_path: Path) -> None:
    extra = {f"EXTRA_{i}": f"v{i}" for i in range(5)}
    case = Case(target, tmp_path, per_page=2, variables=extra, key=new_key(tmp_path, "k"))
    case.apply()
    case.provider = case.new_provider()
    plan = case.plan()
    assert plan.changes == []
    assert case.provider.client.counter.writes == 0


def test_a_concurrent_creator_is_re_read_not_fought(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path)
    plan = case.plan()
    assert ("create", "gitlab.group") in kinds(plan)
    root = target.admin.groups.get(target.root_group)
    group = target.admin.groups.create({"name": case.opd, "path": case.opd, "parent_id": root.id})
    other = target.admin.projects.create({"name": f"Sistem Informasi {case.slug}", "path": case.slug,
                                          "namespace_id": group.id})
    uid = target.admin.users.list(username=target.users[0])[0].id
    other.members.create({"user_id": uid, "access_level": 30})
    target.cleanup.append(lambda: _delete(target, case.path))
    recorder = Recorder()
    report = case.provider.apply(plan, recorder)
    assert report.ok
    found = [e["detail"].get("found") for e in recorder.events if e["outcome"] == "succeeded"
             and e["kind"] in ("gitlab.group", "gitlab.project")]
    assert found == ["created meanwhile", "created meanwhile"]
    assert case.plan().changes == []
    assert case.project().id == other.id


def test_deploy_key_is_matched_by_content_and_rotated(target: Target, tmp_path: Path) -> None:
    old, new = new_key(tmp_path, "old"), new_key(tmp_path, "new")
    case = Case(target, tmp_path, key=old)
    case.apply()
    p = case.project()
    k = p.keys.list(get_all=True)[0]
    p.keys.update(k.id, {"title": "renamed by hand"})
    assert case.plan().changes == []  # same content, other title: still ours
    p.keys.update(k.id, {"title": "kominfo-provision deploy key"})
    case.key = new
    case.provider = case.new_provider()
    plan = case.plan()
    assert kinds(plan) == [("create", "gitlab.deploy_key"), ("delete", "gitlab.deploy_key")]
    case.provider.apply(plan, Recorder())
    assert [key_body(x.key) for x in case.project().keys.list(get_all=True)] == [key_body(new)]


def project_keys(case: Case) -> list[tuple[str, bool]]:
    return [(key_body(k.key), k.can_push) for k in case.project().keys.list(get_all=True)]


def test_without_a_shared_key_each_project_gets_its_own_read_only_key(target: Target, tmp_path: Path) -> None:
    first, second = Case(target, tmp_path), Case(target, tmp_path)
    state = tmp_path / "state"
    plan = first.plan()
    assert ("create", "gitlab.deploy_key") in kinds(plan)
    assert not deploy_keys.current_path(state, first.request.id).exists()  # a plan makes no key
    first.apply()
    second.apply()
    a, b = (deploy_keys.public_key(state, c.request.id) for c in (first, second))
    assert a and b and a != b
    key_file = deploy_keys.current_path(state, first.request.id)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == key_file.parent.parent.stat().st_mode & 0o777 == 0o700
    assert project_keys(first) == [(a, False)] and project_keys(second) == [(b, False)]
    assert first.plan().changes == [] and second.plan().changes == []


def test_rotating_a_project_key_adds_the_next_then_removes_the_old(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path)
    case.apply()
    state, rid = tmp_path / "state", case.request.id
    old = deploy_keys.public_key(state, rid)
    plan = case.provider.plan_key_rotation(case.request, case.spec)
    assert [(c.action, c.kind) for c in plan.changes] == [("create", "gitlab.deploy_key"), ("delete", "gitlab.deploy_key")]
    assert deploy_keys.pending_next(state, rid) is None  # planning makes no key
    # Cut short after the new key is on GitLab: the old one is still there, and still current.
    plan.changes = plan.changes[:1]
    assert case.provider.apply(plan, Recorder()).ok
    new = deploy_keys.pending_next(state, rid)
    assert new and new != old and deploy_keys.public_key(state, rid) == old
    assert sorted(project_keys(case)) == sorted([(old, False), (new, False)])
    # Resumed: the same next key, only the old one left to remove.
    plan = case.provider.plan_key_rotation(case.request, case.spec)
    assert kinds(plan) == [("delete", "gitlab.deploy_key")]
    assert case.provider.apply(plan, Recorder()).ok
    deploy_keys.promote_next(state, rid)
    assert deploy_keys.public_key(state, rid) == new and deploy_keys.pending_next(state, rid) is None
    assert project_keys(case) == [(new, False)]
    assert case.plan().changes == []


def test_a_second_request_of_the_same_opd_reuses_its_group(target: Target, tmp_path: Path) -> None:
    first = Case(target, tmp_path)
    first.apply()
    second = Case(target, tmp_path, opd=first.opd)
    plan, report = second.apply()
    assert ("create", "gitlab.group") not in kinds(plan)
    assert report.ok
    assert second.project().namespace["full_path"] == f"{target.root_group}/{first.opd}"


def test_another_default_branch_is_created_protected_and_made_default(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path, branch="develop")
    case.apply()
    p = case.project()
    assert p.default_branch == "develop"
    assert [a["access_level"] for a in p.protectedbranches.get("develop").push_access_levels] == [40]
    assert "`develop`" in p.files.raw("README.md", ref="develop").decode()
    assert case.plan().changes == []


def test_a_changed_default_branch_is_put_back(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path)
    case.apply()
    p = case.project()
    p.branches.create({"branch": "other", "ref": "main"})
    p.default_branch = "other"
    p.save()
    plan = case.plan()
    assert kinds(plan) == [("update", "gitlab.default_branch")]
    case.provider.apply(plan, Recorder())
    assert case.project().default_branch == "main"
    assert case.plan().changes == []


def test_a_member_added_by_hand_is_reported_and_kept(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path)
    case.apply()
    extra = target.users[3]
    uid = target.admin.users.list(username=extra)[0].id
    case.project().members.create({"user_id": uid, "access_level": 30})
    plan = case.plan()
    assert plan.changes == []
    assert plan.notes == [f"{extra} (developer) is a member but not in the spec or the team; left as is."]


def test_two_requests_of_one_opd_applied_at_once_share_one_group(target: Target, tmp_path: Path) -> None:
    import threading

    first = Case(target, tmp_path)
    second = Case(target, tmp_path, opd=first.opd)
    plans = [first.plan(), second.plan()]
    assert all(("create", "gitlab.group") in kinds(p) for p in plans)
    errors: list[BaseException] = []

    def run(case: Case, plan: Any) -> None:
        try:
            case.provider.apply(plan, Recorder())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c, p)) for c, p in zip((first, second), plans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for case in (first, second):
        target.cleanup.append(lambda path=case.path: _delete(target, path))
    assert errors == []
    assert first.project().namespace["id"] == second.project().namespace["id"]
    assert first.plan().changes == [] and second.plan().changes == []


def test_a_renamed_project_is_followed_and_reported(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path)
    case.apply()
    p = case.project()
    p.path = f"{case.slug}-lama"
    p.save()
    target.cleanup.append(lambda: _delete(target, f"{target.root_group}/{case.opd}/{case.slug}-lama"))
    plan = case.plan()
    assert plan.changes == []
    assert plan.notes == [f"the project was moved to {target.root_group}/{case.opd}/{case.slug}-lama; it is managed there."]
    assert plan.meta["project"]["project_id"] == p.id


def test_ci_path_and_tag_protection_changed_by_hand_are_planned_back(target: Target, tmp_path: Path) -> None:
    """Also what a project made before Kominfo owned the pipeline looks like: no CI path, no
    protected tags. The next apply plans both as changes, with the reason."""
    case = Case(target, tmp_path)
    case.apply()
    p = case.project()
    p.ci_config_path = ""
    p.save()
    p.protectedtags.delete("v*")
    plan = case.plan()
    assert kinds(plan) == [("create", "gitlab.protected_tag"), ("update", "gitlab.ci_config")]
    ci = next(c for c in plan.changes if c.kind == "gitlab.ci_config")
    assert ci.before == {"ci_config_path": ""}
    assert ci.after["ci_config_path"] == f"install.yml@{target.root_group}/ops/ci"
    assert "own .gitlab-ci.yml would run on tags" in ci.after["why"]
    tag = next(c for c in plan.changes if c.kind == "gitlab.protected_tag")
    assert "are not protected" in tag.after["why"]
    report = case.provider.apply(plan, Recorder())
    assert report.ok
    p = case.project()
    assert p.ci_config_path == f"install.yml@{target.root_group}/ops/ci"
    assert [t.name for t in p.protectedtags.list(get_all=True)] == ["v*"]
    # A maintainer points the pipeline at their own file and lets developers tag: both come back.
    p.ci_config_path = ".gitlab-ci.yml"
    p.save()
    p.protectedtags.delete("v*")
    p.protectedtags.create({"name": "v*", "create_access_level": 30})
    plan = case.plan()
    assert kinds(plan) == [("update", "gitlab.ci_config"), ("update", "gitlab.protected_tag")]
    assert next(c for c in plan.changes if c.kind == "gitlab.ci_config").after["why"].startswith(
        "the CI configuration path was changed by hand")
    assert next(c for c in plan.changes if c.kind == "gitlab.protected_tag").before == {"create": ["developer"]}
    assert case.provider.apply(plan, Recorder()).ok
    rule = case.project().protectedtags.get("v*")
    assert [a["access_level"] for a in rule.create_access_levels] == [40]
    assert case.plan().changes == []


def test_the_spec_says_who_may_create_release_tags(target: Target, tmp_path: Path) -> None:
    case = Case(target, tmp_path)
    case.spec = case.spec.model_copy(update={"repository": case.spec.repository.model_copy(
        update={"release_tags_created_by": "no_one"})})
    case.provider = case.new_provider(gitlab={"release_tags": "release-*"})
    case.apply()
    rules = case.project().protectedtags.list(get_all=True)
    assert [(t.name, [a["access_level"] for a in t.create_access_levels]) for t in rules] == [("release-*", [0])]
    assert case.plan().changes == []


def test_trigger_mode_seeds_a_job_that_only_triggers_and_keeps_the_default_path(target: Target,
                                                                                 tmp_path: Path) -> None:
    import yaml

    case = Case(target, tmp_path)
    case.provider = case.new_provider(gitlab={"ci_mode": "trigger"})
    case.apply()
    p = case.project()
    assert not p.ci_config_path
    ci = yaml.safe_load(p.files.raw(".gitlab-ci.yml", ref="main"))
    assert ci["release"]["trigger"] == {"project": f"{target.root_group}/ops/ci", "strategy": "depend"}
    assert "script" not in ci["release"] and "tags" not in ci["release"]
    assert case.plan().changes == []
