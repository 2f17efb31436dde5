"""This machine's record of sandbox servers, and the cleaning of what crashed runs left.

Each server is recorded in REGISTRY/<netns>.json (on /run: gone at reboot, with the
namespaces) before anything of it exists, with the process that started it. A server
whose owner died (or, for `up`'s persistent servers, whose namespace is gone) is an
orphan: the next start anywhere, or `python -m devstack.sandbox down`, destroys it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.sandbox import SandboxError, pid_alive

REGISTRY = Path(os.environ.get("KOMINFO_SANDBOX_REGISTRY", "/run/kominfo-provision-sandbox"))
NETNS_PREFIX = "kp-"
_TOOLS = {"ip": "iproute2", "unshare": "util-linux", "nsenter": "util-linux", "socat": "socat",
          "ssh-keygen": "openssh-client", "mount": "mount"}


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise SandboxError(f"{name} not found: apt-get install {_TOOLS.get(name, name)} (scripts/setup.sh does)")
    return found


def netns_list() -> list[str]:
    out = subprocess.run([_tool("ip"), "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    out = subprocess.run([_tool("ip"), "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def kill_netns(ns: str) -> None:
    """SIGKILL every process in network namespace `ns` (PID 1 first: it takes its PID ns down)."""
    deadline = time.monotonic() + 15
    while (pids := netns_pids(ns)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    if netns_pids(ns):
        raise SandboxError(f"processes in network namespace {ns} survive SIGKILL: {netns_pids(ns)}")


@dataclass
class ServerRecord:
    """What a later process needs to reach or clean a server (REGISTRY/<netns>.json)."""

    name: str
    netns: str
    state_dir: str
    owner_pid: int  # the process that started it
    persistent: bool = False  # `python -m devstack.sandbox up`: outlives its owner until `down`
    init_pid: int = 0
    forwards: dict[str, int] | None = None  # "inside port" -> host pid of its socat listener

    @property
    def dir(self) -> Path:
        return Path(self.state_dir) / "servers" / self.name

    def save(self) -> None:
        REGISTRY.mkdir(parents=True, exist_ok=True)
        tmp = REGISTRY / f".{self.netns}.json.tmp"
        tmp.write_text(json.dumps(asdict(self)))
        tmp.rename(REGISTRY / f"{self.netns}.json")

    def orphaned(self) -> bool:
        """Nobody will stop it. A live owner's record is never orphaned: it may be mid-boot."""
        if self.owner_pid > 0 and pid_alive(self.owner_pid):
            return False
        persistent = self.persistent or self.owner_pid <= 0  # records of the first version: pid 0
        return not persistent or self.netns not in netns_list()


def load_records() -> list[ServerRecord]:
    records = []
    for f in sorted(REGISTRY.glob(f"{NETNS_PREFIX}*.json")):
        try:
            records.append(ServerRecord(**json.loads(f.read_text())))
        except (OSError, ValueError, TypeError):
            f.unlink(missing_ok=True)
    return records


def destroy(rec: ServerRecord) -> None:
    """Stop a server from its record; tolerant of anything already gone."""
    for pid in (rec.forwards or {}).values():
        _kill_forwarder(pid, rec.netns)
    if rec.netns in netns_list():
        kill_netns(rec.netns)
        subprocess.run([_tool("ip"), "netns", "delete", rec.netns], capture_output=True)
    _unmount_under(rec.dir)
    shutil.rmtree(rec.dir, ignore_errors=True)
    (REGISTRY / f"{rec.netns}.json").unlink(missing_ok=True)


def _kill_forwarder(pid: int, netns: str) -> None:
    try:  # only if it is still our socat (the pid may have been reused)
        if netns.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _unmount_under(path: Path) -> None:
    # Mounts live in the server's own namespace; this only catches a boot gone wrong.
    prefix = str(path.resolve()) + "/"
    for line in reversed(Path("/proc/mounts").read_text().splitlines()):
        target = line.split()[1].replace("\\040", " ")
        if (target + "/").startswith(prefix):
            subprocess.run(["umount", "-l", target], capture_output=True)


def clean_orphans() -> list[str]:
    """Remove servers of dead owners and `kp-*` namespaces nobody records. Returns their netns."""
    cleaned = []
    records = load_records()
    known = {r.netns for r in records}
    for rec in records:
        if rec.orphaned():
            destroy(rec)
            cleaned.append(rec.netns)
    for ns in netns_list():
        # Re-check the registry: a server started since we read it is recorded before its netns exists.
        if ns.startswith(NETNS_PREFIX) and ns not in known and not (REGISTRY / f"{ns}.json").exists():
            kill_netns(ns)
            subprocess.run([_tool("ip"), "netns", "delete", ns], capture_output=True)
            cleaned.append(ns)
    return cleaned
