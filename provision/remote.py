"""One way to read a server: a small Python script run by the server's python3 over one
SSH round trip, parameters as a JSON line on its stdin, JSON back on its stdout. Only the
pinned host keys are trusted (never ~/.ssh/known_hosts). Hosting's state probe, the nginx
sites reader, `server probe` and the installed-release reader use it."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from provision.errors import AuthError, ProvisionError, Unreachable


def ssh_argv(connection: dict[str, Any], ssh_config: str, known_hosts: str, command: str) -> list[str]:
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
    cfg = connection.get("ssh_config") or ssh_config
    if cfg:
        argv += ["-F", str(Path(cfg).expanduser().resolve())]
    # Only the pinned keys, always checked (never ~/.ssh/known_hosts nor the ssh_config's).
    kh = Path(known_hosts).expanduser().resolve() if known_hosts else Path("/dev/null")
    argv += ["-o", f"UserKnownHostsFile={kh}", "-o", "GlobalKnownHostsFile=/dev/null",
             "-o", "StrictHostKeyChecking=yes"]
    argv += ["-p", str(connection.get("port", 22)), "-l", str(connection.get("user", "root")),
             str(connection["hostname"]), command]
    return argv


def run_python(host: str, connection: dict[str, Any], script: str, params: Any, what: str,
               ssh_config: str = "", known_hosts: str = "", timeout: float = 60,
               hint: str | None = None) -> Any:
    """Run `script` with the server's python3 over SSH (pinned host key), `params` as one
    JSON line on its stdin, and return the JSON it prints. `what` names the reading in
    errors ("the state", "the baseline"). Raises Unreachable / AuthError (host key) /
    ProvisionError; nothing on the server is changed by the caller's scripts."""
    argv = ssh_argv(connection, ssh_config, known_hosts, "python3 -c " + shlex.quote(script))
    try:
        proc = subprocess.run(argv, input=json.dumps(params) + "\n", capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Unreachable(f"{host} did not answer within {timeout:.0f} s.",
                          "Check that the server is up and reachable over SSH. Nothing was changed.") from e
    except OSError as e:
        raise ProvisionError(f"cannot run ssh to read {host}: {e}.") from e
    err = " ".join(proc.stderr.split())[-500:]
    if proc.returncode == 255:
        if "host key verification failed" in err.lower() or "identification has changed" in err.lower():
            raise AuthError(f"the SSH host key of {host} does not match the pinned key: refused. {err}",
                            "If the server was really reinstalled, verify its new key out of band and update "
                            "hosting.known_hosts.")
        raise Unreachable(f"{host} is unreachable over SSH: {err}",
                          "Check that the server is up and reachable over SSH. Nothing was changed.")
    if proc.returncode != 0:
        raise ProvisionError(f"reading {what} of {host} failed: {err}", hint)
    try:
        return json.loads(proc.stdout)
    except ValueError as e:
        raise ProvisionError(f"reading {what} of {host} gave no JSON: {proc.stdout[:200]!r}") from e
