"""An sshd on loopback whose authorized_keys the emulator manages, each key forced to the GitLab shell."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
OPTIONS = "no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SshServer:
    """Run `sshd -D` with its own config and host key; `known_hosts_line` lets clients pin the key."""

    def __init__(self, root: Path, shell: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        self.shell = shell
        self.host = host
        self.port = port or free_port(host)
        self.user = getpass.getuser()
        self.authorized_keys = root / "authorized_keys"
        self.host_key = root / "ssh_host_ed25519_key"
        self.log = root / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def known_hosts_line(self) -> str:
        public = (self.host_key.with_suffix(".pub")).read_text().split()
        return f"[{self.host}]:{self.port} {public[0]} {public[1]}"

    def write_keys(self, keys: list[tuple[int, str]]) -> None:
        """Replace the authorized keys with `(deploy key id, public key)` pairs, atomically."""
        lines = [f'command="{self.shell} key-{kid}",{OPTIONS} {" ".join(key.split()[:2])}\n' for kid, key in keys]
        tmp = self.authorized_keys.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.chmod(0o600)
        tmp.replace(self.authorized_keys)

    def start(self) -> None:
        if not os.path.exists(SSHD):
            raise RuntimeError("sshd not found: install the Debian package openssh-server (scripts/debian-packages.txt)")
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gitlab-emulator", "-f", str(self.host_key)], check=True)
        if not self.authorized_keys.exists():
            self.write_keys([])
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # Debian's privilege separation directory
        config = self.root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}",
                    f"Port {self.port}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"AllowUsers {self.user}",
                    "PermitRootLogin forced-commands-only",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PrintMotd no",
                    "AcceptEnv GIT_PROTOCOL",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config), "-E", str(self.log)], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text() if self.log.exists() else ''}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not listen on {self.host}:{self.port} within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
