"""`provision apply`: every automated step of one request, in SOP order, with its gates.

Stages: repository (step 11); staging install, tests and the Berita Acara (step 14);
DNS, hosting, production install and the Surat Rekomendasi (step 15). Each stage is
idempotent and skips what the records show is already done, so a run interrupted
anywhere (a crash, Ctrl-C, a failing server) continues where it stopped when run again,
and repeats nothing. Each SOP step is recorded done with its output when its stages are.

The reviewed plan is the applied plan: `plan()` makes every stage's plan once (the CLI
shows them, with one checksum over all); `run()` plans each stage again as it starts,
after the stages before it, and applies that plan only when it makes exactly the changes
shown, else it stops with a Conflict (exit 7) naming the difference. Stages whose plan
can only be final later say so (`Plan.deferred`): the production install (after the
hosting), the tests and the documents (decided by the install before them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provision.errors import Aborted, ChecksFailed, Conflict, ProvisionError, UsageError
from provision.plan import Plan, differences

Say = Callable[[str], None]

# Stages whose work is decided by the stage before them, not planned as changes.
DECIDED = {
    "tests": "decided after the staging install: the application's tests run unless a passing run "
             "on the installed commit is recorded",
    "berita acara": "issued after the tests (reused when one is already issued for the installed commit)",
    "rekomendasi": "issued after the production install (reused when one is already issued)",
}
DEFERRED_PRODUCTION = ("the production vhost keeps the certificate the hosting stage puts on the server; "
                       "planned again after the stages before it")


def _only_drops(shown: Plan, now: Plan) -> bool:
    """`now` makes no change that `shown` did not (a subsequence of it)."""
    rest = iter([c.as_dict() for c in shown.changes])
    return all(any(c == x for x in rest) for c in (c.as_dict() for c in now.changes))


def _decided(provider: str, request_id: str, why: str) -> Plan:
    return Plan(provider, request_id, deferred=why)


@dataclass
class Staged:
    """One stage of `provision apply` with the plan shown for it."""

    stage: str
    step: int
    plan: Plan

    def label(self) -> dict[str, Any]:
        return {"stage": self.stage, "step": self.step}


def _files(doc: Any) -> str:
    return f"{doc.number}: " + ", ".join(str(p) for p in doc.paths.values())


@dataclass
class StageOutcome:
    stage: str
    step: int
    status: str  # done|skipped|failed
    detail: str = ""
    output_ref: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "step": self.step, "status": self.status,
                "detail": self.detail, "output_ref": self.output_ref}


@dataclass
class Pipeline:
    """Runs the stages for `request_id`. `ref` is the git ref to install (needed until a
    staging install exists); `say` reports progress lines (the CLI prints them)."""

    app: Any
    request_id: str
    ref: str | None = None
    until: int = 15
    say: Say = lambda line: None  # noqa: E731
    on_event: Callable[[Any], None] | None = None
    outcomes: list[StageOutcome] = field(default_factory=list)
    staged: list[Staged] = field(default_factory=list)  # the plans shown (plan())
    changed_stages: list[str] = field(default_factory=list)  # stages of this run that changed something
    targets: dict[str, Any] = field(default_factory=dict)  # env -> the install target its last plan resolved

    # -- helpers ----------------------------------------------------------------------
    def _steps(self) -> dict[int, str]:
        data = self.app.requests.show(self.request_id)
        return {s["number"]: s["status"] for s in data["steps"]}

    def _require_done(self, numbers: list[int], before: str) -> None:
        steps = self._steps()
        missing = [n for n in numbers if steps.get(n) != "done"]
        if missing:
            raise UsageError(
                f"{before} needs SOP step(s) {', '.join(map(str, missing))} of {self.request_id} "
                "recorded as done.",
                f"Record them with: provision request step {self.request_id} N --done")

    def _mark(self, number: int, output_ref: str | None, note: str) -> None:
        if self._steps().get(number) != "done":
            self.app.requests.step(self.request_id, number, "done", output_ref=output_ref, note=note)

    def _record(self, stage: str, step: int, status: str, detail: str = "",
                output_ref: str | None = None) -> None:
        self.outcomes.append(StageOutcome(stage, step, status, detail, output_ref))
        self.say(f"[{status}] step {step} {stage}: {detail}")

    # -- plan -------------------------------------------------------------------------
    def plan(self) -> list[Staged]:
        """Every stage's plan, made once (reads only). `run(staged)` applies exactly these:
        a stage whose plan made at run time differs stops the run with a Conflict."""
        request = self.app.requests.get(self.request_id)
        spec = self.app.specs.get(self.request_id)
        out: list[Staged] = []
        if self.until >= 11:
            from provision.gitlab import GitLabProvider

            out.append(Staged("repository", 11, GitLabProvider.from_config(self.app.config).plan(request, spec)))
        if self.until >= 14:
            out.append(Staged("staging install", 14, self._plan_install("staging")))
            out.append(Staged("tests", 14, _decided("tests", self.request_id, DECIDED["tests"])))
            out.append(Staged("berita acara", 14, _decided("report", self.request_id, DECIDED["berita acara"])))
        if self.until >= 15:
            from provision.dns import DnsProvider
            from provision.hosting import HostingProvider

            out.append(Staged("dns", 15, DnsProvider.from_config(self.app.config).plan(
                spec, self.request_id, request.opd_name)))
            out.append(Staged("hosting", 15, HostingProvider(self.app).plan([self.request_id])))
            out.append(Staged("production install", 15, self._plan_install("production")))
            out.append(Staged("rekomendasi", 15, _decided("report", self.request_id, DECIDED["rekomendasi"])))
        self.staged = out
        return out

    def _plan_install(self, env: str) -> Plan:
        """The install's plan; one that cannot be made yet (no ref, an unset setting) is
        shown as such, and the run refuses a stage that becomes plannable in between."""
        try:
            plan = self._make_install_plan(env)
        except ProvisionError as e:
            return Plan("install", self.request_id, meta={"unplanned": e.message},
                        deferred=f"cannot be planned now: {e.message}")
        if env == "production":
            plan.deferred = DEFERRED_PRODUCTION
        return plan

    def _make_install_plan(self, env: str) -> Plan:
        from provision.install.install import last_install, load_app_inventory
        from provision.install.plan import plan_install
        from provision.install.target import resolve_target

        last = last_install(self.app, self.request_id, env)
        ref = self.ref or (last.ref if last else None)
        if ref is None:
            raise UsageError(f"no {env} install of {self.request_id} yet: say which release with --ref TAG.")
        inventory = load_app_inventory(self.app)
        target = resolve_target(self.app, self.request_id, env, inventory)  # type: ignore[arg-type]
        self.targets[env] = target
        if env == "staging" and last is not None and last.ref == ref:
            production = last_install(self.app, self.request_id, "production")
            if production is not None and production.ref == ref and not target.spec.hosting.keep_staging:
                # Production serves this release and stopped staging as it went live: a
                # re-run does not bring staging back (a new release does).
                plan = Plan("install", self.request_id, existing=1, meta={"target": target.as_dict(), "ref": ref})
                plan.notes.append(f"production serves {ref}; its staging instance was stopped when it went "
                                  "live: nothing to do.")
                return plan
        installed = None
        if last is not None and last.ref == ref:  # recorded here: does the server still hold exactly that?
            from provision.install.facts import read_installed

            installed = read_installed(self.app, target, ref, inventory)
        return plan_install(target, ref, last, skip_installed=True, installed=installed)

    def _bind(self, stage: str, now: Plan) -> Plan:
        """The plan to apply for `stage`: `now` (made as the stage starts) when it makes
        the changes shown, or some of them in the same order (the others were found
        already made, e.g. a group another request's run created), else a Conflict
        naming the difference, before anything of the stage is applied. A deferred plan is binding while no earlier stage of this run
        changed anything (the world it was made against is still the one shown)."""
        shown = next((s.plan for s in self.staged if s.stage == stage), None)
        if shown is None:
            return now
        unplanned = shown.meta.get("unplanned")
        if unplanned is not None:
            if now.empty:
                return now
            raise Conflict(f"the {stage} of {self.request_id} could not be planned when the plan was shown "
                           f"({unplanned}), and now plans: {now.summary()}; nothing of it was applied.",
                           f"Review the new plan: provision apply {self.request_id} --dry-run")
        if shown.deferred and self.changed_stages:
            if not shown.same_changes(now):
                self.say(f"  planned now (after {', '.join(self.changed_stages)}): {stage}: {now.summary()}")
            return now
        if _only_drops(shown, now):  # what is gone was found made meanwhile: nothing unreviewed
            if len(now.changes) < len(shown.changes):
                self.say(f"  {stage}: {len(shown.changes) - len(now.changes)} of the changes shown were "
                         "found already made (another run or by hand); the rest as shown")
            return now
        if not shown.same_changes(now):
            raise Conflict(f"the {stage} plan of {self.request_id} changed since it was shown: "
                           + "; ".join(differences(shown, now)) + f". Nothing of the {stage} was applied.",
                           f"Review the new plan (provision apply {self.request_id} --dry-run) and run again.")
        return now

    # -- run --------------------------------------------------------------------------
    def run(self, staged: list[Staged] | None = None) -> list[StageOutcome]:
        """Apply the plans of `plan()` (made now when not given), stage by stage."""
        if staged is None:
            self.plan()
        else:
            self.staged = staged
        try:
            if self.until >= 11:
                self.repository()
            if self.until >= 14:
                self.step14()
            if self.until >= 15:
                self.step15()
        except KeyboardInterrupt:
            done = ", ".join(f"{o.stage} ({o.status})" for o in self.outcomes) or "nothing"
            raise Aborted(f"interrupted: done so far: {done}.",
                          f"Run `provision apply {self.request_id}` again to continue where it stopped.") from None
        return self.outcomes

    def repository(self) -> None:
        from provision.gitlab import GitLabProvider
        from provision.gitlab.info import remember_project

        self._require_done(list(range(1, 11)), "the repository (step 11)")
        request = self.app.requests.get(self.request_id)
        spec = self.app.specs.get(self.request_id)
        provider = GitLabProvider.from_config(self.app.config)
        plan = self._bind("repository", provider.plan(request, spec))
        facts = plan.meta.get("project")
        if not plan.empty:
            report = provider.apply(plan, self.app.audit)
            facts = report.details.get("project") or facts
            self.changed_stages.append("repository")
        remember_project(self.app, self.request_id, facts)
        url = (facts or {}).get("web_url")
        self._mark(11, url, "repository set up by provision apply")
        self._record("repository", 11, "done" if not plan.empty else "skipped", plan.summary(), url)

    def _install(self, env: str) -> Any:
        from provision.install.install import Installer, last_install

        plan = self._bind(f"{env} install", self._make_install_plan(env))
        last = last_install(self.app, self.request_id, env)
        if plan.empty:
            assert last is not None
            if env == "production":  # staging was stopped before that install was recorded
                from provision.install.install import record_staging

                record_staging(self.app, self.targets[env])
            self._record(f"{env} install", 14 if env == "staging" else 15, "skipped",
                         f"{last.ref} (commit {(last.commit or '?')[:12]}) already installed")
            return last
        installer = Installer(self.app)
        ref = plan.meta["ref"]
        outcome = installer.install(installer.target(self.request_id, env), ref, on_event=self.on_event)  # type: ignore[arg-type]
        self.changed_stages.append(f"{env} install")
        self._record(f"{env} install", 14 if env == "staging" else 15, "done",
                     f"{ref} (commit {(outcome.commit or '?')[:12]}), {outcome.changed} changes")
        return last_install(self.app, self.request_id, env)

    def step14(self) -> None:
        from provision.hosting.gate import check as gate_check
        from provision.install.apptest import AppTester
        from provision.install.install import load_app_inventory
        from provision.install.target import resolve_target
        from provision.reports import berita_acara

        self._require_done([11, 12, 13], "the install (step 14)")
        install = self._install("staging")
        gate = gate_check(self.app, self.request_id)
        if gate.passed and gate.commit == install.commit:
            self._record("tests", 14, "skipped", gate.message)
        else:
            inventory = load_app_inventory(self.app)
            target = resolve_target(self.app, self.request_id, "staging", inventory)
            report = AppTester(self.app, target, inventory).run()
            if not report.passed:
                self._record("tests", 14, "failed", "; ".join(c.name for c in report.failed))
                doc = berita_acara.issue(self.app, self.request_id, env="staging")
                raise ChecksFailed(f"{len(report.failed)} test(s) of {self.request_id} failed; the Berita "
                                   f"Acara {doc.number} records them as tidak layak.",
                                   "Fix the application, tag a new release and run provision apply --ref TAG.")
            self._record("tests", 14, "done", f"{len(report.checks)} checks passed")
        doc = berita_acara.issue(self.app, self.request_id, env="staging")
        self._record("berita acara", 14, "skipped" if doc.reused else "done", _files(doc), doc.number)
        self._mark(14, doc.number, "installed and tested by provision apply")

    def step15(self) -> None:
        from provision.dns import DnsProvider
        from provision.hosting import HostingProvider
        from provision.hosting.gate import require_passing_test
        from provision.reports import rekomendasi

        self._require_done([14], "the subdomain and hosting (step 15)")
        require_passing_test(self.app, self.request_id, "production", provider="apply")
        request = self.app.requests.get(self.request_id)
        spec = self.app.specs.get(self.request_id)
        dns = DnsProvider.from_config(self.app.config)
        plan = self._bind("dns", dns.plan(spec, self.request_id, request.opd_name))
        if not plan.empty:
            # A zone moved by another request's run is planned again and retried while our
            # changes stay identical (the DNS provider's rule); a change to ours: Conflict.
            dns.apply_replanning(plan, lambda: dns.plan(spec, self.request_id, request.opd_name),
                                 self.app.audit, progress=lambda line: self.say(f"  ... dns: {line}"))
            self.changed_stages.append("dns")
        self._record("dns", 15, "done" if not plan.empty else "skipped", plan.summary())
        hosting = HostingProvider(self.app)
        hplan = self._bind("hosting", hosting.plan([self.request_id]))
        if not hplan.empty:
            hosting.apply(hplan, self.app.audit, on_event=self.on_event)
            self.changed_stages.append("hosting")
        self._record("hosting", 15, "done" if not hplan.empty else "skipped", hplan.summary())
        self._install("production")
        doc = rekomendasi.issue(self.app, self.request_id)
        self._record("rekomendasi", 15, "skipped" if doc.reused else "done", _files(doc), doc.number)
        self._mark(15, doc.number, "subdomain and hosting issued by provision apply")
