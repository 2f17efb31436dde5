"""Runs and the append-only, hash-chained audit log.

Every change is recorded twice: an "attempted" event written before the change is
made, then a "succeeded" or "failed" event (pointing at it through `ref`) after. A
crash in between leaves the attempt visible. Each event's hash covers the previous
event's hash, so editing, deleting, inserting or reordering events breaks the chain
at the first bad event, which `verify` names.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import hashlib
import io
import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from provision.plan import Change
from provision.secrets import REDACTOR
from provision.textcheck import spreadsheet_safe
from provision.store import Store
from provision.store.models import AuditEvent, AuditHead, Run

GENESIS = "0" * 64
_FIELDS = ("seq", "ts", "run_id", "request_id", "actor", "provider", "action", "target",
           "before", "after", "outcome", "reason", "ref", "prev_hash")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _canonical(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(REDACTOR.value(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=str)


def event_hash(fields: dict[str, Any]) -> str:
    body = json.dumps([fields[k] for k in _FIELDS], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def current_actor(environ: dict[str, str] | None = None) -> tuple[str, str | None]:
    """(actor, origin): PROVISION_ACTOR, else the GitLab CI user and job URL, else user@host."""
    env = os.environ if environ is None else environ
    host = socket.gethostname()
    if env.get("PROVISION_ACTOR"):
        return env["PROVISION_ACTOR"], host
    if env.get("GITLAB_CI") and env.get("GITLAB_USER_LOGIN"):
        return f"{env['GITLAB_USER_LOGIN']} (GitLab CI)", env.get("CI_JOB_URL") or host
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{host}", host


@dataclass
class AuditLog:
    """Appends events for one run and reads the log back."""

    store: Store
    run_id: str | None = None
    actor: str = "unknown"
    request_id: str | None = None

    # -- runs -------------------------------------------------------------------------
    def start_run(self, command: list[str], request_id: str | None, origin: str | None) -> str:
        self.run_id = str(uuid.uuid4())
        self.request_id = request_id
        with self.store.write() as s:
            s.add(Run(id=self.run_id, request_id=request_id, actor=self.actor, origin=origin,
                      command=REDACTOR.text(" ".join(command)), started_at=utcnow()))
        return self.run_id

    def end_run(self, outcome: str, exit_code: int) -> None:
        if not self.run_id:
            return
        with self.store.write() as s:
            s.execute(update(Run).where(Run.id == self.run_id).values(
                ended_at=utcnow(), outcome=outcome, exit_code=exit_code))

    # -- events -----------------------------------------------------------------------
    def append(self, provider: str, action: str, target: str, *, outcome: str,
               before: Any = None, after: Any = None, reason: str | None = None,
               ref: int | None = None, request_id: str | None = None) -> int:
        """Append one event to the chain (under the head's lock); returns its seq."""
        return self.append_all([dict(provider=provider, action=action, target=target, outcome=outcome,
                                     before=before, after=after, reason=reason, ref=ref,
                                     request_id=request_id)])[0]

    def append_all(self, events: list[dict[str, Any]]) -> list[int]:
        """Append several events in one transaction (one UPDATE message's changes, say);
        each dict takes append()'s keyword arguments. Returns their seqs in order."""
        with self.store.write() as s:
            return self.append_in(s, events)

    def append_in(self, s: Any, events: list[dict[str, Any]]) -> list[int]:
        """append_all() inside the caller's write transaction `s`: the events commit (or
        roll back) together with the caller's own rows."""
        seqs: list[int] = []
        head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
        seq, prev = head.seq, head.hash
        for ev in events:
            seq += 1
            reason = ev.get("reason")
            fields = {
                "seq": seq,
                "ts": utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "run_id": self.run_id,
                "request_id": ev.get("request_id") or self.request_id,
                "actor": self.actor,
                "provider": ev["provider"],
                "action": ev["action"],
                "target": REDACTOR.text(ev["target"]),
                "before": _canonical(ev.get("before")),
                "after": _canonical(ev.get("after")),
                "outcome": ev["outcome"],
                "reason": REDACTOR.text(reason) if reason else None,
                "ref": ev.get("ref"),
                "prev_hash": prev,
            }
            prev = event_hash(fields)
            s.add(AuditEvent(**fields, hash=prev))
            seqs.append(seq)
        head.seq, head.hash = seq, prev
        return seqs

    def record(self, provider: str, action: str, target: str, after: Any = None,
               before: Any = None, request_id: str | None = None) -> int:
        """An event that is itself the change (a record in the store, not an outside system)."""
        return self.append(provider, action, target, outcome="recorded", before=before,
                           after=after, request_id=request_id)

    # -- the change recorder used by providers ---------------------------------------
    def attempt(self, provider: str, change: Change) -> int:
        return self.append(provider, change.action, change.target, outcome="attempted",
                           before=change.before, after=change.after)

    def succeeded(self, attempt_id: int, provider: str, change: Change,
                  detail: Any = None) -> int:
        return self.append(provider, change.action, change.target, outcome="succeeded",
                           after=detail, ref=attempt_id)

    def failed(self, attempt_id: int, provider: str, change: Change, reason: str) -> int:
        return self.append(provider, change.action, change.target, outcome="failed",
                           reason=reason, ref=attempt_id)

    def attempt_many(self, provider: str, changes: list[Change]) -> list[int]:
        return self.append_all([dict(provider=provider, action=c.action, target=c.target,
                                     outcome="attempted", before=c.before, after=c.after)
                                for c in changes])

    def succeeded_many(self, provider: str, done: list[tuple[int, Change, Any]]) -> list[int]:
        return self.append_all([dict(provider=provider, action=c.action, target=c.target,
                                     outcome="succeeded", after=detail, ref=aid)
                                for aid, c, detail in done])

    def failed_many(self, provider: str, failed: list[tuple[int, Change, str]]) -> list[int]:
        return self.append_all([dict(provider=provider, action=c.action, target=c.target,
                                     outcome="failed", reason=reason, ref=aid)
                                for aid, c, reason in failed])

    @contextmanager
    def attempting(self, provider: str, change: Change) -> Iterator[int]:
        """Record the attempt; on exit record success, or failure with the error."""
        attempt_id = self.attempt(provider, change)
        try:
            yield attempt_id
        except BaseException as e:
            reason = str(e) or type(e).__name__
            self.failed(attempt_id, provider, change, reason)
            raise
        self.succeeded(attempt_id, provider, change)


def read_events(store: Store, request_id: str | None = None, since: dt.datetime | None = None,
                limit: int | None = None) -> list[AuditEvent]:
    q = select(AuditEvent).order_by(AuditEvent.seq)
    if request_id:
        q = q.where(AuditEvent.request_id == request_id)
    if since:
        q = q.where(AuditEvent.ts >= since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    if limit:
        q = q.limit(limit)
    with store.read() as s:
        return list(s.execute(q).scalars())


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_bad": self.first_bad,
                "reason": self.reason}


def verify(store: Store) -> VerifyResult:
    """Walk the chain from the genesis link; name the first event that does not fit."""
    prev, expected_seq, n = GENESIS, 1, 0
    with store.read() as s:
        for ev in s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            fields = {k: getattr(ev, k) for k in _FIELDS}
            if ev.seq != expected_seq:
                return VerifyResult(False, n, ev.seq,
                                    f"event {expected_seq} is missing (next is {ev.seq})")
            if ev.prev_hash != prev:
                return VerifyResult(False, n, ev.seq, "does not follow the previous event "
                                    "(an event was deleted, inserted or reordered before it)")
            if event_hash(fields) != ev.hash:
                return VerifyResult(False, n, ev.seq, "its content was changed after it was written")
            prev, expected_seq, n = ev.hash, ev.seq + 1, n + 1
        head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.seq != n or head.hash != prev:
        return VerifyResult(False, n, n + 1 if head.seq > n else head.seq,
                            f"the chain ends at event {n} but its head says {head.seq} "
                            "(events were removed from the end)")
    return VerifyResult(True, n)


def event_dict(ev: AuditEvent) -> dict[str, Any]:
    d = {k: getattr(ev, k) for k in _FIELDS}
    d["hash"] = ev.hash
    for k in ("before", "after"):
        if d[k] is not None:
            d[k] = json.loads(d[k])
    return d


def export(store: Store, fmt: str, request_id: str | None = None) -> Iterator[str]:
    """The log as JSON lines or CSV, one event a line, chain fields included."""
    events = read_events(store, request_id)
    if fmt == "jsonl":
        for ev in events:
            yield json.dumps(event_dict(ev), ensure_ascii=False, sort_keys=True) + "\n"
        return
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*_FIELDS, "hash"])
    for ev in events:
        writer.writerow([spreadsheet_safe(getattr(ev, k)) for k in _FIELDS] + [ev.hash])
    yield buf.getvalue()
