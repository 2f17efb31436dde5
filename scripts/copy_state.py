"""Copy the kominfo-provision state from one database into a new, empty one.

    python scripts/copy_state.py SOURCE_URL TARGET_URL

For moving a team from SQLite to a shared PostgreSQL (docs/operations.md). Run it with the
toolkit idle (no provision command running against SOURCE), with the same kominfo-provision
version that last used SOURCE. It creates the schema in TARGET (`provision db upgrade`'s
migrations), refuses a TARGET that already holds requests, runs or audit events, copies
every table in one transaction with the rows as they are (the audit chain's hashes cover
the rows, so they verify unchanged), and on PostgreSQL moves the id sequences past the
copied rows. Afterwards: `PROVISION_DATABASE_URL=TARGET provision audit verify`.

Checked SQLite to SQLite; on a PostgreSQL target, try it on a scratch database first.
"""

from __future__ import annotations

import sys

from sqlalchemy import func, select, text

from provision.store import Store
from provision.store.models import Base


def main(source: str, target: str) -> int:
    src = Store(source, upgrade=False)  # refuses a schema other than this version's
    dst = Store(target, upgrade=True)  # creates the schema in the empty target
    tables = Base.metadata.sorted_tables  # parents before children
    with src.engine.connect() as s, dst.engine.begin() as d:
        for name in ("requests", "runs", "audit_events"):
            if d.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar():
                print(f"the target already holds {name}: copy into a new, empty database", file=sys.stderr)
                return 2
        for table in reversed(tables):  # what the new schema seeded (the audit chain's head)
            d.execute(table.delete())
        for table in tables:
            rows = [dict(r._mapping) for r in s.execute(table.select())]
            if rows:
                d.execute(table.insert(), rows)
            print(f"{table.name}: {len(rows)} rows")
        if dst.dialect == "postgresql":
            for table in tables:
                cols = list(table.primary_key.columns)
                if len(cols) == 1 and cols[0].autoincrement in (True, "auto") \
                        and cols[0].type.python_type is int:
                    c = cols[0].name
                    d.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{c}'), "
                                   f"COALESCE((SELECT MAX({c}) FROM {table.name}), 0) + 1, false)"))
    print(f"copied {src.shown_url} to {dst.shown_url}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    sys.exit(main(sys.argv[1], sys.argv[2]))
