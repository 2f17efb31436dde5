"""The Debian bookworm root filesystem every sandbox server boots from: built once, cached.

    path = ensure_rootfs()          # builds on first use (a few minutes), then instant

Cached under /var/cache/kominfo-provision/rootfs-<key> (override: KOMINFO_SANDBOX_CACHE),
where <key> hashes the package list, the build script and the systemctl replacement's
version: change any of them and a new one is built. A build runs in `rootfs-<key>.tmp-<pid>`
and is renamed into place only when complete, so a crashed build is never used; a file
lock keeps two test processes from building at once. The mirror is read from this
machine's apt sources; no host name is written in the project.

The build runs inside its own mount namespace (`unshare --mount`): the /proc and /dev
mounts the package scripts need vanish with it, even if the build is killed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devstack.sandbox import SandboxError, require_root, tail

SUITE = "bookworm"
# Bumped whenever BUILD_SCRIPT or the steps around it change what ends up in the tree.
BUILD_VERSION = 6
SYSTEMCTL_PACKAGE = "docker-systemctl-replacement==1.7.1097"
PACKAGES = (
    "openssh-server", "python3", "iproute2", "systemd", "nginx", "php8.2-fpm", "php8.2-mysql",
    "php8.2-pgsql", "mariadb-server", "postgresql", "sudo", "acl", "python3-apt",
    "python3-pymysql", "python3-psycopg2", "openssl", "ca-certificates", "procps", "curl", "git",
    # ACME certificates (issue 15): certbot and its RFC 2136 (DNS-01) plugin.
    "certbot", "python3-certbot-dns-rfc2136",
)
MIN_FREE_BYTES = 2 * 1024**3  # the tree is about 1 GB; debootstrap and apt need room to unpack
MARKER = "etc/kominfo-sandbox-rootfs"

# Runs as root on the host, inside `unshare --mount`; $ROOT, $MIRROR, $PACKAGES, $WHEELDIR set.
BUILD_SCRIPT = r"""
set -eu
echo "== debootstrap"
debootstrap --variant=minbase --include=openssh-server,python3,iproute2 "$SUITE" "$ROOT" "$MIRROR"
mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
# Package scripts must not start daemons in the chroot (or on this machine).
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod 755 "$ROOT/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
rm -f "$ROOT/etc/apt/sources.list"
[ ! -f /etc/apt/sources.list ] || grep -E '^\s*deb\s' /etc/apt/sources.list > "$ROOT/etc/apt/sources.list" || true
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  if [ -f "$f" ]; then cp "$f" "$ROOT/etc/apt/sources.list.d/"; fi
done
# Keep the machine's proxy settings; snapshot mirrors serve expired Release files.
grep -lis 'proxy' /etc/apt/apt.conf.d/* | while read -r f; do cp "$f" "$ROOT/etc/apt/apt.conf.d/"; done
cat > "$ROOT/etc/apt/apt.conf.d/90kominfo-sandbox" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
EOF
# Sandbox tuning, in place before the packages' first start writes the data files: a small
# InnoDB log (each server copies up what its database writes) and no fsync (data is thrown away).
mkdir -p "$ROOT/etc/mysql/mariadb.conf.d"
cat > "$ROOT/etc/mysql/mariadb.conf.d/90-kominfo-sandbox.cnf" <<'EOF'
[mariadbd]
innodb_log_file_size = 8M
innodb_buffer_pool_size = 32M
innodb_flush_log_at_trx_commit = 2
EOF
echo "== apt-get install"
chroot "$ROOT" apt-get update -q
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PACKAGES
echo "== systemctl replacement"
chroot "$ROOT" dpkg-divert --local --rename --add /bin/systemctl
# Ansible names the service manager after PID 1's command name: with `env python3` in
# the shebang it would see "python3" and fall back to init scripts.
sed '1s|.*|#!/usr/bin/python3|' "$WHEELDIR/systemctl2/systemctl3.py" > "$ROOT/bin/systemctl"
chmod 755 "$ROOT/bin/systemctl"
mkdir -p "$ROOT/usr/local/sbin"
cp "$ROOT/bin/systemctl" "$ROOT/usr/local/sbin/systemd"
cat > "$ROOT/sbin/kominfo-sandbox-init" <<'EOF'
#!/bin/sh
# PID 1 of a sandbox server: the /run dirs packaged services expect, then the service manager.
systemd-tmpfiles --create --boot >/dev/null 2>&1 || true
# systemd-user-sessions would remove it; without it only root could log in.
rm -f /run/nologin
mkdir -p /run/systemd/system /run/sshd
# sshd first: the others (MariaDB above all) take seconds and nothing waits on them to log in.
/usr/local/sbin/systemd start ssh >/dev/null 2>&1 || true
# Reap every second (default 5): start-stop-daemon waits for stopped daemons to vanish.
exec /usr/local/sbin/systemd -c InitLoopSleep=1
EOF
chmod 755 "$ROOT/sbin/kominfo-sandbox-init"
echo "== services"
for s in "$ROOT"/etc/init.d/*; do
  n=$(basename "$s")
  [ "$n" = ssh ] || chroot "$ROOT" update-rc.d -f "$n" remove >/dev/null 2>&1 || true
done
# Debian starts clusters through a systemd generator that the replacement does not run.
wants="$ROOT/etc/systemd/system/multi-user.target.wants"
mkdir -p "$wants"
rm -f "$wants/e2scrub_reap.service"  # no ext4 volumes to scrub here
# Without a PID file the replacement waits ~5 s after READY=1 for a MAINPID that these
# notify services never send: at every start and restart.
for unit_pid in mariadb:/run/mysqld/mysqld.pid php8.2-fpm:/run/php/php8.2-fpm.pid ssh:/run/sshd.pid; do
  mkdir -p "$ROOT/etc/systemd/system/${unit_pid%%:*}.service.d"
  printf '[Service]\nPIDFile=%s\n' "${unit_pid#*:}" \
    > "$ROOT/etc/systemd/system/${unit_pid%%:*}.service.d/kominfo-sandbox.conf"
done
for c in "$ROOT"/etc/postgresql/*/main; do
  v=$(basename "$(dirname "$c")")
  ln -sf /lib/systemd/system/postgresql@.service "$wants/postgresql@$v-main.service"
done
for c in "$ROOT"/etc/postgresql/*/main/conf.d; do
  printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' > "$c/90-kominfo-sandbox.conf"
done
# Host keys are made per server at start; nobody shares one.
rm -f "$ROOT"/etc/ssh/ssh_host_*
cat > "$ROOT/etc/ssh/sshd_config.d/kominfo-sandbox.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
mkdir -p "$ROOT/root/.ssh"; chmod 700 "$ROOT/root/.ssh"
echo "== clean"
rm -f "$ROOT/usr/sbin/policy-rc.d"
printf 'nameserver 127.0.0.1\n' > "$ROOT/etc/resolv.conf"
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log "$ROOT"/var/cache/debconf/*-old
: > "$ROOT/etc/machine-id"
echo "== done"
"""


def cache_dir() -> Path:
    return Path(os.environ.get("KOMINFO_SANDBOX_CACHE", "/var/cache/kominfo-provision"))


def cache_key() -> str:
    """Hash of everything that decides the tree's content."""
    h = hashlib.sha256()
    for part in (SUITE, str(BUILD_VERSION), SYSTEMCTL_PACKAGE, " ".join(PACKAGES), BUILD_SCRIPT):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def rootfs_path() -> Path:
    return cache_dir() / f"rootfs-{cache_key()}"


def is_built(path: Path | None = None) -> bool:
    return ((path or rootfs_path()) / MARKER).is_file()


def apt_mirror(etc: Path = Path("/etc/apt")) -> str:
    """The Debian mirror of this machine's apt sources serving the bookworm suite."""
    sources = sorted((etc / "sources.list.d").glob("*.sources"))
    for f in sources:
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
            if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", "deb").split():
                return fields.get("URIs", "").split()[0]
    lists = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for f in lists:
        if f.is_file():
            for line in f.read_text().splitlines():
                m = re.match(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line + " ")
                if m:
                    return m.group(1)
    raise SandboxError(
        f"no apt source for Debian {SUITE} on this machine (/etc/apt/sources.list[.d]); "
        "the sandbox builds its servers from the same mirror apt uses here"
    )


def ensure_rootfs(log: Path | None = None, echo: bool = False) -> Path:
    """Return the cached root filesystem, building it first if needed (root only).

    Raises SandboxError (not root, no space, debootstrap missing, mirror unreachable, build
    failed) with the log's tail; a failed build leaves nothing behind but its log.
    """
    path = rootfs_path()
    if is_built(path):
        return path
    require_root("building the sandbox root filesystem")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same tree
        if is_built(path):
            return path
        for stale in cache.glob("rootfs-*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a crashed build; we hold the lock
        _check_host(cache)
        _build(path, log or cache / f"rootfs-{cache_key()}.log", echo)
    return path


def prune_old_trees() -> list[Path]:
    """Delete cached trees of other keys (older package lists or build scripts).

    Call only when no sandbox server runs: a running server's overlay reads its tree.
    """
    removed = []
    for tree in cache_dir().glob("rootfs-*"):
        if tree.is_dir() and tree.name != rootfs_path().name:
            shutil.rmtree(tree, ignore_errors=True)
            removed.append(tree)
    return removed


def _check_host(cache: Path) -> None:
    if not shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin"):
        raise SandboxError("debootstrap not found: apt-get install debootstrap (scripts/setup.sh does)")
    free = shutil.disk_usage(cache).free
    if free < MIN_FREE_BYTES:
        raise SandboxError(
            f"not enough disk space in {cache}: {free / 1024**3:.1f} GB free, the sandbox root "
            f"filesystem needs {MIN_FREE_BYTES / 1024**3:.0f} GB; free some space or set "
            "KOMINFO_SANDBOX_CACHE to a directory on a larger disk"
        )


def _download_systemctl(dest: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(dest), SYSTEMCTL_PACKAGE], capture_output=True, text=True, timeout=300)
    wheels = list(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise SandboxError(f"could not download {SYSTEMCTL_PACKAGE} from PyPI with pip: {proc.stderr.strip()[-800:]}")
    shutil.unpack_archive(str(wheels[0]), str(dest), format="zip")


def _build(path: Path, log: Path, echo: bool) -> None:
    mirror = apt_mirror()
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kp-wheel-") as wheeldir:
        _download_systemctl(Path(wheeldir))
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "ROOT": str(tmp),
               "MIRROR": mirror, "SUITE": SUITE, "PACKAGES": " ".join(PACKAGES), "WHEELDIR": wheeldir,
               **{k: v for k, v in os.environ.items() if k.lower().endswith("_proxy")}}
        with open(log, "w") as out:
            proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", BUILD_SCRIPT],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if echo and line.startswith("=="):
                    print(f"  rootfs: {line[3:].strip()} ({time.monotonic() - started:.0f} s)", flush=True)
            rc = proc.wait()
    if rc != 0 or not (tmp / "sbin/kominfo-sandbox-init").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        raise SandboxError(_explain_failure(rc, tail(log, 1500), mirror, log))
    (tmp / MARKER).write_text(f"key={cache_key()}\nbuilt={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
                              f"seconds={time.monotonic() - started:.0f}\n")
    tmp.rename(path)  # atomic: a tree without the marker is never used


def _explain_failure(rc: int, log_tail: str, mirror: str, log: Path) -> str:
    low = log_tail.lower()
    if any(s in low for s in ("failed getting release file", "could not resolve", "temporary failure resolving",
                               "connection refused", "unable to connect", "network is unreachable")):
        what = f"the Debian mirror {mirror} (from this machine's apt sources) is unreachable"
        todo = "check `apt-get update` works here, then retry"
    elif "no space left" in low:
        what, todo = "the disk filled up", "free space or set KOMINFO_SANDBOX_CACHE to a larger disk"
    elif "unshare" in low and ("operation not permitted" in low or "invalid argument" in low):
        what, todo = "mount namespaces are not available", "run as root on a kernel with namespaces"
    else:
        what, todo = f"exit {rc}", f"read {log}"
    return f"building the sandbox root filesystem failed: {what}; {todo}.\n--- last lines of {log}:\n{log_tail}"
