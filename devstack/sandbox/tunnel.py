"""Reach a service on this machine's loopback from inside a sandbox server.

A server's network namespace has only its own `lo`, so 127.0.0.1 inside is not this
machine. `Tunnel` listens on 127.0.0.1:<port> inside the namespace and forwards each
connection through a unix socket to 127.0.0.1:<target port> here:

    tunnel = Tunnel(server, target_port=9418)      # inside port = same number by default
    tunnel.start()                                  # git clone git://127.0.0.1:9418/... inside
    tunnel.stop()

Two socat processes: `UNIX-LISTEN:<sock>,fork TCP:127.0.0.1:<target>` on this machine and,
in the namespace (via `ip netns exec`, which keeps this machine's filesystem and so sees
the socket), `TCP-LISTEN:<port>,bind=127.0.0.1,fork UNIX-CONNECT:<sock>`. Nothing listens
on any address but loopback; the inside listener dies with the server at the latest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from devstack.sandbox import SandboxError
from devstack.sandbox.server import Server, _tool


class Tunnel:
    def __init__(self, server: Server, target_port: int, port: int | None = None) -> None:
        self.server = server
        self.target_port = target_port
        self.port = port or target_port
        self._dir = Path(tempfile.mkdtemp(prefix="kp-tunnel-"))
        self.socket = self._dir / "s"
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> Tunnel:
        socat, ip = _tool("socat"), _tool("ip")
        outside = subprocess.Popen(
            [socat, f"UNIX-LISTEN:{self.socket},fork,mode=600", f"TCP:127.0.0.1:{self.target_port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self._procs.append(outside)
        self._wait(lambda: self.socket.exists(), "the unix socket")
        inside = subprocess.Popen(
            [ip, "netns", "exec", self.server.netns, socat,
             f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork", f"UNIX-CONNECT:{self.socket}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        self._procs.append(inside)
        probe = f"import socket;socket.create_connection(('127.0.0.1',{self.port}),1).close()"
        self._wait(lambda: subprocess.run([ip, "netns", "exec", self.server.netns, "python3", "-c", probe],
                                          capture_output=True).returncode == 0, f"port {self.port} inside")
        return self

    def _wait(self, ready: object, what: str, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._procs):
                err = b""
                for p in self._procs:
                    if p.poll() is not None and p.stderr:
                        err += p.stderr.read() or b""
                self.stop()
                raise SandboxError(f"tunnel into {self.server.name}: socat exited: {err.decode(errors='replace')[-500:]}")
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.05)
        self.stop()
        raise SandboxError(f"tunnel into {self.server.name}: {what} not ready after {timeout:.0f} s")

    def stop(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait(timeout=5)
        self._procs.clear()
        self.socket.unlink(missing_ok=True)
        try:
            self._dir.rmdir()
        except OSError:
            pass

    def __enter__(self) -> Tunnel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
