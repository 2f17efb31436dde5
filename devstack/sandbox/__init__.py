"""The sandbox: throwaway databases and "Kominfo servers" on this machine, for tests and people.

Modules:
- `postgres`, `mariadb`: a throwaway database server in a temp dir on a 127.0.0.1 port.
- `rootfs`: the cached Debian bookworm root filesystem the servers boot from.
- `server`: `Server`, one throwaway host (own filesystem, processes, network namespace).
- `bind`, `pebble`, `gitlab_stack`: BIND, the ACME server and the GitLab emulator beside them.
- `forward`: a light TCP forwarder into a server's network namespace (the benchmarks).
- `hosting`: hosting state laid out on a server directly, as the playbooks lay it out.

The pytest fixtures are in tests/sandbox/fixtures.py and bind_fixtures.py (loaded by
tests/conftest.py).

Every failure a user can fix raises `SandboxError` with what is missing and what to do.
This module holds only the small helpers the others share; it imports nothing heavy.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path


class SandboxError(RuntimeError):
    """A sandbox part could not start or stop; the message says why and what to do."""


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 5) -> None:
    """SIGTERM a daemon we started, SIGKILL it if it has not exited within `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def is_root() -> bool:
    return os.geteuid() == 0


def require_root(what: str) -> None:
    """Raise SandboxError unless running as root."""
    if not is_root():
        raise SandboxError(
            f"{what} needs root (network namespaces, mounts, chroot). "
            "Run the tests or `python -m devstack.sandbox` as root (sudo -E)."
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now (the caller retries if it is taken before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def as_user(user: str) -> list[str]:
    """Command prefix that runs as `user` when we are root (daemons refuse to run as root).

    Without root the command runs as ourselves, which is what the daemon wants anyway.
    """
    if not is_root():
        return []
    try:
        pw = pwd.getpwnam(user)
    except KeyError as e:
        raise SandboxError(
            f"the OS user {user!r} does not exist; install its Debian package "
            "(scripts/setup.sh installs scripts/debian-packages.txt)"
        ) from e
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"]


def chown_to(path: Path, user: str) -> None:
    if is_root():
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def find_binary(name: str, preferred_dirs: Sequence[str | Path], package: str) -> str:
    """First `name` in `preferred_dirs`, else on PATH (also /usr/sbin); SandboxError if absent."""
    for d in preferred_dirs:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found:
        return found
    raise SandboxError(f"{name} not found; install the Debian package {package} (apt-get install {package})")


def run(cmd: Sequence[str], what: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run `cmd`; on failure raise SandboxError naming `what` with the command's own output."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired as e:
        raise SandboxError(f"{what}: timed out after {timeout:.0f} s ({' '.join(cmd)})") from e
    except FileNotFoundError as e:
        raise SandboxError(f"{what}: {cmd[0]} not found") from e
    if proc.returncode != 0:
        out = (proc.stderr or "").strip() or (proc.stdout or "").strip()
        raise SandboxError(f"{what} failed (exit {proc.returncode}): {out[-2000:]}")
    return proc


def tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
