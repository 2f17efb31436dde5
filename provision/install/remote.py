"""Commands on an application's server over SSH (fabric), host key pinned.

The connection follows the inventory (host name, user, port, the ssh_config named with
-F in ansible_ssh_common_args, or hosting.ssh_config) and trusts only the keys in
hosting.known_hosts (never ~/.ssh/known_hosts nor the ssh_config's): an unknown or changed key
is refused, never added. Commands for the application run as its user through sudo.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, Unreachable
from provision.plan import Change

Output = Callable[[str, str], None]  # (stream "out"|"err", text)


@dataclass
class CommandResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def digest(self) -> str:
        return hashlib.sha256((self.stdout + "\0" + self.stderr).encode()).hexdigest()


class _Stream:
    """A file-like object fabric writes to; forwards text to the callback, keeps a copy."""

    def __init__(self, name: str, sink: Output | None) -> None:
        self.name, self.sink, self.parts = name, sink, []  # type: ignore[var-annotated]

    def write(self, text: str) -> int:
        self.parts.append(text)
        if self.sink:
            self.sink(self.name, text)
        return len(text)

    def flush(self) -> None:
        pass


def _known_hosts(config: Any, ssh_config: str, host: str) -> str:
    """hosting.known_hosts only: never ~/.ssh/known_hosts nor the ssh_config's choice."""
    if config.hosting.known_hosts:
        return str(Path(config.hosting.known_hosts).expanduser())
    raise ConfigError("no known_hosts to check the server's SSH host key against.",
                      "Set hosting.known_hosts to a file with the servers' pinned keys.")


def connect(config: Any, inventory: Any, host: str, timeout: float = 15) -> Any:
    """An open fabric Connection to `host` whose host key must match the pinned one.

    Raises HostKeyRefused (exit 9) or Unreachable (exit 8)."""
    import fabric
    import paramiko

    from provision.install.install import HostKeyRefused

    conn_info = inventory.connection(host)
    ssh_config = config.hosting.ssh_config or conn_info["ssh_config"]
    fcfg = fabric.Config(runtime_ssh_path=str(Path(ssh_config).expanduser())) if ssh_config else fabric.Config()
    conn = fabric.Connection(conn_info["hostname"], user=conn_info["user"], port=conn_info["port"], config=fcfg,
                             connect_timeout=timeout,
                             connect_kwargs={"allow_agent": not ssh_config, "look_for_keys": not ssh_config})
    conn.client.load_host_keys(_known_hosts(config, ssh_config, conn_info["hostname"]))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        conn.open()
    except paramiko.BadHostKeyException as e:
        raise HostKeyRefused(f"the SSH host key of {host} does not match the pinned key: refused.",
                             "If the server was really reinstalled, verify its new key out of band and "
                             "update hosting.known_hosts.") from e
    except paramiko.SSHException as e:
        if "not found in known_hosts" in str(e):
            raise HostKeyRefused(f"{host} is not in the known_hosts file: its key is never accepted on first use.",
                                 "Add the server's verified key to hosting.known_hosts.") from e
        raise Unreachable(f"cannot connect to {host} over SSH: {e}.") from e
    except (OSError, EOFError) as e:
        raise Unreachable(f"{host} is unreachable over SSH: {e}.", "Check that the server is up.") from e
    return conn


def as_app_user(conn: Any, user: str, workdir: str, command: str) -> str:
    """The shell line that runs `command` in `workdir` as `user` (sudo unless already that user)."""
    inner = f"cd {shlex.quote(workdir)} && {command}"
    if conn.user == user:
        return f"sh -c {shlex.quote(inner)}"
    return f"sudo -n -u {shlex.quote(user)} -H -- sh -c {shlex.quote(inner)}"


def run(conn: Any, line: str, on_output: Output | None = None, timeout: float | None = None) -> CommandResult:
    out, err = _Stream("out", on_output), _Stream("err", on_output)
    r = conn.run(line, warn=True, hide=True, pty=False, out_stream=out, err_stream=err, timeout=timeout, in_stream=False)
    return CommandResult(line, int(r.exited), "".join(out.parts), "".join(err.parts))


def exec_command(app: Any, target: Any, inventory: Any, command: str,
                 on_output: Output | None = None) -> CommandResult:
    """`provision exec`: run `command` on the app's server as the app user in its current
    release, audited with its exit code and an output digest (never the output)."""
    change = Change("update", "remote.exec", f"{target.instance} on {target.host}: {command}",
                    after={"command": command, "user": target.instance})
    attempt = app.audit.attempt("exec", change)
    try:
        conn = connect(app.config, inventory, target.host)
        try:
            result = run(conn, as_app_user(conn, target.instance, f"{target.app_root}/current", command), on_output)
        finally:
            conn.close()
    except BaseException as e:
        app.audit.failed(attempt, "exec", change, f"{type(e).__name__}: {e}")
        raise
    detail = {"exit_code": result.exit_code, "output_sha256": result.digest,
              "output_bytes": len(result.stdout) + len(result.stderr)}
    if result.exit_code == 0:
        app.audit.succeeded(attempt, "exec", change, detail)
    else:
        app.audit.failed(attempt, "exec", change, f"exited {result.exit_code} (output sha256 {result.digest[:16]})")
    return result
