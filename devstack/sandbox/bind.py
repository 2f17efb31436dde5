"""A throwaway BIND 9 primary and secondary for one dynamic zone, on 127.0.0.1 at free ports.

    with BindPair(zone="batam.test.", records=["www 300 IN A 203.0.113.10"]) as bind:
        bind.primary_addr      # "127.0.0.1:PORT": takes signed updates and transfers
        bind.secondary_addr    # "127.0.0.1:PORT": transfers from the primary with the key
        bind.client_key_file   # tsig-keygen output, mode 0600, for the toolkit and nsupdate

Both `named` run in the foreground as `nobody` (never as root), with `controls { };`,
`recursion no`, a TSIG key from `tsig-keygen`, the zone under `update-policy`, transfers
allowed to the key only, and the primary notifying the secondary so it catches up in a
fraction of a second. Each pair gets a fresh data directory (journals from a previous run
would otherwise be replayed); `stop()` sends SIGTERM and removes it. A server that cannot
start raises SandboxError with named's own log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import dns.message
import dns.query
import dns.rdatatype

from devstack.sandbox import SandboxError, as_user, chown_to, find_binary, free_port, pid_alive, run, tail, terminate

KEY_NAME = "provision-key"
ACME_KEY_NAME = "acme-key"  # certbot's DNS-01 key: may change only the _acme-challenge TXT records
_PREFIX = "kp-bind-"
NAMED_USER = "nobody"

DEFAULT_RECORDS = [
    "@ 3600 IN NS ns1",
    "@ 3600 IN NS ns2",
    "ns1 3600 IN A 127.0.0.1",
    "ns2 3600 IN A 127.0.0.1",
]


def _named_conf(data: Path, port: int, zone: str, zone_block: str, extra: str = "") -> str:
    return f"""
include "{data}/named.key";
options {{
    directory "{data}";
    pid-file "{data}/named.pid";
    session-keyfile "{data}/session.key";
    managed-keys-directory "{data}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    allow-query {{ 127.0.0.1; }};
    transfer-source 127.0.0.1;
    notify-source 127.0.0.1;
{extra}
}};
controls {{ }};
logging {{
    channel main {{ file "{data}/named.log"; severity info; print-time yes; print-category yes; }};
    category default {{ main; }};
    category update {{ main; }};
    category xfer-in {{ main; }};
    category xfer-out {{ main; }};
    category notify {{ main; }};
}};
zone "{zone.rstrip('.')}" {{
{zone_block}
}};
"""


def clean_stale(tmp_root: Path | None = None) -> list[Path]:
    """Stop the named processes and delete the data of pairs whose test process died."""
    removed = []
    for d in Path(tmp_root or tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        m = re.match(rf"{_PREFIX}(\d+)-", d.name)
        if not m or pid_alive(int(m.group(1))):
            continue
        for pidfile in d.glob("*/named.pid"):
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


class NamedProcess:
    """One `named -g` process with its own data directory."""

    def __init__(self, role: str, base: Path, port: int) -> None:
        self.role = role
        self.data = base / role
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.data / "named.log"

    def start(self, conf: str, named: str) -> None:
        conf_path = self.data / "named.conf"
        conf_path.write_text(conf)
        checkconf = find_binary("named-checkconf", [], "bind9-utils")
        run([checkconf, str(conf_path)], f"named-checkconf for the {self.role}")
        stderr = open(self.data / "stderr.log", "wb")
        self.proc = subprocess.Popen(as_user(NAMED_USER) + [named, "-g", "-c", str(conf_path)],
                                     stdout=stderr, stderr=subprocess.STDOUT, start_new_session=True)
        stderr.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return (tail(self.data / "stderr.log") + "\n" + tail(self.log)).strip()

    def stop(self) -> None:
        terminate(self.proc, timeout=5)
        self.proc = None


class BindPair:
    """A BIND primary (dynamic zone) and a secondary transferring it with the TSIG key."""

    def __init__(self, zone: str = "batam.test.", records: list[str] | None = None,
                 serial: int = 2026010101, secondary: bool = True, secondary_transfers: bool = True,
                 policy: str = "grant provision-key zonesub ANY;",
                 options: str = "", tmp_root: Path | None = None, base_dir: Path | None = None,
                 acme_names: list[str] | None = None) -> None:
        self.zone = zone if zone.endswith(".") else zone + "."
        self.records = DEFAULT_RECORDS + list(records or [])
        self.serial = serial
        self.with_secondary = secondary
        self.secondary_transfers = secondary_transfers  # False: the secondary refuses AXFR/IXFR
        self.policy = policy.replace("provision-key", KEY_NAME)
        self.options = options  # extra lines for the primary's options block
        # Names that get a second key, ACME_KEY_NAME, granted only their _acme-challenge TXT records.
        self.acme_names = acme_names
        self.base_dir = base_dir  # a fixed data directory (the sandbox for people); else a temp dir
        self.tmp_root = tmp_root
        self.base: Path | None = None
        self.primary: NamedProcess | None = None
        self.secondary: NamedProcess | None = None

    # -- addresses and files the tests hand to the toolkit ------------------------------
    @property
    def primary_addr(self) -> str:
        assert self.primary, "not started"
        return f"127.0.0.1:{self.primary.port}"

    @property
    def secondary_addr(self) -> str:
        assert self.secondary, "no secondary"
        return f"127.0.0.1:{self.secondary.port}"

    @property
    def servers(self) -> list[str]:
        return [self.primary_addr] + ([self.secondary_addr] if self.secondary else [])

    @property
    def client_key_file(self) -> Path:
        assert self.base, "not started"
        return self.base / "client.key"

    @property
    def acme_key_file(self) -> Path:
        assert self.base, "not started"
        return self.base / "acme.key"

    def acme_policy(self) -> str:
        """The update-policy lines of the ACME key: one `name` rule a certificate name."""
        return " ".join(f"grant {ACME_KEY_NAME} name _acme-challenge.{n.rstrip('.')}. TXT;"
                        for n in self.acme_names or [])

    def set_policy(self, policy: str) -> None:
        """Rewrite the primary's update-policy and reload it (SIGHUP), e.g. to revoke a key's grant."""
        assert self.primary and self.primary.proc, "not started"
        conf = self.primary.data / "named.conf"
        text = re.sub(r"update-policy \{.*?\};\n", f"update-policy {{ {policy} }};\n", conf.read_text(), count=1)
        conf.write_text(text)
        checkconf = find_binary("named-checkconf", [], "bind9-utils")
        run([checkconf, str(conf)], "named-checkconf for the new policy")
        done = "reloading configuration succeeded"
        log = self.primary.data / "stderr.log"  # named -g logs to its stderr
        before = log.read_text(errors="replace").count(done)
        os.kill(self.primary.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while log.read_text(errors="replace").count(done) <= before:
            if time.monotonic() > deadline:
                raise SandboxError(f"BIND primary did not reload its policy: {self.primary.output()}")
            time.sleep(0.05)

    def zone_text(self) -> str:
        lines = [f"$ORIGIN {self.zone}", "$TTL 3600",
                 f"@ 3600 IN SOA ns1 hostmaster {self.serial} 3600 600 86400 300"]
        return "\n".join(lines + self.records) + "\n"

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> BindPair:
        clean_stale(self.tmp_root)
        named = find_binary("named", ["/usr/sbin"], "bind9")
        keygen = find_binary("tsig-keygen", ["/usr/sbin"], "bind9-utils")
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)  # fresh data: no stale journal
            self.base_dir.mkdir(parents=True)
            closed = [p for p in self.base_dir.resolve().parents if not os.stat(p).st_mode & 0o001]
            if closed:
                raise SandboxError(f"named runs as {NAMED_USER} and cannot enter {closed[0]} (mode "
                                   f"{os.stat(closed[0]).st_mode & 0o777:o}): put the sandbox state in a "
                                   "directory others may traverse (chmod o+x), or set KOMINFO_SANDBOX_DIR")
            self.base = self.base_dir
        else:
            self.base = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=self.tmp_root))
        os.chmod(self.base, 0o755)
        try:
            key_text = run([keygen, "-a", "hmac-sha256", KEY_NAME], "tsig-keygen").stdout
            self.client_key_file.write_text(key_text)
            os.chmod(self.client_key_file, 0o600)
            if self.acme_names is not None:
                acme_text = run([keygen, "-a", "hmac-sha256", ACME_KEY_NAME], "tsig-keygen (ACME key)").stdout
                self.acme_key_file.touch(mode=0o600)
                self.acme_key_file.write_text(acme_text)
                key_text += acme_text
            self.primary = NamedProcess("primary", self.base, free_port())
            if self.with_secondary:
                self.secondary = NamedProcess("secondary", self.base, free_port())
            for p in filter(None, (self.primary, self.secondary)):
                p.data.mkdir()
                (p.data / "named.key").write_text(key_text)
                os.chmod(p.data / "named.key", 0o600)
                for f in (p.data, p.data / "named.key"):
                    chown_to(f, NAMED_USER)
            zfile = self.primary.data / "zone.db"
            zfile.write_text(self.zone_text())
            chown_to(zfile, NAMED_USER)
            checkzone = find_binary("named-checkzone", ["/usr/sbin", "/usr/bin"], "bind9-utils")
            run([checkzone, self.zone, str(zfile)], "named-checkzone on the initial zone")
            notify = (f"    notify explicit;\n    notify-delay 0;\n    also-notify {{ 127.0.0.1 port {self.secondary.port}; }};"
                      if self.secondary else "    notify no;")
            primary_block = (f'    type primary;\n    file "{zfile}";\n'
                             f"    update-policy {{ {self.policy} {self.acme_policy()} }};\n"
                             f"    allow-transfer {{ key {KEY_NAME}; }};\n{notify}")
            self.primary.start(_named_conf(self.primary.data, self.primary.port, self.zone,
                                           primary_block, self.options), named)
            self._wait_serving(self.primary, self.serial)
            if self.secondary:
                sfile = self.secondary.data / "zone.db"
                secondary_block = (
                    f'    type secondary;\n    file "{sfile}";\n'
                    f"    primaries {{ 127.0.0.1 port {self.primary.port} key {KEY_NAME}; }};\n"
                    f"    allow-notify {{ 127.0.0.1; }};\n"
                    f"    allow-transfer {{ {'key ' + KEY_NAME if self.secondary_transfers else 'none'}; }};\n"
                    "    notify no;")
                self.secondary.start(_named_conf(self.secondary.data, self.secondary.port,
                                                 self.zone, secondary_block), named)
                self._wait_serving(self.secondary, self.serial)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_serving(self, server: NamedProcess, serial: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not server.alive():
                raise SandboxError(f"BIND {server.role} (named) exited at start: {server.output()}")
            got = self.soa_serial(server.port, timeout=0.5)
            if got is not None and got >= serial:
                return
            last = f"serial {got}" if got is not None else last
            time.sleep(0.05)
        raise SandboxError(f"BIND {server.role} did not serve {self.zone} serial {serial} within "
                           f"{timeout:.0f} s ({last}): {server.output()}")

    def soa_serial(self, port: int, timeout: float = 2.0) -> int | None:
        """The zone's serial as served on 127.0.0.1:port, or None if no authoritative answer."""
        q = dns.message.make_query(self.zone, dns.rdatatype.SOA)
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)
        except (OSError, dns.exception.DNSException):
            return None
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        return None

    def wait_secondary(self, serial: int, timeout: float = 15.0) -> None:
        """Block until the secondary serves `serial` (SandboxError otherwise)."""
        if self.secondary:
            self._wait_serving(self.secondary, serial, timeout)

    def stop(self) -> None:
        for p in (self.secondary, self.primary):
            if p is not None:
                p.stop()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> BindPair:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def require_bind() -> None:
    """SandboxError naming the package when BIND's programs are missing."""
    find_binary("named", ["/usr/sbin"], "bind9")
    find_binary("named-checkzone", ["/usr/sbin", "/usr/bin"], "bind9-utils")
    find_binary("nsupdate", [], "bind9-dnsutils")
    find_binary("dig", [], "bind9-dnsutils")


# ---- the sandbox for people: a pair that outlives the command that started it ---------

DEMO_RECORDS = ["www 3600 IN A 192.0.2.10", "@ 3600 IN MX 10 mail", "mail 3600 IN A 192.0.2.25"]


def sandbox_up(state_dir: Path, zone: str = "batam.test.", acme_names: list[str] | None = None) -> dict[str, object]:
    """Start (or find running) the sandbox's BIND pair under `state_dir`/bind; its facts.

    The named processes run in their own sessions and keep running until sandbox_down.
    """
    info_file = state_dir / "bind.json"
    if info_file.exists():
        info = json.loads(info_file.read_text())
        if all(pid_alive(int(p)) for p in info["pids"]):
            return info
        sandbox_down(state_dir)
    pair = BindPair(zone=zone, records=DEMO_RECORDS, base_dir=state_dir / "bind", acme_names=acme_names)
    pair.start()
    assert pair.primary and pair.secondary and pair.primary.proc and pair.secondary.proc
    info = {"zone": pair.zone, "primary": pair.primary_addr, "secondary": pair.secondary_addr,
            "key_file": str(pair.client_key_file),
            "acme_key_file": str(pair.acme_key_file) if acme_names is not None else "",
            "pids": [pair.primary.proc.pid, pair.secondary.proc.pid]}
    info_file.write_text(json.dumps(info, indent=2))
    return info


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def sandbox_down(state_dir: Path, timeout: float = 10.0) -> None:
    """Stop the sandbox's BIND pair (SIGTERM, waiting for it to exit) and delete its data."""
    info_file = state_dir / "bind.json"
    if info_file.exists():
        pids = [int(p) for p in json.loads(info_file.read_text()).get("pids", [])]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while not all(_gone(p) for p in pids):
            if time.monotonic() > deadline:
                for pid in pids:
                    if not _gone(pid):
                        os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        info_file.unlink()
    shutil.rmtree(state_dir / "bind", ignore_errors=True)


def dns_toml(info: dict[str, object]) -> str:
    """The [dns] section of the sandbox's provision.toml for a pair from sandbox_up."""
    servers = ", ".join(f'"{s}"' for s in (info["primary"], info["secondary"]))
    return ("[dns]\n"
            f'zone = "{info["zone"]}"\n'
            f'primary = "{info["primary"]}"\n'
            f'tsig_key_file = "{info["key_file"]}"\n'
            f"verify_servers = [{servers}]\n"
            "allow_private_addresses = true  # the sandbox uses documentation addresses\n")
