"""DnsProvider: a request's subdomain records in the government zone, by RFC 2136 + TSIG.

    provider = DnsProvider.from_config(config)
    plan = provider.plan(spec, "REQ-2026-0001", "Dinas Pendidikan")   # AXFR, diff, ownership
    report = provider.apply(plan, recorder)                            # UPDATEs, read back, verify

Contract: `plan` validates before any network I/O (ValidationError), reads the zone by a
signed AXFR, and raises NotOwned (exit 4) rather than plan a change to a name this
request does not own. `apply` is idempotent (an empty plan sends nothing), records every
change with `recorder.attempt` before its UPDATE and `succeeded`/`failed` after the read
back, and raises: ZoneChanged (exit 7) when the zone moved since the plan and nothing was
applied; DnsPartialApply (exit 5, `.report`) when some parts were applied; the mapped
transport error when the first part fails; VerificationFailed (exit 3, `.report`) when a
server does not serve the result within dns.verify_timeout.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from provision.config import Dns as DnsSettings
from provision.dns.errors import DnsTimeout, PrerequisiteFailed, ReadBackMismatch, ZoneChanged
from provision.dns.planner import PROVIDER, make_delete_plan, make_plan, owners_table
from provision.dns.records import key_text
from provision.dns.transport import Transport, load_keyring, parse_server, server_text
from provision.dns.update import build, groups_of, pack
from provision.dns.validate import validate_spec, zone_name
from provision.dns.verify import (
    Progress,
    ServerResult,
    before_of,
    changed_state,
    expected_of,
    mismatches,
    servers_from,
    verify_servers,
)
from provision.dns.zone import ZoneState
from provision.errors import ChecksFailed, PartialApply, ProvisionError
from provision.plan import ApplyReport, Change, Plan
from provision.provider import Outcome, Provider, Recorder

#: How often apply_replanning() tries when concurrent writers keep moving the zone: more
#: than the runs a team starts at once (each lost round is another run's win).
REPLAN_TRIES = 20


class DnsPartialApply(PartialApply):
    """Some UPDATE parts were applied, a later one was not; `.report` says which."""

    def __init__(self, message: str, report: ApplyReport, hint: str | None = None) -> None:
        super().__init__(message, [c.target for c in report.applied],
                         [c.target for c, _ in report.failed] + [c.target for c in report.not_attempted],
                         hint)
        self.report = report


class VerificationFailed(ChecksFailed):
    """Applied and read back from the primary, but some server does not serve it (yet)."""

    def __init__(self, message: str, report: ApplyReport, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.report = report


@dataclass
class _Run:
    """The state of one apply: the parts still to send, the SOA the next is pinned to."""

    report: ApplyReport
    verify: bool = True
    progress: Progress | None = None
    soa: Any = None
    queue: list[Any] = field(default_factory=list)
    index: int = 0
    what: str = ""
    msg: Any = None
    error: ProvisionError | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    queue_reported: bool = False


class DnsProvider(Provider):
    """Plans and applies one request's records in one zone."""

    name = PROVIDER

    def __init__(self, settings: DnsSettings, reserved: Iterable[str] | None = None,
                 transport: Transport | None = None) -> None:
        self.settings = settings
        self.reserved = reserved
        self.origin = zone_name(settings)
        self.prefix = settings.ownership_prefix
        self._transport = transport
        self._zone: ZoneState | None = None  # the last zone read (its NS set names the servers)
        self._serial: int | None = None  # the primary's serial after the last apply

    @classmethod
    def from_config(cls, config: Any) -> DnsProvider:
        return cls(config.dns, reserved=config.names.reserved)

    @property
    def transport(self) -> Transport:
        """Built on first use: the key file is read only when the network is needed."""
        if self._transport is None:
            self._transport = Transport(self.origin, parse_server(self.settings.primary),
                                        load_keyring(self.settings.tsig_key_file), self.settings.timeout)
        return self._transport

    # -- reading ------------------------------------------------------------------------
    def read_zone(self) -> ZoneState:
        self._zone = ZoneState.from_zone(self.transport.axfr(), self.prefix)
        return self._zone

    def list_names(self) -> list[dict[str, object]]:
        """Every name in the zone with its record types and owner (None: hand-made)."""
        return owners_table(self.read_zone())

    # -- planning -----------------------------------------------------------------------
    def plan(self, spec: Any, request_id: str, opd: str, *, adopt: bool = False,
             force: bool = False, reason: str | None = None) -> Plan:
        """The changes that make the zone hold the spec's records for this request."""
        wanted = validate_spec(spec, self.settings, self.reserved)  # before any network I/O
        zone = self.read_zone()
        plan = make_plan(zone, wanted, request_id, opd, self.transport.primary_text,
                         adopt=adopt, force=force, reason=reason,
                         owner_ttl=min(max(300, self.settings.ttl_min), self.settings.ttl_max))
        plan.raise_if_unsafe(self.settings.max_update_share, self.settings.max_delete_share, force=force)
        return plan

    def plan_delete(self, request_id: str, *, force: bool = False) -> Plan:
        """The changes that remove every record set of this request and its ownership records."""
        plan = make_delete_plan(self.read_zone(), request_id, self.transport.primary_text)
        plan.raise_if_unsafe(self.settings.max_update_share, self.settings.max_delete_share, force=force)
        return plan

    # -- applying -----------------------------------------------------------------------
    # The loop is Provider.apply; a batch is one UPDATE message (one "part"), packed and
    # pinned to the zone's SOA; its changes are settled after the read back (_confirm).
    def apply(self, plan: Plan, recorder: Recorder, *, verify: bool = True,  # type: ignore[override]
              progress: Progress | None = None) -> ApplyReport:
        return super().apply(plan, recorder, verify=verify, progress=progress)

    def _start(self, plan: Plan, report: ApplyReport, **options: Any) -> _Run:
        run = _Run(report, options.get("verify", True), options.get("progress"))
        if not plan.empty:
            run.soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, plan.meta["soa"],
                                          origin=self.origin, relativize=False)
            run.queue = pack(groups_of(plan, self.origin, self.prefix))
        return run

    def _batches(self, plan: Plan, run: _Run) -> Iterator[list[Change]]:
        t = self.transport
        while run.queue:
            groups = run.queue.pop(0)
            run.index += 1
            run.what = f"update part {run.index} of {run.index + len(run.queue)}"
            run.msg = build(t.new_update(), groups, run.soa, self.origin, self.prefix)
            try:
                run.msg.to_wire()
            except dns.exception.TooBig:
                if len(groups) > 1:
                    half = len(groups) // 2
                    run.queue[:0] = [groups[:half], groups[half:]]
                    run.index -= 1
                    continue
                run.error = ProvisionError(f"the changes to {groups[0].base} do not fit in one "
                                           "UPDATE message (65,535 bytes).", "Use fewer or shorter values.")
            yield [c for g in groups for c in g.changes]
            if run.queue:  # pin the next part to the SOA our part produced, or stop
                try:
                    now = t.soa()
                except ProvisionError as e:
                    run.error = e
                    return
                expected = (int(run.soa.serial) + 1) % 2**32
                if int(now.serial) != expected:  # type: ignore[attr-defined]
                    run.error = ZoneChanged(f"the zone changed during the apply (serial {now.serial} after "  # type: ignore[attr-defined]
                                            f"part {run.index}, expected {expected}).",
                                            "Run `provision dns plan` again.")
                    return
                run.soa = now

    def _apply_batch(self, batch: list[Change], run: _Run) -> Outcome:
        error = run.error
        if error is None:
            try:
                self.transport.send_update(run.msg, run.what)
                if run.progress:
                    run.progress(f"{run.what}: {len(batch)} changes sent")
            except DnsTimeout as e:  # sent, no answer: BIND may have applied it
                run.parts.append({"part": run.index, "status": "no answer: outcome read back", "error": str(e),
                                  "changes": [c.target for c in batch]})
                return Outcome(sent=batch, stop=e)
            except ProvisionError as e:
                error = self._diagnose(e, run.soa, run.index, run.what)
        if error is not None:
            run.parts.append({"part": run.index, "status": "failed", "error": str(error),
                              "changes": [c.target for c in batch]})
            return Outcome(failed=[(c, str(error)) for c in batch], stop=error)
        run.parts.append({"part": run.index, "status": "sent", "changes": [c.target for c in batch]})
        return Outcome(sent=batch)

    def _confirm(self, sent: list[Change], run: _Run,
                 report: ApplyReport) -> tuple[list[tuple[Change, Any]], list[tuple[Change, str]]]:
        """Read the changed record sets back from the primary (an IXFR since the plan). If
        that fails, the attempts stay open in the audit log: the outcome is unknown."""
        self._add_not_attempted_parts(run)
        try:
            serial, rrsets = changed_state(self.transport.ixfr(int(report.plan.meta["serial"])),
                                           before_of(sent))
        except ProvisionError as e:
            raise type(e)(f"{e.message} ({len(sent)} changes were sent but could not be read "
                          "back: their outcome is unknown).", "Run `provision dns plan` to see the zone.") from e
        wrong = mismatches(rrsets, expected_of(sent))
        done: list[tuple[Change, Any]] = []
        failed: list[tuple[Change, str]] = []
        for c in sent:
            why = wrong.get(c.data.key)
            if why is None:
                done.append((c, {"serial": serial}))
            else:
                failed.append((c, f"read back from the primary: {key_text(c.data.key)} {why}"))
        report.details["serial"] = serial
        report.details["read_back"] = {"serial": serial, "wrong": len(wrong)}
        self._serial = serial
        return done, failed

    def _add_not_attempted_parts(self, run: _Run) -> None:
        if run.queue_reported:
            return
        run.queue_reported = True
        for rest in run.queue:  # parts never sent
            run.parts.append({"part": len(run.parts) + 1, "status": "not attempted",
                              "changes": [c.target for g in rest for c in g.changes]})
        run.report.details["parts"] = run.parts

    def _finish(self, report: ApplyReport, run: _Run, stop: ProvisionError | None) -> ApplyReport:
        self._add_not_attempted_parts(run)
        if report.plan.empty:
            return report
        # parts never sent, in the order they would have gone
        report.not_attempted = [c for rest in run.queue for g in rest for c in g.changes]
        error = stop or run.error
        if isinstance(error, DnsTimeout) and not report.failed and not report.not_attempted:
            report.details["timeout"] = str(error)  # no answer, but the read back shows it all applied
            error = None
        if error is not None and not report.applied:
            raise error
        if error is not None or report.failed:
            first = error or ReadBackMismatch("the server answered NOERROR but the zone does not hold "
                                              f"{len(report.failed)} of the changes.")
            raise DnsPartialApply(f"DNS apply for {report.plan.request_id} was partial: {len(report.applied)} "
                                  f"changes applied, {len(report.failed)} failed, "
                                  f"{len(report.not_attempted)} not attempted ({first}).", report,
                                  "The report lists each part; plan again to finish or undo.")
        if run.verify:
            self._verify(report, run.progress)
        return report

    def apply_replanning(self, plan: Plan, replan: Callable[[], Plan], recorder: Recorder, *,
                         tries: int = REPLAN_TRIES, progress: Progress | None = None) -> ApplyReport:
        """apply(); when the zone moved between plan and UPDATE (another request's run wrote
        its own names: ZoneChanged, nothing of ours applied) plan again and retry, as long
        as the new plan makes exactly the same changes. A different plan means someone
        touched this request's names: that stays a conflict (exit 7)."""
        for attempt in range(1, tries + 1):
            try:
                return self.apply(plan, recorder, progress=progress)
            except ZoneChanged:
                again = replan()
                if again.empty:
                    return ApplyReport(again)
                if attempt == tries or [c.as_dict() for c in again.changes] != [c.as_dict() for c in plan.changes]:
                    raise
                if progress is not None:
                    progress(f"the zone changed under this apply (another writer); planned again, "
                             f"same changes: retry {attempt} of {tries - 1}")
                time.sleep(random.uniform(0.05, 0.25) * min(attempt, 8))  # spread the runs out
                plan = again
        raise AssertionError("unreachable")

    def _diagnose(self, e: ProvisionError, soa: dns.rdata.Rdata, index: int, what: str) -> ProvisionError:
        """A failed prerequisite on a part: was it the SOA pin (someone else wrote)?"""
        if not isinstance(e, PrerequisiteFailed):
            return e
        try:
            now = self.transport.soa()
        except ProvisionError:
            return e
        if now != soa:
            done = "nothing was applied" if index == 1 else f"parts 1 to {index - 1} were applied"
            return ZoneChanged(f"the zone {self.origin} changed since the plan (serial {soa.serial}, "  # type: ignore[attr-defined]
                               f"now {now.serial}): {what} was refused and {done}.",  # type: ignore[attr-defined]
                               "Run `provision dns plan` again and review the new plan.")
        return e

    def _verify(self, report: ApplyReport, progress: Progress | None) -> None:
        serial = report.details["serial"]
        servers = servers_from(list(self.settings.verify_servers),
                               self._zone if self._zone is not None else self.read_zone())
        # The read back was this very check on the primary: not repeated.
        others = [s for s in servers if s != self.transport.primary]
        found = verify_servers(self.transport, others, serial, expected_of(report.applied),
                               self.settings.verify_timeout, int(report.plan.meta["serial"]),
                               before_of(report.applied), progress)
        results = [ServerResult(server_text(*s), ok=True, serial=serial, method="read back")
                   if s == self.transport.primary else found.pop(0) for s in servers]
        report.details["verification"] = [r.as_dict() for r in results]
        bad = [r for r in results if not r.ok]
        if bad:
            raise VerificationFailed(
                f"applied, but {len(bad)} of {len(results)} authoritative servers do not serve serial "
                f"{serial} with the new records: "
                + "; ".join(f"{r.server}: {r.error}" for r in bad) + ".", report,
                "Check the secondaries' transfers (allow-transfer, notify) and run `provision dns plan` "
                "to confirm the primary.")


__all__ = ["DnsProvider", "DnsPartialApply", "VerificationFailed", "Recorder"]
