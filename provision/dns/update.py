"""UPDATE messages for a plan: prerequisites on every write, split by size.

Every message starts with `present(zone, SOA)`: the exact SOA the plan was made against
(for the first message) or the one our previous message produced. Any other writer in
between changes the serial and the message fails with NXRRSET before anything in it is
applied. Then, per managed name (never split across messages, so one name's record sets
and its ownership record change together):
- name and ownership record absent (new name): `absent(name)`, `absent(owner)`;
- owned: `present(owner, exact TXT)`; adopted: `absent(owner)`;
- per record set: creation `absent(name, type)`, change and deletion `present(name,
  exact old values)`; deletion removes exactly the values read from the zone.
Deletions come before additions, so a CNAME can replace other data in one message.

BIND limits an RRset to 100 records (validation refuses more); messages are split so
that each fits in 65,535 bytes signed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.update

from provision.dns.planner import Op
from provision.dns.records import owner_name
from provision.plan import Change, Plan

#: Bytes per message before the SOA prerequisite and the signature (about 200 bytes);
#: the estimate is checked by to_wire(), and a part that is still too big is halved.
BUDGET = 64_000
_RR_FIXED = 2 + 10  # compressed owner name pointer + type, class, ttl, rdlength


@dataclass
class Group:
    base: dns.name.Name
    changes: list[Change] = field(default_factory=list)
    size: int = 0

    @property
    def ops(self) -> list[Op]:
        return [c.data for c in self.changes]


def _rdlen(rd: dns.rdata.Rdata) -> int:
    return len(rd.to_digestable())


def _estimate(group: Group, origin: dns.name.Name, prefix_len: int) -> int:
    """Bytes this group adds to a message, as build() writes it (names compressed)."""
    ops = group.ops
    rel = group.base.relativize(origin)
    size = sum(len(label) + 1 for label in rel.labels) + 2 + prefix_len + 1 + 2  # both names once
    guard = ops[0].guard
    if guard == "absent":
        size += 2 * _RR_FIXED
    elif guard == "adopt":
        size += _RR_FIXED
    elif ops[0].owner_old is not None:
        size += sum(_RR_FIXED + _rdlen(rd) for rd in ops[0].owner_old.rdatas)
    for op in ops:
        if op.old is None:
            size += _RR_FIXED if guard != "absent" else 0  # absent(name, type)
        else:
            old = sum(_RR_FIXED + _rdlen(rd) for rd in op.old.rdatas)
            size += old + (old if op.new is None else _RR_FIXED)  # present, then delete
        if op.new is not None:
            size += sum(_RR_FIXED + _rdlen(rd) for rd in op.new.rdatas)
    return size


def groups_of(plan: Plan, origin: dns.name.Name, prefix: str) -> list[Group]:
    """The plan's changes grouped by managed name, in plan order."""
    groups: dict[dns.name.Name, Group] = {}
    for c in plan.changes:
        op: Op = c.data
        groups.setdefault(op.base, Group(op.base)).changes.append(c)
    out = list(groups.values())
    for g in out:
        g.size = _estimate(g, origin, len(prefix))
    return out


def pack(groups: list[Group], budget: int | None = None) -> list[list[Group]]:
    """Consecutive groups into messages of at most `budget` (BUDGET) estimated bytes."""
    budget = BUDGET if budget is None else budget
    parts: list[list[Group]] = []
    current: list[Group] = []
    used = 0
    for g in groups:
        if current and used + g.size > budget:
            parts.append(current)
            current, used = [], 0
        current.append(g)
        used += g.size
    if current:
        parts.append(current)
    return parts


def build(msg: dns.update.UpdateMessage, groups: list[Group], soa: dns.rdata.Rdata,
          origin: dns.name.Name, prefix: str) -> dns.update.UpdateMessage:
    """Fill an empty UpdateMessage with the prerequisites and updates of `groups`."""
    msg.present(origin, soa)
    for g in groups:
        ops = g.ops
        guard = ops[0].guard
        oname = owner_name(g.base, prefix)
        if guard == "absent":
            msg.absent(g.base)
            msg.absent(oname)
        elif guard == "adopt":
            msg.absent(oname)
        else:
            owner_old = ops[0].owner_old
            if owner_old is not None:
                msg.present(oname, *owner_old.rdatas)
        for op in ops:
            name, rdtype = op.key
            if op.old is None:
                if guard != "absent" and not (name == oname and guard == "adopt"):
                    msg.absent(name, rdtype)
            elif not (name == oname and guard == "owned"):
                msg.present(name, *op.old.rdatas)
        for op in ops:
            name, rdtype = op.key
            if op.old is not None and op.new is None:
                msg.delete(name, *op.old.rdatas)
            elif op.old is not None:
                msg.delete(name, rdtype)
        for op in ops:
            if op.new is not None:
                msg.add(op.key[0], op.new.ttl, *op.new.rdatas)
    return msg

