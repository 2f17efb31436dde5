"""Plans: the difference between a request's wanted record sets and the zone, for the
names this request owns, with the guard each name's UPDATE will carry.

Ownership model: a name is owned by the request whose ownership TXT sits at
`<prefix>.<name>`; it lists the record types that request made there. Only those types
are changed or deleted; record sets of other types at the name (made by hand) are left
alone. A name with records but no ownership record is hand-made: refused unless
`adopt`; a name owned by another request is refused unless `force`. Both take over the
whole name (every record set then at it) and are noted in the plan with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import dns.name
import dns.rdatatype

from provision.dns.errors import NotOwned
from provision.dns.records import Key, Owner, RdType, RRset, key_text, owner_name, owner_rdata, parse_owner
from provision.dns.zone import ZoneState
from provision.errors import UsageError
from provision.plan import Change, Plan

Guard = Literal["absent", "owned", "adopt"]
PROVIDER = "dns"


@dataclass(frozen=True)
class Op:
    """Provider-private part of a Change: what to send for one record set."""

    key: Key
    base: dns.name.Name  # the managed name the record set belongs to
    old: RRset | None
    new: RRset | None
    guard: Guard  # "absent": name and ownership record absent; "owned": ownership record
    owner_old: RRset | None  # as read (for "owned"); None otherwise


def _change(op: Op, kind: str) -> Change:
    action = "create" if op.old is None else "delete" if op.new is None else "update"
    return Change(action, kind, key_text(op.key),  # type: ignore[arg-type]
                  before=op.old.as_json() if op.old else None,
                  after=op.new.as_json() if op.new else None, data=op)


def _name_changes(zone: ZoneState, name: dns.name.Name, wanted: dict[RdType, RRset],
                  request_id: str, opd: str, adopt: bool, force: bool,
                  problems: list[str], notes: list[str], ttl: int) -> list[Change]:
    owner = zone.owners.get(name)
    existing = zone.at(name)
    oname = owner_name(name, zone.prefix)
    owner_old = zone.rrsets.get((oname, dns.rdatatype.TXT))
    managed: set[RdType]
    if owner is not None and owner.valid and owner.request_id == request_id:
        managed = set(existing) if owner.types is None else set(owner.types)
        guard: Guard = "owned"
        if adopt and set(existing) - managed:  # hand-made record sets beside ours, taken over
            notes.append(f"{name}: adopting the record sets made by hand beside this request's "
                         f"({', '.join(sorted(dns.rdatatype.to_text(t) for t in set(existing) - managed))})")
            managed |= set(existing)
    elif owner is None:
        if existing and not adopt:
            types = ", ".join(sorted(dns.rdatatype.to_text(t) for t in existing))
            problems.append(f"{name} has records made by hand ({types}) and no ownership record: "
                            "not touched (take it over with --adopt --reason TEXT)")
            return []
        managed = set(existing)
        guard = "adopt" if existing else "absent"
        if existing:
            notes.append(f"{name}: adopting a hand-made name (record sets "
                         f"{', '.join(sorted(dns.rdatatype.to_text(t) for t in existing))})")
    else:
        if not force:
            problems.append(f"{name} is owned by {owner.describe()}: not touched "
                            "(take it over with --force --reason TEXT)")
            return []
        managed = set(existing)
        guard = "owned"
        notes.append(f"{name}: taking over from {owner.describe()}")
    foreign = {t for t in existing if t not in managed}
    clash = [t for t in wanted if t in foreign]
    if dns.rdatatype.CNAME in wanted and foreign:
        clash = sorted(foreign)
    if dns.rdatatype.CNAME in foreign and wanted:
        clash = [dns.rdatatype.CNAME]
    if clash:
        types = ", ".join(dns.rdatatype.to_text(t) for t in sorted(set(clash)))
        problems.append(f"{name} has record sets this request did not make ({types}) that the "
                        "spec's records would replace or sit beside: not touched (--adopt --reason TEXT)")
        return []
    for t in foreign:
        notes.append(f"{name} {dns.rdatatype.to_text(t)}: made by hand, left untouched")
    g_owner_old = owner_old if guard == "owned" else None
    ops: list[Op] = []
    for t in sorted(managed - set(wanted)):
        if t in existing:
            ops.append(Op((name, t), name, existing[t], None, guard, g_owner_old))
    for t, new in sorted(wanted.items()):
        old = existing.get(t)
        if old != new:
            ops.append(Op((name, t), name, old, new, guard, g_owner_old))
    new_owner: RRset | None = None
    if wanted:
        new_owner = RRset(ttl, frozenset({owner_rdata(request_id, opd, frozenset(wanted))}))
    changes = [_change(op, "dns.rrset") for op in ops]
    if new_owner is None and owner_old is None:
        return changes
    if new_owner != owner_old:
        changes.append(_change(Op((oname, dns.rdatatype.TXT), name, owner_old, new_owner, guard,
                                  g_owner_old), "dns.owner"))
    return changes


def _new_plan(zone: ZoneState, request_id: str, primary: str) -> Plan:
    return Plan(PROVIDER, request_id, existing=zone.count(), meta={
        "zone": zone.origin.to_text(), "primary": primary, "serial": zone.serial,
        "soa": zone.soa.to_text()})


def make_plan(zone: ZoneState, wanted: dict[Key, RRset], request_id: str, opd: str, primary: str,
              *, adopt: bool = False, force: bool = False, reason: str | None = None,
              owner_ttl: int = 3600) -> Plan:
    """The plan that makes the zone hold `wanted` for this request's names.

    Raises NotOwned listing every name it may not touch, UsageError when --adopt or
    --force come without a reason.
    """
    if (adopt or force) and not (reason and reason.strip()):
        raise UsageError("--adopt and --force need --reason TEXT: the reason goes to the audit log.")
    plan = _new_plan(zone, request_id, primary)
    by_name: dict[dns.name.Name, dict[RdType, RRset]] = {}
    for (name, t), rrset in wanted.items():
        by_name.setdefault(name, {})[t] = rrset
    for name in zone.owned_by(request_id):
        by_name.setdefault(name, {})
    problems: list[str] = []
    for name in sorted(by_name):
        plan.changes += _name_changes(zone, name, by_name[name], request_id, opd, adopt, force,
                                      problems, plan.notes, owner_ttl)
    if problems:
        raise NotOwned(f"the plan for {request_id} would touch names it does not own: "
                       + "; ".join(problems) + ".",
                       "Nothing was changed. Check the names in the spec.")
    if adopt or force:
        plan.meta["takeover"] = {"adopt": adopt, "force": force, "reason": reason}
    return plan


def make_delete_plan(zone: ZoneState, request_id: str, primary: str) -> Plan:
    """The plan that removes every record set this request made and its ownership records."""
    plan = _new_plan(zone, request_id, primary)
    problems: list[str] = []
    for name in zone.owned_by(request_id):
        plan.changes += _name_changes(zone, name, {}, request_id, "", False, False,
                                      problems, plan.notes, 0)
    if not plan.changes:
        plan.notes.append(f"{zone.origin} holds no name owned by {request_id}")
    return plan


def owners_table(zone: ZoneState) -> list[dict[str, object]]:
    """Every name in the zone with its record types and owner (None: hand-made)."""
    rows: list[dict[str, object]] = []
    for name in sorted(zone.by_name):
        types = sorted(dns.rdatatype.to_text(t) for t in zone.by_name[name])
        if types == ["TXT"] and name.labels and name.parent() in zone.owners and \
                name == owner_name(name.parent(), zone.prefix):
            continue  # an ownership record: shown as the owner of its name
        o: Owner | None = zone.owners.get(name)
        rows.append({"name": name.to_text(), "types": types,
                     "owner": None if o is None else (o.request_id if o.valid else "?"),
                     "opd": None if o is None or not o.valid else o.opd})
    for name, o in sorted(zone.owners.items()):
        if name not in zone.by_name:  # ownership record left without records
            rows.append({"name": name.to_text(), "types": [], "owner": o.request_id if o.valid else "?",
                         "opd": o.opd if o.valid else None})
    return rows


__all__ = ["Op", "make_plan", "make_delete_plan", "owners_table", "parse_owner", "PROVIDER"]
