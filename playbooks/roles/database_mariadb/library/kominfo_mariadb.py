#!/usr/bin/python3
"""kominfo_mariadb: one application's database and user on the local MariaDB, isolated.

Connects as root over the local socket (PyMySQL). Names are checked against a strict
pattern and quoted anyway; the password only travels as a module argument (no_log),
never on a command line. Supports check mode.

state=ping     the server answers (fails with "unavailable: ..." otherwise)
state=present  database, user@host with privileges on its own database only
state=absent   drop both
"""

from __future__ import annotations

import re

from ansible.module_utils.basic import AnsibleModule

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def quote_ident(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"refusing the database name {name!r}")
    return "`" + name.replace("`", "``") + "`"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "default": "present", "choices": ["present", "absent", "ping"]},
            "name": {"type": "str", "default": ""},
            "user": {"type": "str", "default": ""},
            "password": {"type": "str", "default": "", "no_log": True},
            "update_password": {"type": "str", "default": "on_create", "choices": ["on_create", "always"], "no_log": False},
            "host": {"type": "str", "default": "localhost"},
            "socket": {"type": "str", "default": "/run/mysqld/mysqld.sock"},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        import pymysql
    except ImportError:
        module.fail_json(msg="python3-pymysql is missing on the server (apt-get install python3-pymysql)")
    try:
        conn = pymysql.connect(unix_socket=p["socket"], user="root", autocommit=True, connect_timeout=5)
    except Exception as e:  # noqa: BLE001 - every connection failure means the same thing here
        module.fail_json(msg=f"MariaDB unavailable on this server: {e}", unavailable=True)
    cur = conn.cursor()
    if p["state"] == "ping":
        cur.execute("SELECT VERSION()")
        module.exit_json(changed=False, version=cur.fetchone()[0])
    for key in ("name", "user"):
        if not NAME.match(p[key] or ""):
            module.fail_json(msg=f"refusing the {key} {p[key]!r}: [a-z][a-z0-9_]{{0,63}} only")
    db, user, host = p["name"], p["user"], p["host"]
    qdb = quote_ident(db)
    cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (db,))
    db_exists = cur.fetchone() is not None
    cur.execute("SELECT 1 FROM mysql.user WHERE User=%s AND Host=%s", (user, host))
    user_exists = cur.fetchone() is not None
    done: list[str] = []
    if p["state"] == "absent":
        if db_exists:
            done.append("dropped database")
            if not module.check_mode:
                cur.execute(f"DROP DATABASE {qdb}")
        if user_exists:
            done.append("dropped user")
            if not module.check_mode:
                cur.execute("DROP USER %s@%s", (user, host))
        module.exit_json(changed=bool(done), actions=done, created_db=False, created_user=False)
    if not p["password"]:
        module.fail_json(msg="a password is required")
    if not db_exists:
        done.append("created database")
        if not module.check_mode:
            cur.execute(f"CREATE DATABASE {qdb} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    if not user_exists:
        done.append("created user")
        if not module.check_mode:
            cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, p["password"]))
    elif p["update_password"] == "always":
        cur.execute("SELECT PASSWORD(%s) = (SELECT authentication_string FROM mysql.user WHERE User=%s AND Host=%s)",
                    (p["password"], user, host))
        if not cur.fetchone()[0]:
            done.append("set password")
            if not module.check_mode:
                cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, p["password"]))
    # Privileges: all on its own database, nothing anywhere else.
    grants: list[str] = []
    if user_exists:
        cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
        grants = [r[0] for r in cur.fetchall()]
    want = f"GRANT ALL PRIVILEGES ON {qdb}.* TO"
    if not any(g.startswith(want) for g in grants):
        done.append("granted privileges on its database")
        if not module.check_mode:
            cur.execute(f"GRANT ALL PRIVILEGES ON {qdb}.* TO %s@%s", (user, host))
    for g in grants:
        m = re.match(r"^GRANT (.+) ON (\S+) TO ", g)
        if not m or m.group(2) == f"{qdb}.*" or m.group(1) == "USAGE":
            continue
        done.append(f"revoked {m.group(1)} ON {m.group(2)}")
        if not module.check_mode:
            if m.group(2) == "*.*":
                cur.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", (user, host))
                cur.execute(f"GRANT ALL PRIVILEGES ON {qdb}.* TO %s@%s", (user, host))
            else:
                cur.execute(f"REVOKE ALL PRIVILEGES ON {m.group(2)} FROM %s@%s", (user, host))
    module.exit_json(changed=bool(done), actions=done, created_db=not db_exists, created_user=not user_exists)


if __name__ == "__main__":
    main()
