"""The Plan/Change model shared by every provider (GitLab, DNS, hosting, install).

A provider reads what exists, compares it with the spec and returns a Plan of Changes
(`provision.provider.Provider.plan`). Applying a plan goes through
`Provider.apply`, which records every change in the audit log *before* it is attempted
and its outcome after, so a crash leaves a visible "attempted" event. `checksum_of`
pins a list of plans (one command's, or every stage of `provision apply`) to the one
reviewed; `differences` names what changed between a plan shown and one made later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from provision.errors import UnsafePlan

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Change:
    """One change to one resource.

    `before`/`after` are JSON-serialisable and free of secrets (they reach the audit
    log); `data` is provider-private and never rendered or logged.
    """

    action: Action
    kind: str  # e.g. "dns.rrset", "gitlab.project", "gitlab.member", "hosting.vhost"
    target: str  # human-readable identity, e.g. "sisekolah.batam.go.id. A"
    before: Any = None
    after: Any = None
    data: Any = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "target": self.target,
                "before": self.before, "after": self.after}


@dataclass
class Plan:
    """What a provider would change for one request.

    `existing` counts the resources the provider manages in scope (for the safety
    thresholds); `meta` holds what pins the plan to the state it was made against
    (e.g. the zone's SOA serial); `notes` are warnings shown with the plan.
    """

    provider: str
    request_id: str
    changes: list[Change] = field(default_factory=list)
    existing: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Why this plan may only be final when its stage runs (e.g. the production install
    # needs the hosting's certificate); None: the plan shown is the plan applied.
    deferred: str | None = None
    # Provider-private state the plan was made against (targets, probe results): never
    # rendered, logged or checksummed, like Change.data.
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.changes

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        if self.empty:
            return "nothing to do"
        parts = [f"{self.count(a)} to {a}" for a in ("create", "update", "delete") if self.count(a)]
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "request": self.request_id,
                "changes": [c.as_dict() for c in self.changes], "existing": self.existing,
                "meta": self.meta, "notes": self.notes, "checksum": self.checksum(),
                "summary": self.summary(), "deferred": self.deferred}

    def checksum(self) -> str:
        """Pins the plan applied to the plan reviewed (`--checksum`)."""
        body = json.dumps([c.as_dict() for c in self.changes] + [self.meta],
                          sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def same_changes(self, other: Plan) -> bool:
        """The same changes in the same order (what `provision apply` compares: the
        state pins in `meta`, e.g. a zone's serial, may move while our changes do not)."""
        return [c.as_dict() for c in self.changes] == [c.as_dict() for c in other.changes]

    def raise_if_unsafe(self, max_update_share: float, max_delete_share: float,
                        min_existing: int = 10, force: bool = False) -> None:
        """Refuse a plan that updates or deletes more than a share of what exists.

        Small scopes (fewer than `min_existing` resources) are not checked: one record
        of three is not a mass change. Raises UnsafePlan unless `force`.
        """
        if force or self.existing < min_existing:
            return
        for action, limit in (("update", max_update_share), ("delete", max_delete_share)):
            n = self.count(action)  # type: ignore[arg-type]
            if n and n / self.existing > limit:
                raise UnsafePlan(
                    f"the {self.provider} plan would {action} {n} of {self.existing} "
                    f"existing resources, more than the {limit:.0%} allowed.",
                    "Check the plan; if it is intended, run again with --force --reason TEXT.")


def checksum_of(plans: list[Plan]) -> str:
    """One checksum over a list of plans; for one plan, that plan's own checksum (so the
    checksum `repo plan` shows is the one `repo apply --checksum` takes)."""
    if len(plans) == 1:
        return plans[0].checksum()
    body = json.dumps([[p.provider, p.request_id, p.checksum(), p.deferred] for p in plans],
                      separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def differences(shown: Plan, now: Plan) -> list[str]:
    """What `now` does that `shown` did not, and the reverse, one phrase each."""
    def key(c: Change) -> str:
        return json.dumps(c.as_dict(), sort_keys=True, default=str)

    before, after = {key(c): c for c in shown.changes}, {key(c): c for c in now.changes}
    out = [f"now also {c.action}s {c.kind} {c.target}" for k, c in after.items() if k not in before]
    out += [f"no longer {c.action}s {c.kind} {c.target}" for k, c in before.items() if k not in after]
    if not out and not shown.same_changes(now):
        out.append("the same changes in another order")
    return out


@dataclass
class ApplyReport:
    """What an apply did: every change is in exactly one of the three lists."""

    plan: Plan
    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    not_attempted: list[Change] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. per-server verification

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_attempted

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.plan.provider, "request": self.plan.request_id, "ok": self.ok,
                "applied": [c.as_dict() for c in self.applied],
                "failed": [{**c.as_dict(), "reason": r} for c, r in self.failed],
                "not_attempted": [c.as_dict() for c in self.not_attempted],
                "details": self.details}
