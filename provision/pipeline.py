"""`provision apply`: every automated step of one request, in SOP order, with its gates.

Stages: repository (step 11); staging install, tests and the Berita Acara (step 14);
DNS, hosting, production install and the Surat Rekomendasi (step 15). Each stage is
idempotent and skips what the records show is already done, so a run interrupted
anywhere (a crash, Ctrl-C, a failing server) continues where it stopped when run again,
and repeats nothing. Each SOP step is recorded done with its output when its stages are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provision.errors import Aborted, ChecksFailed, UsageError

Say = Callable[[str], None]


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
    def preview(self) -> list[dict[str, Any]]:
        """What each stage would do, without changing anything (reads only)."""
        from provision.install.install import last_install

        out: list[dict[str, Any]] = []
        request = self.app.requests.get(self.request_id)
        spec = self.app.specs.get(self.request_id)
        if self.until >= 11:
            from provision.gitlab import GitLabProvider

            plan = GitLabProvider.from_config(self.app.config).plan(request, spec)
            out.append({"stage": "repository", "step": 11, "plan": plan.as_dict()})
        if self.until >= 14:
            for env in ("staging",):
                last = last_install(self.app, self.request_id, env)
                same = last is not None and self.ref in (None, last.ref)
                out.append({"stage": f"{env} install", "step": 14,
                            "plan": {"summary": "nothing to do" if same else f"install {self.ref} on {env}"}})
        if self.until >= 15:
            from provision.dns import DnsProvider

            dns_plan = DnsProvider(self.app.config.dns, reserved=self.app.config.names.reserved).plan(
                spec, self.request_id, request.opd_name)
            out.append({"stage": "dns", "step": 15, "plan": dns_plan.as_dict()})
            from provision.hosting import HostingProvider

            out.append({"stage": "hosting", "step": 15,
                        "plan": HostingProvider(self.app).plan([self.request_id]).as_dict()})
        return out

    # -- run --------------------------------------------------------------------------
    def run(self) -> list[StageOutcome]:
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
        plan = provider.plan(request, spec)
        facts = plan.meta.get("project")
        if not plan.empty:
            report = provider.apply(plan, self.app.audit)
            facts = report.details.get("project") or facts
        remember_project(self.app, self.request_id, facts)
        url = (facts or {}).get("web_url")
        self._mark(11, url, "repository set up by provision apply")
        self._record("repository", 11, "done" if not plan.empty else "skipped", plan.summary(), url)

    def _install(self, env: str) -> Any:
        from provision.install.install import Installer, last_install

        last = last_install(self.app, self.request_id, env)
        ref = self.ref or (last.ref if last else None)
        if ref is None:
            raise UsageError(f"no {env} install of {self.request_id} yet: say which release with --ref TAG.")
        if last is not None and last.ref == ref:
            self._record(f"{env} install", 14 if env == "staging" else 15, "skipped",
                         f"{ref} (commit {(last.commit or '?')[:12]}) already installed")
            return last
        installer = Installer(self.app)
        outcome = installer.install(installer.target(self.request_id, env), ref, on_event=self.on_event)  # type: ignore[arg-type]
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
            target = resolve_target(self.app, self.request_id, "staging", inventory)  # type: ignore[arg-type]
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
        dns = DnsProvider(self.app.config.dns, reserved=self.app.config.names.reserved)
        plan = dns.plan(spec, self.request_id, request.opd_name)
        if not plan.empty:
            dns.apply_replanning(plan, lambda: dns.plan(spec, self.request_id, request.opd_name),
                                 self.app.audit, progress=lambda line: self.say(f"  ... dns: {line}"))
        self._record("dns", 15, "done" if not plan.empty else "skipped", plan.summary())
        hosting = HostingProvider(self.app)
        hplan = hosting.plan([self.request_id])
        if not hplan.empty:
            hosting.apply(hplan, self.app.audit, on_event=self.on_event)
        self._record("hosting", 15, "done" if not hplan.empty else "skipped", hplan.summary())
        self._install("production")
        doc = rekomendasi.issue(self.app, self.request_id)
        self._record("rekomendasi", 15, "skipped" if doc.reused else "done", _files(doc), doc.number)
        self._mark(15, doc.number, "subdomain and hosting issued by provision apply")
