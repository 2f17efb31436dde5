"""Requests (permohonan): opening, the record of each SOP step, closing.

Every change here is also an audit event against the request ID.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from provision.attachments import AttachmentStore
from provision.audit import AuditLog, utcnow
from provision.errors import NotFound, Problem, RequestClosed, UsageError, ValidationError
from provision.secrets import REDACTOR
from provision.store import Store
from provision.store.models import Request, RequestStep, StepAttachment

OPD_CODE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]\Z")


def _check_text(field: str, value: str, max_len: int, problems: list[Problem]) -> None:
    if not value or not value.strip():
        problems.append(Problem(field, "must not be empty"))
    elif len(value) > max_len:
        problems.append(Problem(field, f"is {len(value)} characters long, more than {max_len}"))
    elif any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        problems.append(Problem(field, "contains control or invisible characters"))


def check_filename(name: str) -> str | None:
    """Why an attachment's name is unacceptable, or None."""
    if not name or name in (".", ".."):
        return "is empty"
    if len(name.encode()) > 255:
        return "is longer than 255 bytes"
    if "/" in name or "\\" in name:
        return "must be a plain file name, without directories"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "contains control or invisible characters"
    if name.startswith("-"):
        return "must not start with '-'"
    return None


@dataclass
class StepView:
    number: int
    title: str
    status: str
    due: dt.date | None
    overdue: bool
    row: RequestStep | None
    attachments: list[dict[str, Any]]
    moved_by: list[tuple[dt.date, str]] = field(default_factory=list)  # holidays the due date skipped
    title_id: str = ""
    actors: list[str] = field(default_factory=list)  # in English
    actors_id: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        r = self.row
        return {
            "number": self.number, "title": self.title, "title_id": self.title_id, "actors": self.actors,
            "actors_id": self.actors_id, "status": self.status,
            "due": self.due.isoformat() if self.due else None, "overdue": self.overdue,
            "started_at": r.started_at.isoformat() if r and r.started_at else None,
            "started_by": r.started_by if r else None,
            "done_at": r.done_at.isoformat() if r and r.done_at else None,
            "done_by": r.done_by if r else None,
            "note": r.note if r else None, "output_ref": r.output_ref if r else None,
            "out_of_order_reason": r.out_of_order_reason if r else None,
            "attachments": self.attachments,
            "due_moved_by": [{"date": d.isoformat(), "name": n} for d, n in self.moved_by],
        }


def parse_member(text: str, problems: list[Problem]) -> dict[str, str]:
    """'NAME|NIP|PANGKAT|JABATAN' (pangkat and jabatan may be empty) as a dict; problems
    are added for the field `--member`."""
    from pydantic_core import PydanticCustomError

    from provision.config import _nip

    parts = [p.strip() for p in text.split("|")]
    if len(parts) != 4:
        problems.append(Problem("--member", f"{text!r} is not NAME|NIP|PANGKAT|JABATAN (four parts, "
                                            "pangkat and jabatan may be empty)"))
        return {}
    name, nip, rank, title = parts
    for label, value, limit in (("name", name, 300), ("pangkat", rank, 100), ("jabatan", title, 300)):
        if value or label == "name":
            _check_text(f"--member {label}", value, limit, problems)
    try:
        _nip(nip)
        if not nip:
            raise ValueError("empty")
    except (ValueError, PydanticCustomError):
        problems.append(Problem("--member NIP", f"{nip!r} is not a NIP: 18 digits, plain or written "
                                               "8-6-1-3 (19700101 199001 1 001)"))
    return {"name": name, "nip": nip, "rank": rank, "title": title}


class RequestService:
    """The request records. `today` is injectable so tests control the calendar."""

    def __init__(self, store: Store, audit: AuditLog, sop: Callable[[], Any],
                 calendar: Callable[[], Any], attachments: AttachmentStore, prefix: str = "REQ",
                 today: Callable[[], dt.date] = dt.date.today) -> None:
        # The SOP and the calendar are loaded on first use: `request list` needs neither.
        self._sop, self._calendar = sop, calendar
        self.store, self.audit = store, audit
        self.attachments, self.prefix, self.today = attachments, prefix, today
        self.id_pattern = re.compile(rf"^{re.escape(prefix)}-\d{{4}}-\d{{4,6}}\Z")

    @property
    def sop(self) -> Any:
        return self._sop()

    @property
    def calendar(self) -> Any:
        return self._calendar()

    # -- helpers ----------------------------------------------------------------------
    def _days(self, number: int) -> int | None:
        return self.sop.step(number).days

    def _due_from(self, start: dt.date, number: int) -> dt.date | None:
        days = self._days(number)
        return self.calendar.add_working_days(start, days) if days else None

    def get(self, request_id: str) -> Request:
        with self.store.read() as s:
            req = s.get(Request, request_id)
        if req is None:
            raise NotFound(f"request {request_id} does not exist.",
                           "See `provision request list` for the request IDs.")
        return req

    # -- open -------------------------------------------------------------------------
    def open(self, *, opd_code: str, opd_name: str, app_name: str, letter_number: str,
             letter_date: dt.date, request_id: str | None = None) -> Request:
        problems: list[Problem] = []
        if not OPD_CODE.match(opd_code or ""):
            problems.append(Problem("opd_code", "must be 2-32 lowercase letters, digits or hyphens, "
                                    "starting with a letter (it names the OPD's GitLab group)"))
        _check_text("opd_name", opd_name, 200, problems)
        _check_text("app_name", app_name, 200, problems)
        _check_text("letter_number", letter_number, 100, problems)
        if letter_date > self.today():
            problems.append(Problem("letter_date", f"{letter_date} is in the future"))
        if request_id is not None and not self.id_pattern.match(request_id):
            problems.append(Problem("request_id", f"must look like {self.prefix}-YYYY-NNNN"))
        if problems:
            raise ValidationError(problems, "request")
        today = self.today()
        for _attempt in range(50):
            rid = request_id or self._next_id(today.year)
            try:
                req = self._insert(rid, opd_code, opd_name, app_name, letter_number, letter_date, today)
                break
            except IntegrityError:
                if request_id:
                    raise UsageError(f"request {request_id} already exists.") from None
                # Another process took that number at the same moment: take the next.
        else:  # pragma: no cover - 50 collisions in a row
            raise UsageError("could not allocate a request ID; try again.")
        self.audit.record("request", "open", rid, request_id=rid, after={
            "opd_code": opd_code, "opd_name": opd_name, "app_name": app_name,
            "letter_number": letter_number, "letter_date": letter_date.isoformat()})
        return req

    def _next_id(self, year: int) -> str:
        stem = f"{self.prefix}-{year}-"
        with self.store.read() as s:
            last = s.execute(select(func.max(Request.id)).where(Request.id.like(stem + "%"))).scalar()
        n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        return f"{stem}{n:04d}"

    def _insert(self, rid: str, opd_code: str, opd_name: str, app_name: str,
                letter_number: str, letter_date: dt.date, today: dt.date) -> Request:
        first = self.sop.steps[0].number
        due = self._due_from(today, first)
        with self.store.write() as s:
            req = Request(id=rid, opd_code=opd_code, opd_name=opd_name, app_name=app_name,
                          letter_number=letter_number, letter_date=letter_date, status="open",
                          opened_at=utcnow(), opened_by=self.audit.actor,
                          current_step=first, current_due=due)
            s.add(req)
            s.flush()
            for step in self.sop.steps:
                s.add(RequestStep(request_id=rid, number=step.number, status="pending",
                                  due_date=due if step.number == first else None))
        return req

    # -- steps ------------------------------------------------------------------------
    def step(self, request_id: str, number: int, action: str, *, note: str | None = None,
             output_ref: str | None = None, attach: list[Path] | None = None,
             out_of_order_reason: str | None = None, members: list[str] | None = None) -> RequestStep:
        """Record that step `number` started or is done. Raises on a closed request,
        an unknown step, or a step out of SOP order without a reason. `members` are the
        people the step's output names (steps 2 and 3: the technical teams), each
        "NAME|NIP|PANGKAT|JABATAN"; they are kept in the step's audit event."""
        problems: list[Problem] = []
        if action not in ("start", "done"):
            problems.append(Problem("action", "must be start or done"))
        numbers = [s.number for s in self.sop.steps]
        if number not in numbers:
            problems.append(Problem("step", f"{number} is not a step of the SOP ({numbers[0]}-{numbers[-1]})"))
        if note is not None:
            _check_text("--note", note, 2000, problems)
        if output_ref is not None:
            _check_text("--output-ref", output_ref, 500, problems)
        for p in attach or []:
            why = check_filename(p.name)
            if why:
                problems.append(Problem("--attach", f"{p.name!r} {why}"))
        if out_of_order_reason is not None:
            _check_text("--reason", out_of_order_reason, 2000, problems)
        team = [parse_member(m, problems) for m in members or []]
        if problems:
            raise ValidationError(problems, "step record")
        req = self.get(request_id)
        if req.status != "open":
            raise RequestClosed(f"request {request_id} is closed; it refuses changes.")
        for p in attach or []:
            self.attachments.check(p)
        now = utcnow()
        new_files: list[str] = []
        try:
            row, note, output_ref, stored, earlier, before = self._record_step(
                request_id, number, action, numbers, note, output_ref, attach or [], out_of_order_reason, now,
                new_files)
        except BaseException:
            # Nothing was recorded: the files this call stored have no record (no orphans).
            for digest in new_files:
                self.attachments.discard(digest)
            raise
        after = {"status": row.status, "note": note, "output_ref": output_ref,
                 "attachments": [{"name": n, "sha256": d, "size": z} for n, d, z in stored]}
        if earlier:
            after["out_of_order"] = {"skipped": earlier, "reason": out_of_order_reason}
        if team:
            after["members"] = team
        self.audit.record("request", f"step.{action}", f"{request_id} step {number}",
                          before=before, after=after, request_id=request_id)
        return row

    def _record_step(self, request_id: str, number: int, action: str, numbers: list[int], note: str | None,
                     output_ref: str | None, attach: list[Path], out_of_order_reason: str | None,
                     now: Any, new_files: list[str]) -> tuple[Any, ...]:
        """The step's rows in one write transaction; the attachments are copied in only
        after every check passed (their digests appended to `new_files` when new)."""
        with self.store.write() as s:
            rows = {r.number: r for r in s.execute(
                select(RequestStep).where(RequestStep.request_id == request_id)).scalars()}
            row = rows[number]
            earlier = [n for n in numbers if n < number and rows[n].status != "done"]
            if earlier and not out_of_order_reason:
                raise UsageError(
                    f"step {number} comes after step(s) {', '.join(map(str, earlier))}, "
                    "which are not done.",
                    "Record those first, or pass --out-of-order --reason TEXT.")
            if row.status == "done":
                raise UsageError(f"step {number} of {request_id} is already done.")
            if action == "start" and row.status == "started":
                raise UsageError(f"step {number} of {request_id} is already started.")
            before = {"status": row.status}
            if row.started_at is None:
                row.started_at, row.started_by = now, self.audit.actor
            if action == "done":
                row.status, row.done_at, row.done_by = "done", now, self.audit.actor
            else:
                row.status = "started"
            if row.due_date is None:
                row.due_date = self._due_from(self.today(), number)
            # A secret pasted into free text by mistake is masked before it is stored.
            if note is not None:
                row.note = note = REDACTOR.text(note)
            if output_ref is not None:
                row.output_ref = output_ref = REDACTOR.text(output_ref)
            if earlier:
                row.out_of_order_reason = REDACTOR.text(out_of_order_reason or "")
            stored = []
            for p in attach:  # every check passed: copy the files in
                digest, size, new = self.attachments.put(p)
                if new:
                    new_files.append(digest)
                stored.append((p.name, digest, size))
            for name, digest, size in stored:
                s.add(StepAttachment(request_id=request_id, step=number, sha256=digest,
                                     filename=name, size=size, added_at=now,
                                     added_by=self.audit.actor))
            self._advance(s, request_id, rows, numbers)
        return row, note, output_ref, stored, earlier, before

    def _advance(self, s: Any, request_id: str, rows: dict[int, RequestStep],
                 numbers: list[int]) -> None:
        """Point the request at its first step not done, with that step's due date."""
        req = s.get(Request, request_id)
        pending = [n for n in numbers if rows[n].status != "done"]
        if not pending:
            req.current_step, req.current_due = None, None
            return
        nxt = rows[pending[0]]
        if nxt.due_date is None:
            nxt.due_date = self._due_from(self.today(), nxt.number)
        req.current_step, req.current_due = nxt.number, nxt.due_date

    # -- close ------------------------------------------------------------------------
    def close(self, request_id: str, reason: str) -> Request:
        problems: list[Problem] = []
        _check_text("--reason", reason, 2000, problems)
        if problems:
            raise ValidationError(problems, "close")
        req = self.get(request_id)
        if req.status != "open":
            raise RequestClosed(f"request {request_id} is already closed.")
        with self.store.write() as s:
            r = s.get_one(Request, request_id)
            r.status, r.closed_at, r.close_reason = "closed", utcnow(), REDACTOR.text(reason)
            r.current_due = None
        self.audit.record("request", "close", request_id, request_id=request_id,
                          before={"status": "open"}, after={"status": "closed", "reason": reason})
        return self.get(request_id)

    # -- reads ------------------------------------------------------------------------
    def list(self, opd: str | None = None, status: str | None = None,
             overdue: bool = False) -> list[dict[str, Any]]:
        q = select(Request.id, Request.opd_code, Request.app_name, Request.status,
                   Request.current_step, Request.current_due, Request.opened_at, Request.kind).order_by(Request.id)
        if opd:
            q = q.where(Request.opd_code == opd)
        if status:
            q = q.where(Request.status == status)
        today = self.today()
        if overdue:
            q = q.where(Request.status == "open", Request.current_due < today)
        with self.store.read() as s:
            rows = s.execute(q).all()
        return [{"id": r[0], "opd": r[1], "application": r[2], "status": r[3],
                 "current_step": r[4], "due": r[5].isoformat() if r[5] else None,
                 "overdue": bool(r[3] == "open" and r[5] and r[5] < today),
                 "opened": r[6].date().isoformat(), "kind": r[7]} for r in rows]

    def show(self, request_id: str) -> dict[str, Any]:
        req = self.get(request_id)
        with self.store.read() as s:
            rows = {r.number: r for r in s.execute(
                select(RequestStep).where(RequestStep.request_id == request_id)).scalars()}
            files = list(s.execute(select(StepAttachment).where(
                StepAttachment.request_id == request_id).order_by(StepAttachment.id)).scalars())
        today = self.today()
        steps: list[StepView] = []
        projected: dt.date | None = req.current_due
        previous_end: dt.date | None = req.opened_at.date()
        for st in self.sop.steps:
            row = rows.get(st.number)
            status = row.status if row else "pending"
            due = row.due_date if row else None
            # When the step's time started counting: when the step before was done (or the
            # request opened), else when the step itself started.
            start = previous_end or (row.started_at.date() if row and row.started_at else None)
            if status != "done" and due is None and projected is not None and req.status == "open":
                # projected: starts the day after the step before is due
                start = projected + dt.timedelta(days=1)
                due = self._due_from(start, st.number)
            if due is not None:
                projected = due
            previous_end = row.done_at.date() if row and row.done_at else None
            moved = [(d, self.calendar.names.get(d, "")) for d in self.calendar.holidays_between(start, due)] \
                if start and due and getattr(self.calendar, "names", None) is not None else []
            atts = [{"name": f.filename, "sha256": f.sha256, "size": f.size,
                     "intact": self.attachments.verify(f.sha256)} for f in files if f.step == st.number]
            steps.append(StepView(st.number, st.title_en, status, due,
                                  bool(req.status == "open" and status != "done" and due and due < today),
                                  row, atts, moved, st.title_id, self.sop.actor_names(st, "en"),
                                  self.sop.actor_names(st, "id")))
        return {
            "id": req.id, "opd_code": req.opd_code, "opd_name": req.opd_name,
            "application": req.app_name, "letter_number": req.letter_number,
            "letter_date": req.letter_date.isoformat(), "status": req.status,
            "opened_at": req.opened_at.isoformat(), "opened_by": req.opened_by,
            "closed_at": req.closed_at.isoformat() if req.closed_at else None,
            "close_reason": req.close_reason, "current_step": req.current_step,
            "kind": req.kind, "imported": json.loads(req.imported) if req.imported else None,
            "steps": [] if req.kind == "legacy" else [v.as_dict() for v in steps],
        }
