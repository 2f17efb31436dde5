"""testinfra checks of an install, over an already open (pinned) SSH connection."""

from __future__ import annotations

import shlex
import time
from typing import Any

from provision.install.apptest import Check
from provision.names import DEPLOY_USER


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

    def check(name: str, fn: Any, nama: str = "") -> None:
        t0 = time.monotonic()
        try:
            ok, detail = fn()
            status = "pass" if ok else "fail"
        except Exception as e:  # the check could not run: it failed, with the reason
            status, detail = "fail", f"{type(e).__name__}: {e}"
        checks.append(Check("infra", name, status, detail, time.monotonic() - t0, nama=nama))

    def user_ok() -> tuple[bool, str]:
        u = host.user(user)
        return u.exists and u.shell.endswith("nologin"), f"shell {u.shell if u.exists else '-'}"

    def owner_ok() -> tuple[bool, str]:
        # The runtime user owns only its state (shared/data, shared/tmp, shared/sessions).
        q = shlex.quote(root)
        bad = host.run(f"find {q} -xdev -user {shlex.quote(user)} -not -path {q}/shared/data/'*' "
                       f"-not -path {q}/shared/tmp -not -path {q}/shared/tmp/'*' "
                       f"-not -path {q}/shared/sessions -not -path {q}/shared/sessions/'*' | head -5")
        return not bad.stdout.strip(), bad.stdout.strip() or f"the code under {root} belongs to {DEPLOY_USER}"

    def world_ok() -> tuple[bool, str]:
        bad = host.run(f"find {shlex.quote(root)} -xdev -perm -0002 ! -type l | head -5")
        return not bad.stdout.strip(), bad.stdout.strip() or "no world-writable file or directory"

    def env_ok() -> tuple[bool, str]:
        f = host.file(f"{root}/shared/.env")
        return (f.exists and f.mode == 0o640 and f.user == "root" and f.group == user,
                f"mode {oct(f.mode) if f.exists else '-'}")

    def current_ok() -> tuple[bool, str]:
        f = host.file(f"{root}/current")
        return f.is_symlink and f.linked_to.startswith(f"{root}/releases/"), f"-> {f.linked_to if f.is_symlink else '-'}"

    def nginx_ok() -> tuple[bool, str]:
        r = host.run("nginx -t")
        enabled = host.file(f"/etc/nginx/sites-enabled/{user}.conf").exists
        return r.rc == 0 and enabled and host.service("nginx").is_running, \
            (r.stderr.strip().splitlines() or [""])[-1] + ("" if enabled else "; vhost not enabled")

    check(f"user {user} exists and has no login shell", user_ok, f"Pengguna sistem {user} ada, tanpa shell login")
    check(f"code under {root} is {DEPLOY_USER}'s, not {user}'s", owner_ok,
          f"Kode di {root} dimiliki {DEPLOY_USER}, bukan {user}")
    check("nothing world-writable", world_ok, "Tidak ada berkas yang dapat ditulis semua pengguna")
    check(f"environment file is root's, 0640, group {user}", env_ok,
          f"Berkas lingkungan (.env) milik root, mode 0640, grup {user}")
    check("current links to a release", current_ok, "Tautan current menunjuk rilis terpasang")
    check("nginx configuration valid, vhost enabled, nginx running", nginx_ok,
          "Konfigurasi nginx valid, vhost aktif, nginx berjalan")
    if t.kind == "php":
        svc = f"php{t.php_version}-fpm"
        check(f"{svc} running with the app's pool socket", lambda: (
            host.service(svc).is_running and host.file(f"/run/php/{user}.sock").is_socket, svc),
            f"Layanan {svc} berjalan dengan pool aplikasi")
    elif t.kind in ("python", "node"):
        check(f"service {user} running", lambda: (host.service(user).is_running, user), f"Layanan {user} berjalan")
        check(f"app listening on 127.0.0.1:{t.port}", lambda: (
            host.socket(f"tcp://127.0.0.1:{t.port}").is_listening, f"port {t.port}"),
            f"Aplikasi mendengarkan di 127.0.0.1:{t.port}")
    return checks
