"""`provision install` and `provision rollback`: run install.yml, record the outcome.

The order of records: an `Install` row (status running) and an audit "attempted" event
before the playbook starts; after it, the row's status, commit, release and per-host
counts, and a "succeeded"/"failed" event pointing at the attempt. A crash in between
leaves both visible as running/attempted; the next install of the request (under the
request's lock, so no live run owns the row) marks such a row "interrupted" with an
"install.interrupted" event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from provision.audit import utcnow
from provision.errors import AuthError, NotFound, ProvisionError, Unreachable, UsageError
from provision.install.runner import AnsibleRunner, PlaybookResult, ProgressEvent
from provision.install.target import Env, InstallTarget, instance_name, resolve_target
from provision.plan import Change
from provision.store.models import Install

FETCH_TASK = "Fetch the source at the requested ref"
REPORT_TASK = "Report what was installed"  # its msg: {commit, release}


class InstallFailed(ProvisionError):
    """The playbook failed: `failure` names the task and host; the previous release serves."""


@dataclass
class InstallOutcome:
    target: InstallTarget
    install_id: int
    ref: str
    commit: str | None
    release: str | None
    changed: int
    hosts: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    previous: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.target.as_dict(), "install_id": self.install_id, "ref": self.ref, "commit": self.commit,
                "release": self.release, "changed": self.changed, "hosts": self.hosts,
                "duration": round(self.duration, 1), "previous_release": self.previous}


def make_runner(app: Any) -> AnsibleRunner:
    h = app.config.hosting
    return AnsibleRunner(app.config.state_dir, h.inventory, ssh_config=h.ssh_config, known_hosts=h.known_hosts,
                         forks=h.forks, timeout=h.run_timeout, keep_runs=h.keep_runs, strategy=h.strategy)


def load_app_inventory(app: Any) -> Any:
    from provision.install.inventory import load_inventory

    return load_inventory(app.config.hosting.inventory)


def last_install(app: Any, request_id: str, env: str, status: str = "succeeded") -> Install | None:
    with app.store.read() as s:
        return s.execute(select(Install).where(Install.request_id == request_id, Install.env == env,
                                               Install.status == status)
                         .order_by(Install.id.desc()).limit(1)).scalar()


class Installer:
    def __init__(self, app: Any, runner: AnsibleRunner | None = None) -> None:
        self.app = app
        self.runner = runner or make_runner(app)

    def target(self, request_id: str, env: Env) -> InstallTarget:
        return resolve_target(self.app, request_id, env, load_app_inventory(self.app))

    def install(self, target: InstallTarget, ref: str,
                on_event: Callable[[ProgressEvent], None] | None = None) -> InstallOutcome:
        """Install `ref`. Raises InstallFailed/Unreachable/AuthError/UsageError (bad ref)."""
        if not ref or ref.startswith("-") or any(c.isspace() for c in ref):
            raise UsageError(f"--ref {ref!r} is not a git ref (a tag, branch or commit).")
        return self._run(target, "install", ref=ref, release="", on_event=on_event)

    def rollback(self, target: InstallTarget, to: str | None,
                 on_event: Callable[[ProgressEvent], None] | None = None) -> InstallOutcome:
        """Switch back to the release of commit `to` (a prefix is enough), by default the
        release installed before the current one."""
        current = last_install(self.app, target.request_id, target.env)
        if current is None:
            raise NotFound(f"{target.request_id} has no successful {target.env} install to roll back from.")
        with self.app.store.read() as s:
            rows = list(s.execute(select(Install).where(
                Install.request_id == target.request_id, Install.env == target.env,
                Install.status.in_(["succeeded", "rolled-back"]), Install.commit.is_not(None))
                .order_by(Install.id.desc())).scalars())
        if to:
            match = [r for r in rows if r.commit and r.commit.startswith(to.lower())]
            if len(to) < 7 or not match:
                raise NotFound(f"no install of commit {to!r} is recorded for {target.request_id} ({target.env}).",
                               "Give at least 7 characters of a commit `provision install` installed "
                               "(see `provision audit log`).")
            chosen = match[0]
        else:
            older = [r for r in rows if r.status == "succeeded" and r.commit != current.commit]
            if not older:
                raise NotFound(f"{target.request_id} ({target.env}) has no earlier release to roll back to.")
            chosen = older[0]
        assert chosen.commit
        return self._run(target, "rollback", ref=chosen.commit, release=chosen.commit[:12], on_event=on_event)

    # ------------------------------------------------------------------------------------
    def close_stale(self, request_id: str) -> list[int]:
        """Mark `running` installs of `request_id` left by a run that died (SIGKILL, a lost
        machine) as `interrupted`, each with an audit event. Called under the request's lock
        (every command that installs holds it), so no live run owns such a row."""
        audit = self.app.audit
        with self.app.store.write() as s:
            stale = list(s.execute(select(Install).where(Install.request_id == request_id,
                                                         Install.status == "running",
                                                         Install.run_id != audit.run_id)).scalars())
            for row in stale:
                row.status, row.ended_at = "interrupted", utcnow()
            found = [(row.id, row.env, row.ref, row.run_id) for row in stale]
        for install_id, env, ref, run_id in found:
            audit.append("install", "install.interrupted", f"{request_id} {env} install #{install_id}",
                         outcome="recorded", before={"status": "running", "run": run_id},
                         after={"status": "interrupted", "ref": ref},
                         reason="its run ended without recording an outcome (killed or lost)",
                         request_id=request_id)
        return [i for i, *_ in found]

    def _run(self, target: InstallTarget, action: str, ref: str, release: str,
             on_event: Callable[[ProgressEvent], None] | None) -> InstallOutcome:
        self.close_stale(target.request_id)
        previous = last_install(self.app, target.request_id, target.env)
        prev_release = previous.release if previous else None
        change = Change("update" if previous else "create", f"install.{action}",
                        f"{target.instance} on {target.host}",
                        before={"release": prev_release, "commit": previous.commit if previous else None},
                        after={"ref": ref, "env": target.env, "host": target.host})
        audit = self.app.audit
        attempt = audit.attempt("install", change)
        with self.app.store.write() as s:
            row = Install(request_id=target.request_id, run_id=audit.run_id, env=target.env, ref=ref,
                          status="running", started_at=utcnow())
            s.add(row)
            s.flush()
            install_id = row.id
        playbook = "install.yml" if action == "install" else "rollback.yml"
        try:
            extravars = target.extravars(ref=ref if not release else "", release=release)
            if action == "install":
                from provision.install.facts import expected

                extravars["app_facts"] = expected(target, ref)
            result = self.runner.run(playbook, extravars, limit=target.host, on_event=on_event)
        except BaseException as e:
            self._finish(install_id, "failed", None, None, {})
            audit.failed(attempt, "install", change, f"{type(e).__name__}: {e}")
            raise
        hosts = {h: r.as_dict() for h, r in result.hosts.items()}
        stats = result.results.get((target.host, REPORT_TASK), {}).get("msg") or {}
        commit, rel = stats.get("commit"), stats.get("release")
        if not result.ok:
            self._finish(install_id, "failed", commit, rel, hosts)
            error = self._error(result, target, ref)
            audit.failed(attempt, "install", change, str(error))
            raise error
        if action == "rollback":
            commit = self._full_commit(target, release)
            if previous is not None:  # what served until now is the release rolled back
                with self.app.store.write() as s:
                    s.execute(update(Install).where(Install.id == previous.id).values(status="rolled-back"))
        self._finish(install_id, "succeeded", commit, rel, hosts)
        audit.succeeded(attempt, "install", change, {"commit": commit, "release": rel, "hosts": hosts,
                                                     "changed": result.changed})
        if action == "install":
            record_staging(self.app, target)
        return InstallOutcome(target, install_id, ref, commit, rel, result.changed, hosts, result.duration,
                              prev_release)

    def _full_commit(self, target: InstallTarget, release: str) -> str | None:
        with self.app.store.read() as s:
            row = s.execute(select(Install.commit).where(Install.request_id == target.request_id,
                                                         Install.commit.startswith(release),
                                                         Install.commit != release).limit(1)).scalar()
        return row or release

    def _finish(self, install_id: int, status: str, commit: str | None, release: str | None,
                hosts: dict[str, Any]) -> None:
        with self.app.store.write() as s:
            s.execute(update(Install).where(Install.id == install_id).values(
                status=status, commit=commit, release=release, hosts=json.dumps(hosts), ended_at=utcnow()))

    @staticmethod
    def _error(result: PlaybookResult, target: InstallTarget, ref: str) -> ProvisionError:
        f = result.final_failure(target.host) or result.final_failure()
        keep = "The previous release (if any) is still serving."
        if result.status == "timeout":
            return InstallFailed(f"the install of {target.instance} on {target.host} timed out.", keep)
        if f is None:
            tail = " ".join(result.stdout_tail.split())[-600:]
            return InstallFailed(f"the playbook failed before any task ran on {target.host}: {tail or result.status}.",
                                 "Check the inventory and the host; run again with --debug for details.")
        low = f.message.lower()
        if f.unreachable:
            if any(k in low for k in ("host key verification failed", "remote host identification has changed",
                                      "mismatching host key")):
                return HostKeyRefused(f"the SSH host key of {f.host} does not match the pinned key: refused. {f.message}",
                                      "If the server was really reinstalled, verify its new key out of band "
                                      "and update the known_hosts file (hosting.known_hosts).")
            return Unreachable(f"{f.host} is unreachable: {f.message}",
                               "Check that the server is up and reachable over SSH. Nothing was changed.")
        if f.task == FETCH_TASK and any(s in low for s in ("failed to checkout", "did not match", "not a valid",
                                                            "unknown revision", "couldn't find remote ref")):
            return BadRef(f"the ref {ref!r} does not exist in {target.repo_url}.",
                          "Push the tag or branch first, or name an existing one. " + keep)
        return InstallFailed(f"task '{f.task}' failed on {f.host}: {f.message}", keep)


def record_staging(app: Any, target: InstallTarget) -> None:
    """The hosting registry's staging state, with its audit event in one transaction:
    serving after a staging install, stopped or kept after a production one (also when a
    production install had nothing to do: its recorded install was written after the staging
    was stopped). A request not hosted yet (step 14 comes before step 15) has no row: the
    installs table says it."""
    from provision.store.models import Hosting

    state = "serving" if target.env == "staging" else ("stopped" if target.retire else "kept")
    with app.store.write() as s:
        row = s.get(Hosting, target.request_id)
        if row is None or row.staging == state:
            return
        before, row.staging = row.staging, state
        app.audit.append_in(s, [dict(provider="install", action="staging", outcome="recorded",
                                     target=f"{target.request_id} {instance_name(target.slug, 'staging')}",
                                     before={"staging": before}, after={"staging": state},
                                     request_id=target.request_id)])


class HostKeyRefused(AuthError):
    """The server's SSH host key is not the pinned one."""


class BadRef(UsageError):
    """The ref is not in the repository."""
