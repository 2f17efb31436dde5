"""testinfra checks of an install, over an already open (pinned) SSH connection."""

from __future__ import annotations

import shlex
import time
from typing import Any

from provision.install.apptest import Check
from provision.names import DEPLOY_USER
from provision.reports.messages import Message, msg


def _host(conn: Any) -> Any:
    import testinfra

    host = testinfra.get_host("paramiko://" + conn.host)
    host.backend.__dict__["client"] = conn.client  # reuse the connection whose key was checked
    return host


def infra_checks(conn: Any, t: Any) -> list[Check]:
    host = _host(conn)
    user = t.instance
    root = t.app_root
    checks: list[Check] = []

    def check(message: Message, fn: Any) -> None:
        t0 = time.monotonic()
        detail = None
        try:
            ok, remarks = fn()
            status = "pass" if ok else "fail"
        except Exception as e:  # the check could not run: it failed, with the reason
            detail = f"{type(e).__name__}: {e}"
            status, remarks = "fail", [msg("remark.error", error=detail)]
        checks.append(Check.of("infra", message, status, remarks, detail, time.monotonic() - t0))

    def paths(out: str) -> str:
        return ", ".join(out.split())

    def user_ok() -> tuple[bool, list[Message]]:
        u = host.user(user)
        if not u.exists:
            return False, [msg("remark.no_user")]
        return u.shell.endswith("nologin"), [msg("remark.shell", shell=u.shell)]

    def owner_ok() -> tuple[bool, list[Message]]:
        # The runtime user owns only its state (shared/data, shared/tmp, shared/sessions).
        q = shlex.quote(root)
        bad = host.run(f"find {q} -xdev -user {shlex.quote(user)} -not -path {q}/shared/data/'*' "
                       f"-not -path {q}/shared/tmp -not -path {q}/shared/tmp/'*' "
                       f"-not -path {q}/shared/sessions -not -path {q}/shared/sessions/'*' | head -5")
        if bad.stdout.strip():
            return False, [msg("remark.owner_bad", user=user, paths=paths(bad.stdout))]
        return True, [msg("remark.owner_ok", root=root, deploy=DEPLOY_USER)]

    def world_ok() -> tuple[bool, list[Message]]:
        bad = host.run(f"find {shlex.quote(root)} -xdev -perm -0002 ! -type l | head -5")
        if bad.stdout.strip():
            return False, [msg("remark.world_bad", paths=paths(bad.stdout))]
        return True, [msg("remark.world_ok")]

    def env_ok() -> tuple[bool, list[Message]]:
        f = host.file(f"{root}/shared/.env")
        if not f.exists:
            return False, [msg("remark.no_file")]
        # The mode as people write it ("0640"), never Python's 0o640.
        return (f.mode == 0o640 and f.user == "root" and f.group == user,
                [msg("remark.mode", mode=f"{f.mode:04o}", owner=f.user, group=f.group)])

    def current_ok() -> tuple[bool, list[Message]]:
        f = host.file(f"{root}/current")
        if not f.is_symlink:
            return False, [msg("remark.not_link")]
        return f.linked_to.startswith(f"{root}/releases/"), [msg("remark.link", target=f.linked_to)]

    def nginx_ok() -> tuple[bool, list[Message]]:
        r = host.run("nginx -t")
        enabled = host.file(f"/etc/nginx/sites-enabled/{user}.conf").exists
        running = host.service("nginx").is_running
        remarks = [msg("remark.nginx_ok" if r.rc == 0 else "remark.nginx_bad")]
        if not enabled:
            remarks.append(msg("remark.vhost_disabled"))
        if not running:
            remarks.append(msg("remark.nginx_stopped"))
        return r.rc == 0 and enabled and running, remarks

    def service_ok(svc: str, socket: str | None = None) -> tuple[bool, list[Message]]:
        ok = host.service(svc).is_running and (socket is None or host.file(socket).is_socket)
        return ok, [msg("remark.running" if ok else "remark.not_running", service=svc)]

    def listen_ok() -> tuple[bool, list[Message]]:
        ok = host.socket(f"tcp://127.0.0.1:{t.port}").is_listening
        return ok, [msg("remark.listening" if ok else "remark.not_listening", port=t.port)]

    check(msg("infra.user", user=user), user_ok)
    check(msg("infra.owner", root=root, user=user, deploy=DEPLOY_USER), owner_ok)
    check(msg("infra.world"), world_ok)
    check(msg("infra.env_file", user=user), env_ok)
    check(msg("infra.current"), current_ok)
    check(msg("infra.nginx"), nginx_ok)
    if t.kind == "php":
        svc = f"php{t.php_version}-fpm"
        check(msg("infra.php_fpm", service=svc), lambda: service_ok(svc, f"/run/php/{user}.sock"))
    elif t.kind in ("python", "node"):
        check(msg("infra.service", service=user), lambda: service_ok(user))
        check(msg("infra.listen", port=t.port), listen_ok)
    return checks
