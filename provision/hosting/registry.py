"""The hosting registry: every hosted application, the list SOP step 5 asks for.

Rows live in the `hosting` table (one per request); OPD and application come from the
request. `export` renders the list as JSON-ready rows, Markdown (a wiki takes it as
is) or CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from sqlalchemy import select

from provision.audit import utcnow
from provision.store.models import Hosting, Request

COLUMNS: list[tuple[str, str]] = [
    ("request", "Permohonan"), ("opd", "OPD"), ("application", "Aplikasi"), ("host", "Server"),
    ("domain", "Domain"), ("runtime", "Runtime"), ("database", "Basis data"), ("tls_expiry", "TLS berlaku s.d."),
    ("created", "Dibuat"), ("status", "Status"), ("staging", "Staging"),
]


def get(store: Any, request_id: str) -> Hosting | None:
    with store.read() as s:
        return s.get(Hosting, request_id)


def upsert(store: Any, request_id: str, *, host: str, domain: str, runtime: str, database: str,
           tls_expiry: dt.datetime | None, status: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Write the row; returns (before, after) for the audit log."""
    with store.write() as s:
        return upsert_in(s, request_id, host=host, domain=domain, runtime=runtime, database=database,
                         tls_expiry=tls_expiry, status=status)


def upsert_in(s: Any, request_id: str, *, host: str, domain: str, runtime: str, database: str,
              tls_expiry: dt.datetime | None, status: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """upsert() inside the caller's write transaction `s` (with its audit event, say)."""
    now = utcnow()
    row = s.get(Hosting, request_id)
    before = _fields(row) if row else None
    if row is None:
        row = Hosting(request_id=request_id, created_at=now)
        s.add(row)
    row.host, row.domain, row.runtime, row.database = host, domain, runtime, database
    row.tls_expiry, row.status, row.updated_at = tls_expiry, status, now
    return before, _fields(row)


def set_status(store: Any, request_id: str, status: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    with store.write() as s:
        row = s.get(Hosting, request_id)
        if row is None:
            return None, None
        before = _fields(row)
        row.status, row.updated_at = status, utcnow()
        return before, _fields(row)


def _fields(row: Hosting) -> dict[str, Any]:
    exp = row.tls_expiry
    return {"host": row.host, "domain": row.domain, "runtime": row.runtime, "database": row.database,
            "tls_expiry": exp.isoformat() if exp else None, "status": row.status}


def rows(store: Any, status: str | None = None) -> list[dict[str, Any]]:
    """Every hosted application (newest first), joined with its request."""
    q = select(Hosting, Request).join(Request, Request.id == Hosting.request_id, isouter=True)
    if status:
        q = q.where(Hosting.status == status)
    out = []
    with store.read() as s:
        for h, r in s.execute(q.order_by(Hosting.created_at.desc(), Hosting.request_id)):
            exp = h.tls_expiry
            out.append({
                "request": h.request_id, "opd": r.opd_name if r else None, "opd_code": r.opd_code if r else None,
                "application": r.app_name if r else None, "host": h.host, "domain": h.domain,
                "runtime": h.runtime, "database": h.database,
                "tls_expiry": exp.date().isoformat() if exp else None,
                "created": h.created_at.date().isoformat() if h.created_at else None, "status": h.status,
                "staging": h.staging,
            })
    return out


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def to_markdown(data: list[dict[str, Any]]) -> str:
    def esc(v: Any) -> str:
        return _cell(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(t for _, t in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(esc(r.get(k)) for k, _ in COLUMNS) + " |" for r in data]
    return "\n".join(lines) + "\n"


def to_csv(data: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([k for k, _ in COLUMNS])
    for r in data:
        # A cell starting with = + - @ is a formula to spreadsheets: defuse it.
        w.writerow(["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in (_cell(r.get(k)) for k, _ in COLUMNS)])
    return buf.getvalue()
