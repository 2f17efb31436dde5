"""The state store's tables (SQLAlchemy 2 declarative). Migrations in store/migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Request(Base):
    """One application request (permohonan), keyed by its request ID."""

    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(32), index=True)
    opd_name: Mapped[str] = mapped_column(String(200))
    app_name: Mapped[str] = mapped_column(String(200))
    letter_number: Mapped[str] = mapped_column(String(100))
    letter_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")  # open|closed
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(Text)
    # Denormalised for fast lists: the first step not done and when it is due.
    current_step: Mapped[int | None] = mapped_column(Integer)
    current_due: Mapped[dt.date | None] = mapped_column(Date, index=True)
    # "sop": opened by letter, runs the SOP's steps; "legacy": an application that existed
    # before the toolkit, brought in by `provision import` (no steps; `imported` holds the
    # JSON of where each fact came from).
    kind: Mapped[str] = mapped_column(String(16), default="sop", server_default="sop")
    imported: Mapped[str | None] = mapped_column(Text)


class RequestStep(Base):
    __tablename__ = "request_steps"
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|started|done
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[str | None] = mapped_column(String(200))
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    output_ref: Mapped[str | None] = mapped_column(String(500))
    out_of_order_reason: Mapped[str | None] = mapped_column(Text)


class StepAttachment(Base):
    """A file attached to a step, stored content-addressed by SHA-256."""

    __tablename__ = "step_attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(40), index=True)
    step: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    added_by: Mapped[str] = mapped_column(String(200))


class SpecVersion(Base):
    __tablename__ = "spec_versions"
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class Run(Base):
    """One CLI invocation: who, from where, what, and how it ended."""

    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str | None] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str | None] = mapped_column(String(500))  # CI job URL, host
    command: Mapped[str] = mapped_column(Text)  # secrets redacted
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(32))  # ok|failed|dry-run|interrupted
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # HMAC of the row with the audit key (provision/audit.py: run_seal); None before 0003
    seal: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    """Append-only, hash-chained: hash = HMAC-SHA256(audit key, canonical event with
    prev_hash); events before schema 0003 keep their plain SHA-256 (key_id None)."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))  # ISO 8601 UTC text: hashed as stored
    run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    request_id: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(Text)
    before: Mapped[str | None] = mapped_column(Text)  # canonical JSON
    after: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))  # attempted|succeeded|failed|recorded
    reason: Mapped[str | None] = mapped_column(Text)
    ref: Mapped[int | None] = mapped_column(Integer)  # the attempt this outcome completes
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str | None] = mapped_column(String(16))  # the audit key's id; None: unkeyed
    # JSON {request id: {row name: digest}}: the request's covered rows when written
    state: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_request_seq", "request_id", "seq"),)


class AuditHead(Base):
    """The chain's last link: locked while appending, so appends serialise."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    keyed_from: Mapped[int | None] = mapped_column(Integer)  # the first event that must be keyed


class LockInfo(Base):
    """Who holds a request's lock (informational: the lock itself is flock or an
    advisory lock, released by the OS or the server when its holder dies)."""

    __tablename__ = "lock_info"
    request_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36))
    actor: Mapped[str] = mapped_column(String(200))
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


__all__ = ["Base", "Request", "RequestStep", "StepAttachment", "SpecVersion", "Run",
           "AuditEvent", "AuditHead", "LockInfo", "UniqueConstraint"]


class Install(Base):
    """One install of a request's application at a ref (step 14 and CI deploys)."""

    __tablename__ = "installs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(40), index=True)
    run_id: Mapped[str | None] = mapped_column(String(36))
    env: Mapped[str] = mapped_column(String(20))  # staging|production
    ref: Mapped[str] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(64))
    release: Mapped[str | None] = mapped_column(String(100))
    hosts: Mapped[str | None] = mapped_column(Text)  # JSON: per-host ok/changed/failed
    # running|succeeded|failed|rolled-back|interrupted (a dead run's row, marked so by the next)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TestRun(Base):
    """One `provision test` of a request at a commit; `results` holds every check."""

    __tablename__ = "test_runs"
    __test__ = False  # not a pytest test class
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(40), index=True)
    run_id: Mapped[str | None] = mapped_column(String(36))
    env: Mapped[str] = mapped_column(String(20))
    commit: Mapped[str | None] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column()
    results: Mapped[str] = mapped_column(Text)  # JSON list of {kind, name, passed, detail}
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Hosting(Base):
    """The hosting registry: every hosted application (the SOP step 5 application list)."""

    __tablename__ = "hosting"
    request_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str] = mapped_column(String(255))
    runtime: Mapped[str] = mapped_column(String(40))
    database: Mapped[str | None] = mapped_column(String(40))
    tls_expiry: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))  # active|disabled|purged
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The staging instance: serving|stopped (by the production install)|kept (the spec keeps it).
    staging: Mapped[str | None] = mapped_column(String(20), nullable=True, default=None)


class CheckResult(Base):
    """One result of a scheduled check; kept as history."""

    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    request_id: Mapped[str | None] = mapped_column(String(40), index=True)
    check: Mapped[str] = mapped_column(String(20))  # dns|http|tls|host|gitlab
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # pass|warn|fail
    message: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class Document(Base):
    """An official document written by the toolkit (Berita Acara, Surat Rekomendasi)."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # berita-acara|rekomendasi
    number: Mapped[str] = mapped_column(String(100), unique=True)
    date: Mapped[dt.date] = mapped_column(Date)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
