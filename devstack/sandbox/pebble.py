"""A throwaway ACME CA (Debian's `pebble`) for one sandbox server, on 127.0.0.1 at free ports.

    with Pebble(dns_server=bind.primary_addr, http_port=server.forward(80)) as ca:
        ca.directory        # "https://127.0.0.1:PORT/dir" on this machine
        ca.listener_ca      # the CA of pebble's own HTTPS listener (certbot's REQUESTS_CA_BUNDLE)
        ca.root_pem()       # the root that signs the certificates it issues (fetched anew: it
                            # changes at every start)
        ca.tunnel_into(server)  # the directory at https://127.0.0.1:14000/dir inside the server

Pebble resolves every name through the sandbox BIND (`-dnsserver`), so an HTTP-01
challenge goes to the address the zone gives (127.0.0.1 in the sandbox) at `httpPort`,
which is the forwarder of the server's port 80 (`Server.forward(80)`): the request
really reaches nginx inside the server's network namespace. A DNS-01 challenge is
read from the zone itself. Its own HTTPS listener uses a certificate made here for
127.0.0.1 and localhost (Debian ships none). It runs as `nobody`, with the environment
the pebble README documents for tests: no random sleep before validating
(PEBBLE_VA_NOSLEEP), no rejected nonces (PEBBLE_WFE_NONCEREJECT=0), no reused
authorisations (PEBBLE_AUTHZREUSE=0: every issue and renewal validates again).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from devstack.sandbox import SandboxError, as_user, chown_to, find_binary, free_port, pid_alive, tail, terminate

PEBBLE_USER = "nobody"
INSIDE_PORT = 14000  # where certbot inside a sandbox server finds the directory
_PREFIX = "kp-pebble-"
ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}


def _listener_cert(directory: Path) -> Path:
    """A CA and a certificate for 127.0.0.1/localhost signed by it; returns the CA's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox pebble listener CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=29))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "listener-ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "listener.pem").write_bytes(cert.public_bytes(pem))
    keyfile = directory / "listener.key"
    keyfile.touch(mode=0o600)
    keyfile.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return directory / "listener-ca.pem"


class Pebble:
    """One pebble process with its own directory (config, listener certificate, log)."""

    def __init__(self, dns_server: str, http_port: int, base_dir: Path | None = None,
                 eab: dict[str, str] | None = None) -> None:
        self.dns_server = dns_server  # "127.0.0.1:PORT" of the sandbox BIND
        self.http_port = http_port  # where HTTP-01 validation connects (the server's port-80 forwarder)
        self.base_dir = base_dir
        self.eab = eab  # {kid: base64url HMAC key}: external account binding required
        self.base: Path | None = None
        self.port = 0
        self.mgmt_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def listener_ca(self) -> Path:
        assert self.base, "not started"
        return self.base / "listener-ca.pem"

    @property
    def log(self) -> Path:
        assert self.base, "not started"
        return self.base / "pebble.log"

    def start(self) -> Pebble:
        binary = find_binary("pebble", ["/usr/bin"], "pebble")
        clean_stale()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir.mkdir(parents=True)
            self.base = self.base_dir
        else:
            self.base = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        os.chmod(self.base, 0o755)
        try:
            _listener_cert(self.base)
            for f in ("listener.key", "listener.pem"):
                chown_to(self.base / f, PEBBLE_USER)
            self.port, self.mgmt_port = free_port(), free_port()
            conf: dict[str, Any] = {
                "listenAddress": f"127.0.0.1:{self.port}", "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
                "certificate": str(self.base / "listener.pem"), "privateKey": str(self.base / "listener.key"),
                "httpPort": self.http_port, "tlsPort": free_port(), "ocspResponderURL": "",
                "externalAccountBindingRequired": bool(self.eab)}
            if self.eab:
                conf["externalAccountMACKeys"] = self.eab
            (self.base / "pebble-config.json").write_text(json.dumps({"pebble": conf}, indent=2))
            out = open(self.log, "wb")
            self.proc = subprocess.Popen(
                as_user(PEBBLE_USER) + [binary, "-config", str(self.base / "pebble-config.json"),
                                        "-dnsserver", self.dns_server],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=self.base, env={"PATH": "/usr/bin:/bin", **ENV})
            out.close()
            (self.base / "pebble.pid").write_text(str(self.proc.pid))
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.listener_ca))

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise SandboxError(f"pebble exited at start: {tail(self.log)}")
            try:
                with urllib.request.urlopen(self.directory, timeout=2, context=self._context()) as r:
                    if "newAccount" in json.loads(r.read()):
                        return
            except (OSError, ValueError) as e:
                last = str(e)
            time.sleep(0.1)
        raise SandboxError(f"pebble did not answer at {self.directory} within {timeout:.0f} s ({last}): {tail(self.log)}")

    def root_pem(self) -> str:
        """The root certificate pebble signs with now (its management interface)."""
        url = f"https://127.0.0.1:{self.mgmt_port}/roots/0"
        with urllib.request.urlopen(url, timeout=5, context=self._context()) as r:
            return str(r.read().decode())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        terminate(self.proc, timeout=5)
        self.proc = None
        if self.base is not None and self.base_dir is None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def kill(self) -> None:
        """Stop the process only (the CA is "down"); `restart` brings it back on the same ports."""
        terminate(self.proc, timeout=5)

    def restart(self) -> None:
        """Start it again on the same ports and files (a new root: pebble makes one at each start)."""
        assert self.base, "never started"
        binary = find_binary("pebble", ["/usr/bin"], "pebble")
        terminate(self.proc, timeout=5)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            as_user(PEBBLE_USER) + [binary, "-config", str(self.base / "pebble-config.json"),
                                    "-dnsserver", self.dns_server],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=self.base, env={"PATH": "/usr/bin:/bin", **ENV})
        out.close()
        self._wait_ready()

    def tunnel_into(self, server: Any) -> Any:
        """The directory at https://127.0.0.1:INSIDE_PORT/dir inside `server` (a started Tunnel)."""
        from devstack.sandbox.tunnel import Tunnel

        return Tunnel(server, target_port=self.port, port=INSIDE_PORT).start()

    def __enter__(self) -> Pebble:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def inside_directory() -> str:
    return f"https://127.0.0.1:{INSIDE_PORT}/dir"


def clean_stale(tmp_root: Path | None = None) -> list[Path]:
    """Stop the pebble processes and delete the data of CAs whose test process died."""
    import re

    removed = []
    for d in Path(tmp_root or tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        m = re.match(rf"{_PREFIX}(\d+)-", d.name)
        if not m or pid_alive(int(m.group(1))):
            continue
        try:
            os.killpg(int((d / "pebble.pid").read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


# ---- the sandbox for people: a CA that outlives the command that started it ----------

def sandbox_up(state_dir: Path, dns_server: str, server: Any) -> dict[str, Any]:
    """Start (or find running) the sandbox's pebble under `state_dir`/pebble for `server`
    (validating HTTP-01 at its port-80 forwarder), tunnel it into the server, write the
    roots; its facts."""
    info_file = state_dir / "pebble.json"
    if info_file.exists():
        info = json.loads(info_file.read_text())
        if all(pid_alive(int(p)) for p in info["pids"]):
            return info  # type: ignore[no-any-return]
        sandbox_down(state_dir)
    ca = Pebble(dns_server=dns_server, http_port=server.forward(80), base_dir=state_dir / "pebble")
    ca.start()
    from devstack.sandbox.tunnel import Tunnel

    tunnels = []
    try:
        tunnels.append(ca.tunnel_into(server))
        # certbot's RFC 2136 plugin (DNS-01) reaches the primary at the same port inside.
        tunnels.append(Tunnel(server, target_port=int(dns_server.rpartition(":")[2])).start())
        root = state_dir / "pebble" / "root.pem"
        root.write_text(ca.root_pem())
    except BaseException:
        for t in tunnels:
            t.stop()
        ca.stop()
        raise
    assert ca.proc is not None
    info = {"directory": ca.directory, "inside_directory": inside_directory(), "server": server.name,
            "listener_ca": str(ca.listener_ca), "root": str(root),
            "dns_server": dns_server, "pids": [ca.proc.pid] + [p.pid for t in tunnels for p in t._procs]}
    info_file.write_text(json.dumps(info, indent=2))
    return info


def sandbox_down(state_dir: Path) -> bool:
    """Stop the sandbox's pebble and its tunnel; True when one was running."""
    info_file = state_dir / "pebble.json"
    running = False
    if info_file.exists():
        for pid in json.loads(info_file.read_text()).get("pids", []):
            try:
                os.killpg(int(pid), signal.SIGTERM)
                running = True
            except OSError:
                pass
        info_file.unlink()
    shutil.rmtree(state_dir / "pebble", ignore_errors=True)
    return running


def acme_toml(info: dict[str, Any], acme_key_file: str = "") -> str:
    """[hosting] keys of the sandbox's provision.toml: certificates from this pebble (HTTP-01;
    an app's spec may ask for dns-01 with the sandbox BIND's ACME key)."""
    return ('tls_source = "acme"\n'
            f'acme_server = "{info["inside_directory"]}"\n'
            'acme_email = "kominfo@batam.test"\n'
            f'acme_ca_bundle = "{info["listener_ca"]}"\n'
            + (f'acme_tsig_key_file = "{acme_key_file}"\nacme_dns_propagation_seconds = 1\n' if acme_key_file else ""))
