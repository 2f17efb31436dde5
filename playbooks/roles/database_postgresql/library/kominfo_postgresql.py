#!/usr/bin/python3
"""kominfo_postgresql: one application's database and role on the local PostgreSQL, isolated.

Works as the postgres user (in a forked child, setuid from root) over the local socket (psycopg2). Names
are checked against a strict pattern and quoted anyway; the password only travels as a
module argument (no_log). The database is owned by the app's role and PUBLIC loses
CONNECT on it, so other applications' roles cannot even connect. Supports check mode.
"""

from __future__ import annotations

import json
import os
import pwd
import re

from ansible.module_utils.basic import AnsibleModule

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def quote_ident(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"refusing the name {name!r}")
    return '"' + name.replace('"', '""') + '"'


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "default": "present", "choices": ["present", "absent", "ping"]},
            "name": {"type": "str", "default": ""},
            "user": {"type": "str", "default": ""},
            "password": {"type": "str", "default": "", "no_log": True},
            "update_password": {"type": "str", "default": "on_create", "choices": ["on_create", "always"], "no_log": False},
            "socket_dir": {"type": "str", "default": "/var/run/postgresql"},
            "port": {"type": "int", "default": 5432},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        import psycopg2  # noqa: F401 - imported here, before the fork, as a check
    except ImportError:
        module.fail_json(msg="python3-psycopg2 is missing on the server (apt-get install python3-psycopg2)")
    if p["state"] != "ping":
        for key in ("name", "user"):
            if not NAME.match(p[key] or ""):
                module.fail_json(msg=f"refusing the {key} {p[key]!r}: [a-z][a-z0-9_]{{0,62}} only")
        if p["state"] == "present" and not p["password"]:
            module.fail_json(msg="a password is required")
    out = as_postgres(lambda: work(p, module.check_mode))
    if "unavailable" in out:
        module.fail_json(msg=f"PostgreSQL unavailable on this server: {out['unavailable']}", unavailable=True)
    if "error" in out:
        module.fail_json(msg=f"PostgreSQL: {out['error']}")
    module.exit_json(**out["result"])


def as_postgres(fn):
    """Run fn() in a child that became the postgres user (peer authentication on the
    socket); the parent stays root, so Ansible's payload remains readable."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
            data = fn()
        except Unavailable as e:
            data = {"unavailable": str(e)}
        except Exception as e:  # noqa: BLE001 - reported to the parent
            data = {"error": f"{type(e).__name__}: {str(e).strip()}"}
        os.write(w, json.dumps(data).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b'{"error": "the worker died"}')


class Unavailable(Exception):
    pass


def work(p, check_mode):
    import psycopg2

    try:
        conn = psycopg2.connect(host=p["socket_dir"], port=p["port"], user="postgres", dbname="postgres",
                                connect_timeout=5)
    except Exception as e:  # noqa: BLE001
        raise Unavailable(" ".join(str(e).split())) from e
    conn.autocommit = True  # CREATE DATABASE cannot run in a transaction block
    cur = conn.cursor()
    if p["state"] == "ping":
        cur.execute("SHOW server_version")
        return {"result": {"changed": False, "version": cur.fetchone()[0]}}
    db, user = p["name"], p["user"]
    qdb, quser = quote_ident(db), quote_ident(user)
    cur.execute("SELECT datacl::text[] FROM pg_database WHERE datname=%s", (db,))
    row = cur.fetchone()
    db_exists, acl = row is not None, (row[0] if row else None)
    cur.execute("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname=%s", (user,))
    rrow = cur.fetchone()
    user_exists = rrow is not None
    done = []
    if p["state"] == "absent":
        if db_exists:
            done.append("dropped database")
            if not check_mode:
                cur.execute(f"DROP DATABASE {qdb} WITH (FORCE)")
        if user_exists:
            done.append("dropped role")
            if not check_mode:
                cur.execute(f"DROP ROLE {quser}")
        return {"result": {"changed": bool(done), "actions": done, "created_db": False, "created_user": False}}
    if not user_exists:
        done.append("created role")
        if not check_mode:
            cur.execute(f"CREATE ROLE {quser} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s",
                        (p["password"],))
    else:
        if rrow[0]:
            done.append("removed superuser/createdb/createrole")
            if not check_mode:
                cur.execute(f"ALTER ROLE {quser} NOSUPERUSER NOCREATEDB NOCREATEROLE")
        if p["update_password"] == "always":
            done.append("set password")
            if not check_mode:
                cur.execute(f"ALTER ROLE {quser} PASSWORD %s", (p["password"],))
    if not db_exists:
        done.append("created database")
        if not check_mode:
            cur.execute(f"CREATE DATABASE {qdb} OWNER {quser} ENCODING 'UTF8' TEMPLATE template0")
    else:
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname=%s", (db,))
        if cur.fetchone()[0] != user:
            done.append("set owner")
            if not check_mode:
                cur.execute(f"ALTER DATABASE {qdb} OWNER TO {quser}")
    # NULL acl means the defaults: PUBLIC may connect. An entry "=..." is PUBLIC's.
    if acl is None or any(a.startswith("=") for a in acl):
        done.append("revoked PUBLIC's access")
        if not check_mode:
            cur.execute(f"REVOKE ALL ON DATABASE {qdb} FROM PUBLIC")
            cur.execute(f"GRANT ALL ON DATABASE {qdb} TO {quser}")
    return {"result": {"changed": bool(done), "actions": done, "created_db": not db_exists,
                       "created_user": not user_exists}}

if __name__ == "__main__":
    main()
