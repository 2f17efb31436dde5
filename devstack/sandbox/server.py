"""Throwaway "Kominfo servers": one Debian host each, with its own filesystem, processes and network.

    sandbox = Sandbox(Path("/var/lib/kominfo-provision-sandbox/mine"))
    web = sandbox.start_server("web1")        # sshd ready; nginx, php-fpm, MariaDB, PostgreSQL booting
    web.run(["systemctl", "is-active", "nginx"])
    ssh -F sandbox.ssh_config web1            # or paramiko/fabric/testinfra/ansible with that file
    port = web.forward(80)                    # http://127.0.0.1:port/ reaches nginx inside
    sandbox.stop_all()

A server is a network namespace `kp-<id>` (only `lo`), and inside it
`unshare --mount --pid --uts --ipc --fork`: an overlay of the cached root filesystem with a
per-server upper dir, proc, read-only sysfs, tmpfs /run /tmp /dev, chroot, and
docker-systemctl-replacement as PID 1 starting the packaged services. The overlay lives
only in the server's own mount namespace, so it disappears with its last process: stopping
is SIGKILL to everything in the network namespace, delete the namespace, delete the upper
dir. Each server is recorded in REGISTRY (registry.py); a later start cleans servers whose
owner died.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from devstack.sandbox import SandboxError, free_port, pid_alive, port_is_free, require_root, run, tail
from devstack.sandbox.registry import (  # noqa: F401 (re-exported: callers import them from here)
    _TOOLS,
    NETNS_PREFIX,
    REGISTRY,
    ServerRecord,
    _tool,
    clean_orphans,
    destroy,
    kill_netns,
    load_records,
    netns_list,
    netns_pids,
)
from devstack.sandbox.rootfs import ensure_rootfs

__all__ = ["BOOT_SCRIPT", "NETNS_PREFIX", "REGISTRY", "SERVICES", "Sandbox", "Server", "ServerRecord", "check_host",
           "clean_orphans", "destroy", "kill_netns", "load_records", "netns_list", "netns_pids"]

SERVICES = ("ssh", "nginx", "php8.2-fpm", "mariadb", "postgresql@15-main")

# PID 1 of the new PID namespace, before it becomes the server's init. $M is the mount point.
BOOT_SCRIPT = r"""
set -eu
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$M"
mount -t proc proc "$M/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$M/sys"
mount -t tmpfs -o mode=755,nosuid,nodev,size=256m tmpfs "$M/run"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=1g tmpfs "$M/tmp"
mount -t tmpfs -o mode=755,nosuid,size=16m tmpfs "$M/dev"
for d in null zero full random urandom tty; do
  : > "$M/dev/$d"; mount --bind "/dev/$d" "$M/dev/$d"
done
mkdir -p "$M/dev/pts" "$M/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$M/dev/pts"
ln -s pts/ptmx "$M/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$M/dev/shm"
ln -s /proc/self/fd "$M/dev/fd"; ln -s /proc/self/fd/0 "$M/dev/stdin"
ln -s /proc/self/fd/1 "$M/dev/stdout"; ln -s /proc/self/fd/2 "$M/dev/stderr"
hostname "$NAME"
cd "$M"
exec chroot "$M" /sbin/kominfo-sandbox-init
"""


def check_host() -> None:
    """Raise SandboxError naming what this machine lacks to run servers."""
    require_root("starting sandbox servers")
    for t in _TOOLS:
        _tool(t)
    if "overlay" not in Path("/proc/filesystems").read_text():
        subprocess.run(["modprobe", "overlay"], capture_output=True)
        if "overlay" not in Path("/proc/filesystems").read_text():
            raise SandboxError("the kernel has no overlayfs (modprobe overlay failed); the servers need it")
    for ns in ("net", "pid", "mnt", "uts", "ipc"):
        if not Path(f"/proc/self/ns/{ns}").exists():
            raise SandboxError(f"the kernel has no {ns} namespaces; the servers need them")


class Server:
    """One running throwaway server. Made by `Sandbox.start_server`; `stop()` leaves nothing."""

    def __init__(self, record: ServerRecord, ssh_config: Path) -> None:
        self.record = record
        self.ssh_config = ssh_config

    name = property(lambda self: self.record.name)
    netns = property(lambda self: self.record.netns)
    dir = property(lambda self: self.record.dir)

    @property
    def host_key(self) -> str:
        """The server's public host key line (`ssh-ed25519 AAAA...`) pinned in known_hosts."""
        return (self.dir / "host_key.pub").read_text().split(" #")[0].strip()

    @property
    def alive(self) -> bool:
        return self.record.init_pid > 0 and pid_alive(self.record.init_pid) and self.netns in netns_list()

    def boot(self, rootfs: Path, authorized_key: str, timeout: float = 60) -> None:
        d = self.dir
        upper, work, merged = d / "upper", d / "work", d / "merged"
        for p in (upper / "etc/ssh", upper / "root/.ssh", work, merged):
            p.mkdir(parents=True, exist_ok=True)
        (upper / "root/.ssh").chmod(0o700)
        key = upper / "etc/ssh/ssh_host_ed25519_key"
        run([_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", str(key)], "ssh-keygen")
        shutil.copy(key.with_suffix(".pub"), d / "host_key.pub")
        (upper / "root/.ssh/authorized_keys").write_text(authorized_key.strip() + "\n")
        (upper / "root/.ssh/authorized_keys").chmod(0o600)
        (upper / "etc/hostname").write_text(self.name + "\n")
        (upper / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {self.name}\n::1 localhost ip6-localhost\n")
        (upper / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
        run([_tool("ip"), "netns", "add", self.netns], f"creating network namespace {self.netns}")
        run([_tool("ip"), "netns", "exec", self.netns, _tool("ip"), "link", "set", "lo", "up"], "bringing up lo")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "M": str(merged), "LOWER": str(rootfs),
               "UPPER": str(upper), "WORK": str(work), "NAME": self.name}
        with open(d / "boot.log", "wb") as log:
            proc = subprocess.Popen(
                [_tool("ip"), "netns", "exec", self.netns, _tool("unshare"), "--mount", "--pid", "--uts", "--ipc",
                 "--fork", "--kill-child", "--propagation", "private", "--", "sh", "-c", BOOT_SCRIPT],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._proc = proc  # keeps the Popen so the unshare process is reaped when it ends
        self.record.init_pid = self._find_init(proc, timeout=10)
        self.record.save()
        self._wait_sshd(proc, timeout)

    def _find_init(self, proc: subprocess.Popen[bytes], timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SandboxError(f"server {self.name} did not boot: {tail(self.dir / 'boot.log')}")
            try:
                children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            except OSError:
                children = []
            if children:
                return int(children[0])
            time.sleep(0.01)
        raise SandboxError(f"server {self.name}: no init process after {timeout:.0f} s")

    def _wait_sshd(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe = "import socket;s=socket.create_connection(('127.0.0.1',22),1);print(s.recv(64).decode())"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SandboxError(f"server {self.name} stopped while booting: {tail(self.dir / 'boot.log')}")
            r = subprocess.run([_tool("ip"), "netns", "exec", self.netns, "python3", "-c", probe],
                               capture_output=True, text=True)
            if r.stdout.startswith("SSH-2.0"):
                return
            time.sleep(0.1)
        raise SandboxError(f"server {self.name}: sshd not answering after {timeout:.0f} s; "
                           f"boot log: {tail(self.dir / 'boot.log')}")

    def run(self, cmd: list[str] | str, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the server as root (nsenter; no SSH involved). A str runs via sh -c."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        full = [_tool("nsenter"), "--target", str(self.record.init_pid), "--mount", "--uts", "--ipc", "--net",
                "--pid", "--root", "--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                # nsenter keeps our cwd, which means nothing inside: start from /.
                "HOME=/root", "LC_ALL=C.UTF-8", "sh", "-c", 'cd / && exec "$@"', "sh", *argv]
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise SandboxError(f"on {self.name}: {' '.join(argv)} exited {proc.returncode}: "
                               f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
        return proc

    def wait_services(self, units: tuple[str, ...] = SERVICES, timeout: float = 90) -> None:
        """Wait until `units` are active (MariaDB and PostgreSQL take a few seconds after sshd)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.run(["systemctl", "is-active", *units], check=False)
            states = r.stdout.split()
            if len(states) == len(units) and all(s == "active" for s in states):
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"server {self.name}: services not active after {timeout:.0f} s: "
                                   f"{dict(zip(units, states))}")
            time.sleep(0.3)

    def forward(self, port: int, local_port: int | None = None) -> int:
        """Forward 127.0.0.1:<local port> on this machine to `port` inside; returns the local port."""
        if str(port) in (self.record.forwards or {}):
            return int(self.dir.joinpath(f"forward-{port}").read_text())
        if local_port is not None and not port_is_free(local_port):
            raise SandboxError(f"port 127.0.0.1:{local_port} is taken; pick another or let the sandbox choose")
        for _ in range(4):
            lp = local_port or free_port()
            # Quoted: socat would otherwise split the inner address at its colons.
            inner = f"{_tool('ip')} netns exec {self.netns} {_tool('socat')} STDIO TCP:127.0.0.1:{port}"
            proc = subprocess.Popen([_tool("socat"), f"TCP-LISTEN:{lp},bind=127.0.0.1,reuseaddr,fork",
                                     f"EXEC:'{inner}'"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and proc.poll() is None and port_is_free(lp):
                time.sleep(0.02)
            if proc.poll() is None and not port_is_free(lp):
                self.record.forwards = {**(self.record.forwards or {}), str(port): proc.pid}
                self.record.save()
                self.dir.joinpath(f"forward-{port}").write_text(str(lp))
                return lp
            proc.kill()
            proc.wait()
            if local_port is not None:
                break
        raise SandboxError(f"could not listen on 127.0.0.1 for forwarding to {self.name}:{port} (port taken?)")

    def stop(self) -> None:
        """Kill everything in the server, delete its namespace and upper dir. Safe to call twice."""
        destroy(self.record)
        proc = getattr(self, "_proc", None)
        if proc is not None:
            proc.wait(timeout=10)
        # Its init was the child of `unshare`: once that is reaped, this machine's init reaps it.
        deadline = time.monotonic() + 10
        while self.record.init_pid and Path(f"/proc/{self.record.init_pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def __repr__(self) -> str:
        return f"<Server {self.name} netns={self.netns} init={self.record.init_pid}>"


class Sandbox:
    """A set of servers sharing one client key, ssh_config, known_hosts and inventory.

    `persistent=False` (tests): servers belong to this process; if it dies, the next start
    anywhere cleans them. `persistent=True` (`python -m devstack.sandbox up`): they stay up
    until `down`. Another process opening the same `state_dir` sees the running servers.
    """

    def __init__(self, state_dir: Path, persistent: bool = False) -> None:
        self.state_dir = state_dir.resolve()
        self.persistent = persistent
        self.client_key = self.state_dir / "id_ed25519"
        self.ssh_config = self.state_dir / "ssh_config"
        self.known_hosts = self.state_dir / "known_hosts"
        self.inventory = self.state_dir / "inventory.yml"
        self._used: set[str] = set()
        self.servers: dict[str, Server] = {
            r.name: Server(r, self.ssh_config) for r in load_records()
            if Path(r.state_dir) == self.state_dir and not r.orphaned() and r.netns in netns_list()
        }

    def start_server(self, name: str | None = None, wait_services: bool = False) -> Server:
        """Boot one server (sshd answering on return). Raises SandboxError; nothing is left on failure."""
        return self.start_servers([name or self._next_name()], wait_services)[0]

    def start_servers(self, names: list[str], wait_services: bool = False) -> list[Server]:
        """Boot several servers at once (in parallel: booting is mostly waiting)."""
        from concurrent.futures import ThreadPoolExecutor

        check_host()
        for n in names:
            if not (n.replace("-", "").isalnum() and n[:1].isalpha() and n.islower() and len(n) <= 30):
                raise SandboxError(f"bad server name {n!r}: lowercase letters, digits and '-', starting with a letter")
            if n in self.servers or names.count(n) > 1:
                raise SandboxError(f"a server named {n!r} already runs in {self.state_dir}")
        rootfs = ensure_rootfs(echo=self.persistent)
        clean_orphans()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.state_dir).free
        if free < 300 * 1024**2 * len(names):
            raise SandboxError(f"not enough disk space in {self.state_dir} ({free // 1024**2} MB free; "
                               f"a server needs up to 300 MB)")
        pub = self._client_public_key()
        self._used.update(names)
        records = [ServerRecord(n, f"{NETNS_PREFIX}{secrets.token_hex(4)}", str(self.state_dir),
                                os.getpid(), self.persistent) for n in names]
        servers = [Server(r, self.ssh_config) for r in records]
        for r in records:
            r.save()  # before anything exists, so a crash mid-boot is cleanable
        with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
            futures = [pool.submit(s.boot, rootfs, pub) for s in servers]
            errors = [f.exception() for f in futures]
        if any(errors):
            for s in servers:
                s.stop()
            raise next(e for e in errors if e is not None)
        for s in servers:
            self.servers[s.name] = s
            if wait_services:
                s.wait_services()
        self.write_client_files()
        return servers

    def _next_name(self) -> str:
        return self._next_name_after(0)

    def _next_name_after(self, skip: int) -> str:
        """The (skip+1)-th free name kominfoN: names for several servers started together."""
        i = 0
        while True:
            i += 1
            # Never reuse a name in one sandbox: clients may cache connections by host name.
            if f"kominfo{i}" not in self.servers and f"kominfo{i}" not in self._used:
                if skip == 0:
                    return f"kominfo{i}"
                skip -= 1

    def _client_public_key(self) -> str:
        if not self.client_key.exists():
            run([_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "kominfo-sandbox",
                 "-f", str(self.client_key)], "ssh-keygen (client key)")
        return self.client_key.with_suffix(".pub").read_text()

    def stop_server(self, name: str) -> None:
        server = self.servers.pop(name)
        server.stop()
        self.write_client_files()

    def stop_all(self) -> None:
        """Stop every server of this sandbox; the first error is raised after trying them all."""
        from concurrent.futures import ThreadPoolExecutor

        servers = [self.servers.pop(name) for name in list(self.servers)]
        with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
            # Each stop catches nothing: an error in one does not keep the others running.
            errors = [f.exception() for f in [pool.submit(s.stop) for s in servers]]
        self.write_client_files()
        first = next((e for e in errors if e is not None), None)
        if first:
            raise first

    def write_client_files(self) -> None:
        """ssh_config, known_hosts (pinned host keys) and an Ansible inventory for the running servers."""
        if not self.state_dir.exists():
            return
        ip, socat = _tool("ip"), _tool("socat")
        cfg, known = [], []
        hostvars: dict[str, dict[str, str]] = {}
        for s in sorted(self.servers.values(), key=lambda s: s.name):
            cfg.append(f"Host {s.name}\n  HostName {s.name}\n  User root\n  IdentityFile {self.client_key}\n"
                       f"  IdentitiesOnly yes\n  ProxyCommand {ip} netns exec {s.netns} {socat} - TCP:127.0.0.1:22\n"
                       f"  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n"
                       f"  PasswordAuthentication no\n  BatchMode yes\n")
            known.append(f"{s.name} {s.host_key}")
            # Own ControlPath dir: Ansible keys its cached connections by host name alone, and
            # another sandbox (another test run) may have a server of the same name.
            hostvars[s.name] = {"ansible_host": s.name, "ansible_ssh_common_args": f"-F {self.ssh_config}",
                                "ansible_control_path_dir": str(self.state_dir / "cp")}
        self.ssh_config.write_text("# Written by devstack/sandbox; regenerated at each start and stop.\n\n"
                                   + "\n".join(cfg))
        self.known_hosts.write_text("\n".join(known) + ("\n" if known else ""))
        common = {"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3"}
        # YAML for `-i inventory.yml`; the JSON form feeds inventory/sandbox/hosts.py.
        self.inventory.write_text("# Written by devstack/sandbox: the running sandbox servers.\n" + yaml.safe_dump(
            {"all": {"vars": common, "children": {"kominfo": {"hosts": hostvars or None}}}}, sort_keys=True))
        self.inventory.with_suffix(".json").write_text(json.dumps(
            {"kominfo": {"hosts": sorted(hostvars), "vars": common}, "_meta": {"hostvars": hostvars}}, indent=1))
