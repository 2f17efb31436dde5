"""Runs and the append-only, keyed, hash-chained audit log.

Every change is recorded twice: an "attempted" event written before the change is
made, then a "succeeded" or "failed" event (pointing at it through `ref`) after. A
crash in between leaves the attempt visible. Each event's hash covers the previous
event's hash, so editing, deleting, inserting or reordering events breaks the chain
at the first bad event, which `verify` names.

Since schema 0003 the links are HMAC-SHA256 with the audit key (provision/auditkey.py),
kept outside the database: a database writer without the key cannot recompute them.
Events before the upgrade keep their plain SHA-256 links; the first keyed event's MAC
covers the last of them, so the old part is fixed too. Each keyed event of a request
also carries the digests of that request's rows (requests, request_steps, hosting,
documents) as they are when it is written, and each run row carries a keyed seal, so
`verify` finds rows edited behind the toolkit's back. docs/audit.md says what is
guaranteed against whom.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from provision.auditkey import AuditKey
from provision.errors import SecretError
from provision.plan import Change
from provision.secrets import REDACTOR
from provision.store import Store
from provision.store.models import AuditEvent, AuditHead, Document, Hosting, Request, RequestStep, Run
from provision.textcheck import spreadsheet_safe

GENESIS = "0" * 64
_FIELDS = ("seq", "ts", "run_id", "request_id", "actor", "provider", "action", "target",
           "before", "after", "outcome", "reason", "ref", "prev_hash")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _canonical(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(REDACTOR.value(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=str)


#: What a keyed event's MAC covers: the old fields, the key's id and the rows' digests.
_KEYED_FIELDS = (*_FIELDS, "key_id", "state")


def event_hash(fields: dict[str, Any], key: AuditKey | None = None) -> str:
    """The event's link: HMAC-SHA256 with the audit key when it is keyed (key_id set),
    else the plain SHA-256 of the events written before schema 0003."""
    if fields.get("key_id"):
        if key is None:
            raise ValueError("a keyed audit event needs the audit key")
        body = json.dumps([fields[k] for k in _KEYED_FIELDS], separators=(",", ":"), ensure_ascii=False)
        return key.mac(body.encode("utf-8"))
    body = json.dumps([fields[k] for k in _FIELDS], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# -- the state rows an event vouches for ---------------------------------------------------
#: (model, the column naming the request) of each table whose rows events cover.
STATE_TABLES = ((Request, "id"), (RequestStep, "request_id"), (Hosting, "request_id"),
                (Document, "request_id"))
#: Bookkeeping columns left out of a row's digest: hosting.updated_at is rewritten by
#: every idempotent re-run that changes nothing else (and logs nothing).
_UNCOVERED = {("hosting", "updated_at")}


def _plain(v: Any) -> Any:
    """A column value as the same text on SQLite and PostgreSQL (times in UTC)."""
    if isinstance(v, dt.datetime):
        v = v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


# Columns added after rows were digested: counted once set, so an older row's digest stands.
_LATER = {("hosting", "staging")}


def row_digest(table: str, row: dict[str, Any]) -> str:
    """SHA-256 (first 32 hex digits) of one row's covered columns, by name."""
    body = json.dumps([table, sorted((k, _plain(v)) for k, v in row.items()
                                     if (table, k) not in _UNCOVERED and not ((table, k) in _LATER and v is None))],
                      separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]


def _row_name(model: Any, rid_col: str, row: dict[str, Any]) -> str:
    rest = [str(row[c.name]) for c in model.__table__.primary_key.columns if c.name != rid_col]
    return "/".join([model.__tablename__, *rest])


def state_of(s: Any, request_ids: list[str] | None = None) -> dict[str, dict[str, str]]:
    """{request id: {row name: digest}} of the covered rows (of these requests, or all)."""
    out: dict[str, dict[str, str]] = {rid: {} for rid in request_ids or []}
    for model, rid_col in STATE_TABLES:
        t = model.__table__
        q = select(t)
        if request_ids is not None:
            q = q.where(t.c[rid_col].in_(request_ids))
        for row in s.execute(q).mappings():
            r = dict(row)
            out.setdefault(r[rid_col], {})[_row_name(model, rid_col, r)] = row_digest(model.__tablename__, r)
    return out


def run_seal(key: AuditKey, row: dict[str, Any]) -> str:
    """The run row's keyed seal: HMAC over every column but the seal."""
    body = json.dumps(["runs", sorted((k, _plain(v)) for k, v in row.items() if k != "seal")],
                      separators=(",", ":"), ensure_ascii=False, default=str)
    return key.mac(body.encode("utf-8"))


def reseal_run(s: Any, key: AuditKey, run_id: str) -> None:
    """Recompute a run row's seal inside the transaction that changed it."""
    t = Run.__table__
    row = s.execute(select(t).where(t.c.id == run_id)).mappings().first()
    if row is not None:
        s.execute(update(Run).where(Run.id == run_id).values(seal=run_seal(key, dict(row))))


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
    #: The audit key file (provision/auditkey.py: key_file()); created on first use,
    #: unless the log already holds keyed events (then its loss is an error, not a new key).
    key_file: Path | None = None
    _key: AuditKey | None = field(default=None, repr=False)

    @property
    def key(self) -> AuditKey:
        if self._key is None:
            if self.key_file is None:
                raise ValueError("AuditLog needs key_file (provision.auditkey.key_file())")
            if not self.key_file.exists():
                keyed = _keyed_events(self.store)
                if keyed:
                    raise SecretError(
                        f"the audit key file {self.key_file} is missing, and the audit log holds "
                        f"{keyed} events keyed with it.",
                        "Restore the key (install -m 600 BACKUP " f"{self.key_file}" "); a new key would "
                        "not verify them. docs/audit.md, 'The key'.")
            self._key = AuditKey.load(self.key_file, create=True)
        return self._key

    # -- runs -------------------------------------------------------------------------
    def start_run(self, command: list[str], request_id: str | None, origin: str | None) -> str:
        self.run_id = str(uuid.uuid4())
        self.request_id = request_id
        key = self.key
        with self.store.write() as s:
            s.add(Run(id=self.run_id, request_id=request_id, actor=self.actor, origin=origin,
                      command=REDACTOR.text(" ".join(command)), started_at=utcnow()))
            s.flush()
            reseal_run(s, key, self.run_id)
        return self.run_id

    def end_run(self, outcome: str, exit_code: int) -> None:
        if not self.run_id:
            return
        key = self.key
        with self.store.write() as s:
            s.execute(update(Run).where(Run.id == self.run_id).values(
                ended_at=utcnow(), outcome=outcome, exit_code=exit_code))
            reseal_run(s, key, self.run_id)

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
        key = self.key
        head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
        seq, prev = head.seq, head.hash
        s.flush()  # the caller's own rows, so their digests are read as they will commit
        rids = sorted({r for r in (ev.get("request_id") or self.request_id for ev in events) if r})
        states = state_of(s, rids) if rids else {}
        keyed_from = head.keyed_from or 1
        if seq + 1 == keyed_from and seq > 0:
            # The first keyed event of a log begun before schema 0003: a seal of every
            # covered row as it is now, so later edits to them are found too.
            everything = state_of(s)
            events = [dict(provider="audit", action="seal", target="state", outcome="recorded",
                           after={"unkeyed_events": seq, "requests": len(everything)},
                           _state=everything), *events]
        for ev in events:
            seq += 1
            reason = ev.get("reason")
            fields = {
                "seq": seq,
                "ts": utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "run_id": self.run_id,
                "request_id": ev.get("request_id") or (None if "_state" in ev else self.request_id),
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
                "key_id": key.key_id,
                "state": None,
            }
            rid = fields["request_id"]
            state = ev["_state"] if "_state" in ev else ({rid: states.get(rid, {})} if rid else None)
            if state is not None:
                fields["state"] = json.dumps(state, sort_keys=True, separators=(",", ":"))
            prev = event_hash(fields, key)
            s.add(AuditEvent(**fields, hash=prev))
            if "_state" not in ev:
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
        q = q.where(AuditEvent.ts >= since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    if limit:
        q = q.limit(limit)
    with store.read() as s:
        return list(s.execute(q).scalars())


def _keyed_events(store: Store) -> int:
    with store.read() as s:
        return s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.key_id.is_not(None))).scalar_one()


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad: int | None = None
    reason: str | None = None
    #: Rows that differ from what the log says (state tables, runs); empty when all match.
    rows: list[str] = field(default_factory=list)
    unkeyed: int = 0  # events written before schema 0003 (plain SHA-256 links)
    last_hash: str = GENESIS
    keyed_from: int = 1
    key_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_bad": self.first_bad,
                "reason": self.reason, "rows": self.rows, "unkeyed": self.unkeyed,
                "key_id": self.key_id}


def verify(store: Store, key: AuditKey | None = None) -> VerifyResult:
    """Walk the chain from the genesis link and name the first event that does not fit;
    then compare the covered rows and the runs with what the log says of them."""
    prev, expected_seq, n = GENESIS, 1, 0
    expected: dict[str, dict[str, str]] = {}  # request id -> {row name: digest}
    vouched_by: dict[str, int] = {}  # request id -> the last event giving its rows
    run_ids: dict[str, int] = {}  # run id -> the first event naming it
    first_keyed_ts: str | None = None
    kid = key.key_id if key else None

    def bad(seq: int, why: str, **kw: Any) -> VerifyResult:
        return VerifyResult(False, n, seq, why, keyed_from=keyed_from, key_id=kid, **kw)

    with store.read() as s:
        head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
        keyed_from = head.keyed_from or 1
        for ev in s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            fields = {k: getattr(ev, k) for k in _KEYED_FIELDS}
            if ev.seq != expected_seq:
                return bad(ev.seq, f"event {expected_seq} is missing (next is {ev.seq})")
            if ev.prev_hash != prev:
                return bad(ev.seq, "does not follow the previous event "
                                   "(an event was deleted, inserted or reordered before it)")
            if ev.seq < keyed_from:
                if ev.key_id is not None or ev.state is not None:
                    return bad(ev.seq, f"it is keyed, but the log's unkeyed part runs to event {keyed_from - 1}")
                if event_hash(fields) != ev.hash:
                    return bad(ev.seq, "its content was changed after it was written")
            else:
                if ev.key_id is None:
                    return bad(ev.seq, f"it is not keyed, but every event from {keyed_from} on must be "
                                       "(it was written or rewritten without the audit key)")
                if key is None:
                    return bad(ev.seq, f"it is keyed with key {ev.key_id} and no audit key was given")
                if ev.key_id != key.key_id:
                    return bad(ev.seq, f"it is keyed with key {ev.key_id}, not with this audit key "
                                       f"({key.key_id}, {key.path})")
                if event_hash(fields, key) != ev.hash:
                    return bad(ev.seq, "its content was changed after it was written "
                                       "(its keyed hash does not match)")
                first_keyed_ts = first_keyed_ts or ev.ts
                if ev.state:
                    for rid, vouched in json.loads(ev.state).items():
                        expected[rid], vouched_by[rid] = vouched, ev.seq
            if ev.run_id:
                run_ids.setdefault(ev.run_id, ev.seq)
            prev, expected_seq, n = ev.hash, ev.seq + 1, n + 1
        if head.seq != n or head.hash != prev:
            return bad(n + 1 if head.seq > n else head.seq,
                       f"the chain ends at event {n} but its head says {head.seq} "
                       "(events were removed from the end)")
        unkeyed = min(n, keyed_from - 1)
        rows: list[str] = []
        if n >= keyed_from or keyed_from == 1:
            rows += _state_problems(expected, vouched_by, state_of(s))
        if key is not None:
            rows += _run_problems(s, key, run_ids, first_keyed_ts)
    return VerifyResult(not rows, n, None, "rows differ from the audit log" if rows else None,
                        rows=rows, unkeyed=unkeyed, last_hash=prev, keyed_from=keyed_from, key_id=kid)


def _state_problems(expected: dict[str, dict[str, str]], vouched_by: dict[str, int],
                    current: dict[str, dict[str, str]]) -> list[str]:
    out = []
    for rid in sorted(set(expected) | set(current)):
        want, have = expected.get(rid, {}), current.get(rid, {})
        if rid not in expected:
            out.append(f"{', '.join(sorted(have))} of {rid}: written without any audit event")
            continue
        last = vouched_by[rid]
        for name in sorted(set(want) | set(have)):
            if name not in have:
                out.append(f"{name} of {rid}: deleted after event {last}, which recorded it")
            elif name not in want:
                out.append(f"{name} of {rid}: added after event {last}, without an audit event")
            elif want[name] != have[name]:
                out.append(f"{name} of {rid}: changed after event {last}, without an audit event")
    return out


def _run_problems(s: Any, key: AuditKey, run_ids: dict[str, int], first_keyed_ts: str | None) -> list[str]:
    out = []
    seen = set()
    for row in s.execute(select(Run.__table__)).mappings():
        r = dict(row)
        seen.add(r["id"])
        if r["seal"] is None:
            started = _plain(r["started_at"])
            if first_keyed_ts is not None and started >= first_keyed_ts:
                out.append(f"runs/{r['id']}: no seal, though it started after the log was keyed")
        elif r["seal"] != run_seal(key, r):
            out.append(f"runs/{r['id']}: changed after it was sealed")
    for rid, seq in sorted(run_ids.items(), key=lambda x: x[1]):
        if rid not in seen:
            out.append(f"runs/{rid}: deleted (event {seq} names it)")
    return out


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
