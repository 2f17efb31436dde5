"""Copy the state from one database into a new, empty one (`provision db copy`).

For moving a team from SQLite to a shared PostgreSQL (docs/operations.md). The core of the
command: it raises ProvisionError subclasses and never prints.

- `plan_copy()` checks everything before anything is written: the target URL, the source
  (reachable, at this code's schema), the target (reachable, empty or at this schema, and
  holding no rows), and counts the source's rows.
- `copy_state()` records the copy in the source's audit log (a `recorded` event, which the
  target receives too), then holds the source still (SQLite: its write lock; PostgreSQL: a
  repeatable-read transaction holding SHARE locks on every table) while it copies every
  table, in dependency order, in one transaction on the target: the rows as they are, ids
  and the audit chain included. On PostgreSQL it moves the id sequences past the copied
  ids. Afterwards it checks that every table has as many rows as the source had and that
  the audit chain verifies on the target.

A password never appears in what this module raises or records: URLs are shown through the
redactor, which learns the target's password before anything connects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Table, delete, func, inspect, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from provision.audit import GENESIS, AuditLog, reseal_run, verify
from provision.auditkey import AuditKey
from provision.errors import ProvisionError, StateError, UsageError
from provision.secrets import REDACTOR
from provision.store.db import HEAD_REVISION, Store, _known_revision
from provision.store.models import AuditHead, Base, Run

#: Rows inserted per statement.
BATCH = 1000
URL_FORMS = "sqlite:////PATH/state.db or postgresql+psycopg://USER@HOST:5432/DB"


class CopyMismatch(ProvisionError):
    """The copy committed but does not match the source (exit 1)."""


def tables() -> list[Table]:
    """Every table of the state, parents before children."""
    return list(Base.metadata.sorted_tables)


@dataclass
class CopyPlan:
    source: Store
    target_url: str
    target_password: str | None
    target_shown: str
    target_revision: str | None  # None: an empty database, the migrations create the schema
    counts: dict[str, int]  # the source's rows per table when planned

    @property
    def source_shown(self) -> str:
        return self.source.shown_url

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source_shown, "target": self.target_shown,
                "schema": HEAD_REVISION, "target_schema": self.target_revision,
                "tables": dict(self.counts)}


@dataclass
class CopyResult:
    source: str
    target: str
    counts: dict[str, int]  # rows per table, equal in source and target
    audit_events: int  # verified on the target
    event_seq: int  # the event recording the copy (the target's last)
    sequences: list[str] = field(default_factory=list)  # PostgreSQL sequences moved on

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "tables": dict(self.counts),
                "rows": sum(self.counts.values()), "audit_events_verified": self.audit_events,
                "recorded_event": self.event_seq}


# -- the target URL --------------------------------------------------------------------------

def learn_password(url: str, password: str | None = None) -> None:
    """Tell the redactor the target's password (in the URL, or given apart) before any use."""
    REDACTOR.add(password)
    m = REDACTOR._URL_PASSWORD.search(url)
    if m:
        REDACTOR.add(m.group("pw"))
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        return
    REDACTOR.add(u.password if isinstance(u.password, str) else None)  # decoded, if %-encoded
    for value in _query_passwords(url):
        REDACTOR.add(value)


def _query_passwords(url: str) -> list[str]:
    """A password given as ?password=... (libpq takes it there too)."""
    try:
        query = make_url(url).query
    except (ArgumentError, ValueError):
        return []
    value = query.get("password")
    return [value] if isinstance(value, str) else list(value or [])


def check_target_url(url: str, source_url: str, on_command_line: bool = True,
                     option: str = "--to") -> None:
    """Refuse a target URL that is not one, holds a password where it would be kept, or is
    the source itself. Messages name `option` and never repeat the URL's password."""
    if not url or any(c.isspace() for c in url) or not url.isprintable():
        raise UsageError(f"{option}: not a database URL (empty, or with spaces or control characters).",
                         f"Use {URL_FORMS}.")
    if (REDACTOR._URL_PASSWORD.search(url) or _query_passwords(url)) and on_command_line:
        raise UsageError(f"{option}: a password in the URL is a secret, and command lines are kept "
                         "(shell history, process lists, the run log).",
                         "Give the URL in PROVISION_COPY_TO_URL instead, or the password alone in "
                         "PROVISION_COPY_TO_PASSWORD or --to-password-file (mode 0600).")
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        raise UsageError(f"{option}: not a database URL.", f"Use {URL_FORMS}.") from None
    dialect = u.get_backend_name()
    if dialect not in ("sqlite", "postgresql"):
        raise UsageError(f"{option}: unsupported database {dialect!r}: the state lives in "
                         "SQLite or PostgreSQL.", f"Use {URL_FORMS}.")
    if dialect == "sqlite" and (not u.database or u.database == ":memory:"):
        raise UsageError(f"{option}: a SQLite URL needs the database file's path.",
                         "Use sqlite:////PATH/state.db (four slashes for an absolute path).")
    if dialect == "postgresql" and (not u.host or not u.database):
        raise UsageError(f"{option}: a PostgreSQL URL needs a host and a database name.",
                         "Use postgresql+psycopg://USER@HOST:5432/DB.")
    if _same_database(url, source_url):
        raise UsageError(f"{option}: that is the source database itself.",
                         "Copy into a new, empty database.")


def _same_database(a: str, b: str) -> bool:
    try:
        ua, ub = make_url(a), make_url(b)
    except (ArgumentError, ValueError):
        return False
    if ua.get_backend_name() != ub.get_backend_name():
        return False
    if ua.get_backend_name() == "sqlite":
        return Path(ua.database or "").resolve() == Path(ub.database or "").resolve()
    return ((ua.host or "").lower(), ua.port or 5432, ua.database) == \
        ((ub.host or "").lower(), ub.port or 5432, ub.database)


# -- planning --------------------------------------------------------------------------------

class _Unchecked(Store):
    """A Store whose schema is checked here, not on open (the target may be empty)."""

    def _check_schema(self, upgrade: bool) -> None:
        pass


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database else None


def plan_copy(source_url: str, source_password: str | None, target_url: str,
              target_password: str | None, *, url_on_command_line: bool = True) -> CopyPlan:
    """Check the source and the target; write nothing. Raises what stops the copy."""
    learn_password(target_url, target_password)
    check_target_url(target_url, source_url, on_command_line=url_on_command_line)
    target_shown = REDACTOR.text(target_url)
    src_path = _sqlite_path(source_url) if source_url.startswith("sqlite") else None
    if src_path is not None and not src_path.exists():
        raise UsageError(f"the state database {REDACTOR.text(source_url)} does not exist: nothing to copy.",
                         "Check database.url / PROVISION_DATABASE_URL (or --config): the source "
                         "is the database the toolkit is configured with.")
    source = Store(source_url, password=source_password, upgrade=False)  # at this schema, or refused
    revision = _check_target(target_url, target_password, target_shown)
    with source.read() as s:
        counts = {t.name: s.execute(select(func.count()).select_from(t)).scalar_one() for t in tables()}
    return CopyPlan(source, target_url, target_password, target_shown, revision, counts)


def _open_target(url: str, password: str | None, shown: str) -> Store:
    try:
        return _Unchecked(url, password=password, upgrade=False)
    except ImportError:
        raise UsageError("--to: the PostgreSQL driver is not installed.",
                         "Install the [postgresql] extra from the wheelhouse (docs/operations.md).") from None
    except SQLAlchemyError as e:
        raise _unreachable(shown, e) from None


def _unreachable(shown: str, e: Exception) -> StateError:
    reason = str(getattr(e, "orig", None) or e).strip().splitlines() or [type(e).__name__]
    return StateError(f"cannot open the target database {shown}: {REDACTOR.text(reason[0])}",
                      "Check --to (or PROVISION_COPY_TO_URL), its password and that the server "
                      "is up; nothing was copied.")


def _check_target(url: str, password: str | None, shown: str) -> str | None:
    """The target's schema revision (None: empty); refuses one that holds anything."""
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return None  # created, with its schema, by the copy
    store = _open_target(url, password, shown)
    try:
        with store.engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            revision = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                        if "alembic_version" in names else None)
            if revision is None:
                if names:
                    raise UsageError(
                        f"the target database {shown} is not empty: it has tables "
                        f"({', '.join(sorted(names)[:5])}) but no kominfo-provision schema.",
                        "Copy into a new, empty database (createdb).")
                return None
            if revision != HEAD_REVISION and not _known_revision(revision):
                raise StateError(
                    f"the target database {shown} is at schema version {revision}, which this "
                    f"version of kominfo-provision does not know (its schema is {HEAD_REVISION}).",
                    "Copy into a new, empty database.")
            filled = _rows(conn, [t for t in tables() if t.name in names])
            if filled:
                raise _not_empty(shown, filled)
            return revision
    except SQLAlchemyError as e:
        raise _unreachable(shown, e) from None
    finally:
        store.dispose()


def _not_empty(shown: str, filled: dict[str, int]) -> UsageError:
    tables_rows = ", ".join(f"{n} holds {c} row(s)" for n, c in filled.items())
    return UsageError(f"the target database {shown} is not empty: {tables_rows}.",
                      "Copy into a new, empty database; nothing was copied.")


def _rows(conn: Connection, ts: list[Table]) -> dict[str, int]:
    """Tables holding rows, with their counts; audit_head's genesis link does not count."""
    filled: dict[str, int] = {}
    for t in ts:
        n = conn.execute(select(func.count()).select_from(t)).scalar_one()
        if t.name == AuditHead.__tablename__ and n == 1:
            head = conn.execute(select(t)).one()
            n = 0 if (head.id, head.seq, head.hash) == (1, 0, GENESIS) else 1
        if n:
            filled[t.name] = n
    return filled


# -- copying ---------------------------------------------------------------------------------

def copy_state(plan: CopyPlan, audit: AuditLog,
               on_table: Callable[[str, int], None] | None = None) -> CopyResult:
    """Record the copy in the source, copy, check. `audit` is the source's log with the
    command's run started (its run is marked ended "ok" in the target)."""
    target = _open_target(plan.target_url, plan.target_password, plan.target_shown)
    try:
        try:
            if plan.target_revision != HEAD_REVISION:
                target.upgrade()
        except SQLAlchemyError as e:
            raise _unreachable(plan.target_shown, e) from None
        seq = audit.record("db", "copy", plan.target_shown,
                           after={"from": plan.source_shown, "to": plan.target_shown,
                                  "schema": HEAD_REVISION})
        try:
            counts, head, moved = _copy(plan, target, audit.run_id, audit.key, on_table)
            result = _check(plan, target, counts, head, seq, audit.key)
        except BaseException as e:
            reason = REDACTOR.text(str(e) or type(e).__name__)
            audit.append("db", "copy", plan.target_shown, outcome="failed", reason=reason, ref=seq)
            raise
        result.sequences = moved
        return result
    finally:
        target.dispose()


def _copy(plan: CopyPlan, target: Store, run_id: str | None, key: AuditKey,
          on_table: Callable[[str, int], None] | None) -> tuple[dict[str, int], tuple[int, str], list[str]]:
    ts = tables()
    counts: dict[str, int] = {}
    moved: list[str] = []
    src_engine = plan.source.engine
    if plan.source.dialect == "sqlite":
        src_engine = src_engine.execution_options(provision_write=True)  # BEGIN IMMEDIATE
    else:
        src_engine = src_engine.execution_options(isolation_level="REPEATABLE READ")
    try:
        with src_engine.connect() as s, s.begin(), \
                target.engine.execution_options(provision_write=True).begin() as d:
            if plan.source.dialect == "postgresql":
                # Before the first read, so the snapshot is taken with writers kept out.
                s.execute(text(f"LOCK TABLE {_names(s, ts)} IN SHARE MODE"))
            if target.dialect == "postgresql":
                d.execute(text(f"LOCK TABLE {_names(d, ts)} IN EXCLUSIVE MODE"))
            filled = _rows(d, ts)  # again, inside the transaction
            if filled:
                raise _not_empty(plan.target_shown, filled)
            d.execute(delete(AuditHead))  # the genesis link the migration seeded
            for t in ts:
                counts[t.name] = _copy_table(s, d, t)
                if on_table:
                    on_table(t.name, counts[t.name])
            head = s.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
            if run_id:  # this command's run: it ends with the copy
                d.execute(update(Run).where(Run.id == run_id).values(
                    ended_at=dt.datetime.now(dt.UTC), outcome="ok", exit_code=0))
                reseal_run(d, key, run_id)
            if target.dialect == "postgresql":
                moved = _move_sequences(d, ts)
    except SQLAlchemyError as e:
        raise StateError(f"copying to {plan.target_shown} failed, nothing was copied: "
                         f"{REDACTOR.text(str(getattr(e, 'orig', None) or e).strip().splitlines()[0])}",
                         "The target is as it was (with the schema only); fix the cause and run "
                         "the copy again.") from None
    return counts, (head.seq, head.hash), moved


def _names(conn: Connection, ts: list[Table]) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return ", ".join(quote(t.name) for t in ts)


def _copy_table(s: Connection, d: Connection, t: Table) -> int:
    aware = [c.name for c in t.columns if isinstance(c.type, DateTime) and c.type.timezone]
    n = 0
    result = s.execute(t.select().order_by(*t.primary_key.columns))
    for chunk in result.mappings().partitions(BATCH):
        rows = [dict(r) for r in chunk]
        for r in rows:
            for c in aware:
                r[c] = _utc(r[c])
        d.execute(t.insert(), rows)
        n += len(rows)
    return n


def _utc(v: Any) -> Any:
    """SQLite keeps times without their zone (the toolkit writes UTC): say so, for PostgreSQL."""
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)
    return v


def _move_sequences(d: Connection, ts: list[Table]) -> list[str]:
    """Set each id sequence so the next id follows the largest copied one."""
    quote = d.dialect.identifier_preparer.quote
    moved = []
    for t in ts:
        for c in t.primary_key.columns:
            seq = d.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                            {"t": quote(t.name), "c": c.name}).scalar()
            if seq:
                d.execute(text(f"SELECT setval(CAST(:seq AS regclass), COALESCE((SELECT MAX({quote(c.name)}) "
                               f"FROM {quote(t.name)}), 0) + 1, false)"), {"seq": seq})
                moved.append(seq)
    return moved


def _check(plan: CopyPlan, target: Store, counts: dict[str, int], head: tuple[int, str],
           seq: int, key: AuditKey) -> CopyResult:
    problems = []
    with target.engine.connect() as d:
        for t in tables():
            n = d.execute(select(func.count()).select_from(t)).scalar_one()
            if n != counts[t.name]:
                problems.append(f"{t.name} has {n} rows, the source {counts[t.name]}")
        got = d.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    if (got.seq, got.hash) != head:
        problems.append(f"the audit head is at event {got.seq}, the source's at {head[0]}")
    chain = verify(target, key)  # the same key verifies the copy: it travels as a file (docs/audit.md)
    if not chain.ok and chain.first_bad is not None:
        problems.append(f"the audit chain is broken at event {chain.first_bad}: {chain.reason}")
    elif not chain.ok:
        problems.append(f"rows differ from the audit log: {'; '.join(chain.rows[:5])}")
    if problems:
        raise CopyMismatch(f"the copy in {plan.target_shown} does not match the source: "
                           + "; ".join(problems) + ".",
                           "Do not use the target: drop it, find out what wrote to it, and copy "
                           "again into a new, empty database.")
    return CopyResult(plan.source_shown, plan.target_shown, counts, chain.checked, seq)
