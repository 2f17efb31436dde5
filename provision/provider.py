"""The provider contract: read, plan, and the one loop that applies a plan.

A provider (GitLab, DNS, ...) reads what exists and returns a `Plan` from its own
`plan(...)`; `Provider.apply(plan, audit)` is the one record-then-act loop:

    for each batch of changes the provider makes in one action:
        record every change of the batch as "attempted"        (before acting)
        act: _apply_batch(batch, run) -> Outcome
        record each outcome known now: "succeeded" / "failed"  (after acting)
        stop at the first batch whose Outcome says stop
    the changes never reached are `not_attempted`
    changes whose outcome is known only later (a DNS UPDATE read back from the
    primary) are settled by _confirm(sent, run); if that raises, their attempts
    stay open in the audit log: the outcome is unknown, and the log says so
    _finish(report, run, stop) turns a stop into the provider's error (the error
    itself when nothing was applied, a PartialApply with `.report` otherwise)

A provider implements `_start` (its per-apply state), `_batches` (default: one change
at a time, in plan order), `_apply_batch`, and where needed `_confirm` and `_finish`.
Each must be idempotent: a change found already made is reported done, not made twice.
An exception that is not a ProvisionError (a bug, Ctrl-C, SIGTERM) records the batch
as failed with the exception as its reason and propagates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from provision.errors import ProvisionError
from provision.plan import ApplyReport, Change, Plan


class Recorder(Protocol):
    """What the loop needs of the audit log (provision.audit.AuditLog)."""

    def attempt(self, provider: str, change: Change) -> int: ...
    def succeeded(self, attempt_id: int, provider: str, change: Change, detail: Any = None) -> Any: ...
    def failed(self, attempt_id: int, provider: str, change: Change, reason: str) -> Any: ...


@dataclass
class Outcome:
    """What one batch did."""

    done: list[tuple[Change, Any]] = field(default_factory=list)  # with the detail to log
    failed: list[tuple[Change, str]] = field(default_factory=list)  # with the reason
    sent: list[Change] = field(default_factory=list)  # made; settled by _confirm
    stop: ProvisionError | None = None  # attempt no further batch


class Provider:
    """Base of the providers. Subclasses set `name` and implement the hooks above."""

    name: str = ""

    def apply(self, plan: Plan, audit: Recorder, **options: Any) -> ApplyReport:
        """Apply `plan` (from this provider's `plan`), recording each change before it is
        made and its outcome after. An empty plan changes nothing. Raises what
        `_finish` raises (see each provider's docstring)."""
        report = ApplyReport(plan)
        run = self._start(plan, report, **options)
        if plan.empty:
            return self._finish(report, run, None)
        attempted: set[int] = set()
        sent: list[tuple[Change, int]] = []
        stop: ProvisionError | None = None
        for batch in self._batches(plan, run):
            ids = self._record_attempts(audit, batch)
            attempted.update(id(c) for c in batch)
            try:
                out = self._apply_batch(batch, run)
            except BaseException as e:
                reason = str(e) or type(e).__name__
                self._settle(audit, [], [(i, c, reason) for c, i in zip(batch, ids)])
                raise
            by_change = {id(c): i for c, i in zip(batch, ids)}
            self._settle(audit, [(by_change[id(c)], c, d) for c, d in out.done],
                         [(by_change[id(c)], c, r) for c, r in out.failed])
            report.applied += [c for c, _ in out.done]
            report.failed += out.failed
            sent += [(c, by_change[id(c)]) for c in out.sent]
            if out.stop is not None:
                stop = out.stop
                break
        report.not_attempted += [c for c in plan.changes if id(c) not in attempted]
        if sent:
            done, failed = self._confirm([c for c, _ in sent], run, report)
            event_of = {id(c): i for c, i in sent}
            self._settle(audit, [(event_of[id(c)], c, d) for c, d in done],
                         [(event_of[id(c)], c, r) for c, r in failed])
            report.applied += [c for c, _ in done]
            report.failed += failed
        return self._finish(report, run, stop)

    # -- hooks ------------------------------------------------------------------------------
    def _start(self, plan: Plan, report: ApplyReport, **options: Any) -> Any:
        """The state of one apply, handed to the other hooks."""
        return dict(options)

    def _batches(self, plan: Plan, run: Any) -> Iterator[list[Change]]:
        """The changes in the groups one action makes; default: one at a time."""
        for change in plan.changes:
            yield [change]

    def _apply_batch(self, batch: list[Change], run: Any) -> Outcome:
        raise NotImplementedError

    def _confirm(self, sent: list[Change], run: Any,
                 report: ApplyReport) -> tuple[list[tuple[Change, Any]], list[tuple[Change, str]]]:
        """The outcome of changes made but not yet known (default: all done)."""
        return [(c, None) for c in sent], []

    def _finish(self, report: ApplyReport, run: Any, stop: ProvisionError | None) -> ApplyReport:
        """After the loop: raise for a stop (default: the error itself), else the report."""
        if stop is not None:
            raise stop
        return report

    # -- the audit log ------------------------------------------------------------------------
    def _record_attempts(self, audit: Recorder, batch: list[Change]) -> list[int]:
        """One transaction for a batch when the log offers `attempt_many`."""
        many = getattr(audit, "attempt_many", None)
        if many is not None and len(batch) > 1:
            return list(many(self.name, batch))
        return [audit.attempt(self.name, c) for c in batch]

    def _settle(self, audit: Recorder, done: list[tuple[int, Change, Any]],
                failed: list[tuple[int, Change, str]]) -> None:
        if done:
            many = getattr(audit, "succeeded_many", None)
            if many is not None and len(done) > 1:
                many(self.name, done)
            else:
                for i, c, detail in done:
                    audit.succeeded(i, self.name, c, detail)
        if failed:
            many = getattr(audit, "failed_many", None)
            if many is not None and len(failed) > 1:
                many(self.name, failed)
            else:
                for i, c, reason in failed:
                    audit.failed(i, self.name, c, reason)
