"""HostingProvider: plan, apply and withdraw the hosting of applications (SOP step 15).

plan:  resolve each request's HostingTarget, probe its host over SSH (one round trip a
       host), compare (planner.py). Refusals a probe can prove come here, before any
       change: database server down, disk full, nginx already broken, a certificate
       that cannot be issued.
apply: every change is recorded as attempted, the secrets are written to 0600 files
       in a private directory (a new database password, a new TLS key) whose paths go to
       hosting.yml, the play runs (all applications of a host in one run; hosts in
       parallel up to `forks`), each change is then recorded as succeeded or failed, the
       files are removed, the host is probed again and the registry written.
       A target the server already hosts but the registry does not record as active (a
       run stopped between the play and the registry) gets a `hosting.registry` change;
       a plan of only those writes the rows without running the play.
       The play rolls back what a failed run created and never leaves a vhost that
       fails `nginx -t` enabled, so the previous site keeps serving.
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provision.audit import utcnow
from provision.errors import AuthError, PartialApply, ProvisionError, Unreachable
from provision.hosting import acme, planner, registry
from provision.hosting.planner import DatabaseUnavailable, HostOutOfDisk, NginxConfigBroken
from provision.hosting.probe import HostState, probe_host
from provision.hosting.target import HostingTarget, resolve_target
from provision.hosting.tls import CertificateError, LocalCA, parse_pem
from provision.install.access import ServerAccess
from provision.plan import ApplyReport, Change, Plan
from provision.secrets import REDACTOR

PROVIDER = "hosting"


class HostingFailed(ProvisionError):
    """The play failed on a host; what it created was rolled back."""


def _error_for(message: str, host: str, unreachable: bool, report: ApplyReport | None) -> ProvisionError:
    low = message.lower()
    if unreachable:
        if "host key" in low or "identification has changed" in low:
            e: ProvisionError = AuthError(f"the SSH host key of {host} does not match the pinned key: refused. {message}")
        else:
            e = Unreachable(f"{host} is unreachable: {message}", "Check that the server is up. Nothing was changed.")
    elif "unavailable on this server" in low:
        e = DatabaseUnavailable(f"the database server on {host} stopped answering during the run: {message}",
                                "Start it and run again.")
    elif "out of disk space" in low or "no space left" in low:
        e = HostOutOfDisk(f"{host} ran out of disk space: {message}", "Free some space and run again.")
    elif acme.is_acme_failure(message):
        e = acme.failure(message, host)
    elif "already invalid" in low:
        e = NginxConfigBroken(f"{message}")
    else:
        e = HostingFailed(f"hosting on {host} failed: {message}",
                          "See `provision audit log` for what was applied; fix the cause and run again.")
    e.report = report  # type: ignore[attr-defined]
    return e


def _attempt(audit: Any, c: Change) -> int:
    """Each change is logged against its own request (a run may host several)."""
    return int(audit.append(PROVIDER, c.action, c.target, outcome="attempted", before=c.before, after=c.after,
                            request_id=c.data.request_id))


def _outcome(audit: Any, attempt: int, c: Change, outcome: str, reason: str | None = None,
             detail: Any = None) -> None:
    audit.append(PROVIDER, c.action, c.target, outcome=outcome, after=detail, reason=reason, ref=attempt,
                 request_id=c.data.request_id)


class HostingProvider(ServerAccess):
    # -- reading --------------------------------------------------------------------------
    def targets(self, request_ids: list[str]) -> list[HostingTarget]:
        return [resolve_target(self.app, rid, self.inventory) for rid in request_ids]

    def read_state(self, targets: list[HostingTarget]) -> dict[str, HostState]:
        from concurrent.futures import ThreadPoolExecutor

        by_host: dict[str, list[HostingTarget]] = {}
        for t in targets:
            by_host.setdefault(t.host, []).append(t)

        def one(host: str) -> HostState:
            ts = by_host[host]
            engines = sorted({t.database for t in ts if t.database != "none"})
            return probe_host(host, self.inventory.connection(host), [planner.probe_item(t) for t in ts],
                              planner.probe_paths(ts), engines, self.cfg.ssh_config, self.cfg.known_hosts)

        with ThreadPoolExecutor(max_workers=min(self.cfg.forks, len(by_host)) or 1) as pool:
            states = list(pool.map(one, sorted(by_host)))
        return {s.host: s for s in states}

    def _ca(self) -> LocalCA:
        return LocalCA(Path(self.cfg.local_ca_cert).expanduser(), Path(self.cfg.local_ca_key_file).expanduser())

    # -- apply ----------------------------------------------------------------------------
    def plan(self, request_ids: list[str]) -> Plan:
        """The changes that `apply` would make. Raises the refusals listed in the module doc."""
        targets = self.targets(request_ids)
        states = self.read_state(targets)
        for st in states.values():
            planner.check_host(st, self.cfg.min_free_mb)
        ca_key = self._ca().key_id() if self.cfg.tls_source == "local-ca" and any(t.tls for t in targets) else None
        plan = Plan(PROVIDER, ",".join(request_ids), existing=len(targets),
                    meta={"hosts": sorted(states), "apps": [t.as_dict() for t in targets]})
        facts: dict[str, dict[str, Any]] = {}
        for t in targets:
            changes, facts[t.instance] = planner.plan_target(t, states[t.host], ca_key)
            plan.changes += changes
            if not changes:  # hosted, but maybe not yet recorded (a run that stopped in between)
                plan.changes += self._registry_change(t)
            if t.kind in ("python", "node"):
                plan.notes.append(f"{t.instance}: the {t.kind} app service is created by `provision install` "
                                  "(it needs the application's code).")
        plan.data.update(targets=targets, facts=facts, states=states)
        return plan

    def plan_renew(self, request_ids: list[str]) -> Plan:
        """`plan` plus a renewal of each application's certificate now, whatever its expiry
        (`provision hosting renew`). Refuses an application not hosted with TLS yet."""
        from provision.errors import UsageError

        plan = self.plan(request_ids)
        targets: list[HostingTarget] = plan.data["targets"]
        states: dict[str, HostState] = plan.data["states"]
        facts: dict[str, dict[str, Any]] = plan.data["facts"]
        for t in targets:
            s = states[t.host].apps[t.instance]
            if not t.tls:
                raise UsageError(f"{t.request_id} is not hosted with TLS (spec hosting.tls, hosting.tls_source): "
                                 "there is no certificate to renew.")
            if not s.get("cert_pem") or not s["vhost"]:
                raise UsageError(f"{t.request_id} has no certificate on {t.host} yet: nothing to renew.",
                                 f"Run `provision hosting apply {t.request_id}` first.")
            facts[t.instance].update(issue_cert=True, force=True)
            if not any(c.kind == "hosting.tls" and c.data is t for c in plan.changes):
                info = facts[t.instance].get("cert")
                plan.changes.append(Change("update", "hosting.tls", f"{t.domain} on {t.host}",
                                           info.as_dict() if info else None,
                                           {"names": t.server_names, "source": t.tls_source,
                                            "reason": "renewal forced by `provision hosting renew`"}, t))
        plan.meta["renew"] = True
        return plan

    def _registry_change(self, t: HostingTarget) -> list[Change]:
        """The registry row of a target the server already hosts, when it is missing or not
        active: the play's part is done, its record is not (a run stopped between the two)."""
        row = registry.get(self.app.store, t.request_id)
        if row is not None and row.status == "active" and row.host == t.host and row.domain == t.domain:
            return []
        before = {"host": row.host, "domain": row.domain, "status": row.status} if row else None
        return [Change("create" if row is None else "update", "hosting.registry", f"{t.request_id} {t.domain}",
                       before, {"host": t.host, "domain": t.domain, "status": "active"}, t)]

    def apply(self, plan: Plan, audit: Any, on_event: Callable[[Any], None] | None = None,
              reconcile: bool = False) -> ApplyReport:
        """Apply a plan from `plan()`. With `reconcile`, run the play even when the plan is
        empty (repairs drift a probe cannot see; reports what Ansible changed).
        Raises HostingFailed/DatabaseUnavailable/HostOutOfDisk/CertificateError/Unreachable
        (each with `.report`), PartialApply when some applications were hosted and some not."""
        targets: list[HostingTarget] = plan.data["targets"]
        facts: dict[str, dict[str, Any]] = plan.data["facts"]
        report = ApplyReport(plan)
        if plan.empty and not reconcile:
            return report
        if not reconcile and all(c.kind == "hosting.registry" for c in plan.changes):
            return self._apply_registry(plan, audit, report)
        workdir = self.app.config.state_dir / "ansible" / "secrets" / uuid.uuid4().hex
        workdir.mkdir(parents=True, mode=0o700)
        workdir.parent.chmod(0o700)
        attempts: list[tuple[Change, int]] = []
        try:
            items = [self._item(t, facts[t.instance], workdir) for t in targets]
            attempts = [(c, _attempt(audit, c)) for c in plan.changes]
            result = self.runner.run("hosting.yml", {
                "hosting_hosts": sorted({t.host for t in targets}), "hosting_apps": items,
                "hosting_min_free_mb": self.cfg.min_free_mb,
                "hosting_organisation": self.app.config.general.organisation_short}, on_event=on_event)
        except BaseException as e:
            for c, aid in attempts:
                _outcome(audit, aid, c, "failed", f"{type(e).__name__}: {e}")
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        hosted = result.stats.get("hosted", {}) or {}
        report.details = {"changed": result.changed, "duration": round(result.duration, 1),
                          "hosts": {h: r.as_dict() for h, r in result.hosts.items()}, "hosted": sorted(hosted)}
        for c, aid in attempts:
            t: HostingTarget = c.data
            if t.instance in hosted:
                _outcome(audit, aid, c, "succeeded", detail={"ansible_changed": result.changed})
                report.applied.append(c)
            else:
                f = result.final_failure(t.host)
                reason = f"task '{f.task}': {f.message}" if f else (result.status if result.hosts.get(t.host) else "not reached")
                _outcome(audit, aid, c, "failed", reason)
                report.failed.append((c, reason))
        if reconcile and plan.empty and result.changed:
            audit.record(PROVIDER, "reconcile", plan.request_id, after={"ansible_changed": result.changed},
                         request_id=targets[0].request_id if len(targets) == 1 else None)
        done = [t for t in targets if t.instance in hosted]
        if done:
            self._register(done, "active")
        if not result.ok:
            failed_hosts = sorted({t.host for t in targets if t.instance not in hosted})
            f = result.final_failure(failed_hosts[0] if failed_hosts else None) or result.final_failure()
            if done:
                partial = PartialApply(f"hosted {len(done)} of {len(targets)} applications; "
                                   f"{', '.join(t.instance for t in targets if t not in done)} failed: "
                                   f"{f.message if f else result.status}",
                                   [t.instance for t in done], [t.instance for t in targets if t not in done])
                partial.report = report  # type: ignore[attr-defined]
                raise partial
            message = f.message if f else " ".join(result.stdout_tail.split())[-500:] or result.status
            raise _error_for(message, f.host if f else ",".join(failed_hosts), bool(f and f.unreachable), report)
        return report

    def _apply_registry(self, plan: Plan, audit: Any, report: ApplyReport) -> ApplyReport:
        """Only registry rows to write: no play. A row is a record in our own store, not an
        outside change: its "register" event (written with it) is the whole log of it."""
        self._register([c.data for c in plan.changes], "active", plan.data["states"])
        report.applied += plan.changes
        return report

    def _item(self, t: HostingTarget, facts: dict[str, Any], workdir: Path) -> dict[str, Any]:
        password_file = cert = key = ""
        if t.database != "none":
            # A new password for the play to use only when the server has none yet.
            password = secrets.token_urlsafe(24)
            REDACTOR.add(password)
            pf = workdir / f"{t.instance}.db"
            pf.touch(mode=0o600)
            pf.write_text(password)
            password_file = str(pf)
        if t.tls and facts.get("issue_cert") and t.tls_source == "local-ca":
            chain, keyfile, _ = self._ca().issue(t.server_names, workdir)
            cert, key = str(chain), str(keyfile)
        extra: dict[str, Any] = {"tls_force": bool(facts.get("force"))}
        if t.tls and t.tls_source == "acme":
            extra.update(acme.extravars(self.cfg, self.app.config.secret, t.acme_challenge, workdir,
                                        self.app.config.dns.primary))
        return t.extravars(password_file, cert, key, self.cfg.acme_email, self.cfg.acme_server, extra)

    def _register(self, targets: list[HostingTarget], status: str,
                  states: dict[str, HostState] | None = None) -> None:
        if states is None:
            try:
                states = self.read_state(targets)
            except ProvisionError:
                states = {}
        for t in targets:
            st = states.get(t.host)
            pem = st.apps[t.instance].get("cert_pem") if st else None
            info = parse_pem(pem) if pem else None
            with self.app.store.write() as s:  # the row and its event together, or neither
                before, after = registry.upsert_in(s, t.request_id, host=t.host, domain=t.domain,
                                                   runtime=t.runtime, database=t.database,
                                                   tls_expiry=info.not_after if info else None, status=status)
                if before != after:
                    self.app.audit.append_in(s, [dict(provider=PROVIDER, action="register",
                                                      target=f"{t.request_id} {t.domain}", outcome="recorded",
                                                      before=before, after=after, request_id=t.request_id)])

    # -- withdraw -------------------------------------------------------------------------
    def plan_delete(self, request_ids: list[str], purge: bool = False) -> Plan:
        targets = self.targets(request_ids)
        states = self.read_state(targets)
        stamp = utcnow()
        plan = Plan(PROVIDER, ",".join(request_ids), existing=len(targets),
                    meta={"hosts": sorted(states), "purge": purge, "apps": [t.as_dict() for t in targets]})
        dumps: dict[str, str] = {}
        for t in targets:
            changes, dumps[t.instance] = planner.plan_withdraw(t, states[t.host], purge, stamp)
            plan.changes += changes
        plan.data.update(targets=targets, dumps=dumps)
        return plan

    def delete(self, plan: Plan, audit: Any, on_event: Callable[[Any], None] | None = None) -> ApplyReport:
        targets: list[HostingTarget] = plan.data["targets"]
        dumps: dict[str, str] = plan.data["dumps"]
        purge = bool(plan.meta.get("purge"))
        report = ApplyReport(plan)
        if plan.empty:
            return report
        active = [t for t in targets if any(c.data is t for c in plan.changes)]
        attempts = [(c, _attempt(audit, c)) for c in plan.changes]
        try:
            items = [{**t.extravars(), "purge": purge, "dump_path": dumps[t.instance]} for t in active]
            result = self.runner.run("hosting-delete.yml", {"hosting_hosts": sorted({t.host for t in active}),
                                                            "hosting_apps": items}, on_event=on_event)
        except BaseException as e:
            for c, aid in attempts:
                _outcome(audit, aid, c, "failed", f"{type(e).__name__}: {e}")
            raise
        withdrawn = result.stats.get("withdrawn", {}) or {}
        report.details = {"changed": result.changed, "duration": round(result.duration, 1),
                          "dumps": {i: p for i, p in dumps.items() if p and i in withdrawn}}
        for c, aid in attempts:
            if c.data.instance in withdrawn:
                _outcome(audit, aid, c, "succeeded")
                report.applied.append(c)
            else:
                f = result.final_failure(c.data.host)
                reason = f"task '{f.task}': {f.message}" if f else "not reached"
                _outcome(audit, aid, c, "failed", reason)
                report.failed.append((c, reason))
        for t in active:
            if t.instance in withdrawn:
                before, after = registry.set_status(self.app.store, t.request_id, "purged" if purge else "disabled")
                if before != after:
                    audit.append(PROVIDER, "register", f"{t.request_id} {t.domain}", outcome="recorded",
                                 before=before, after=after, request_id=t.request_id)
        if not result.ok:
            f = result.final_failure()
            raise _error_for(f.message if f else result.status, f.host if f else "?",
                             bool(f and f.unreachable), report)
        return report


__all__ = ["CertificateError", "DatabaseUnavailable", "HostOutOfDisk", "HostingFailed", "HostingProvider",
           "NginxConfigBroken"]
