"""Certificates from a real ACME CA: pebble on this machine, certbot on a sandbox server.

Pebble resolves through the module's BIND (zone batam.go.id, the app names at 127.0.0.1)
and validates HTTP-01 at the server's port-80 forwarder, so the CA's request reaches nginx
inside the server's namespace; DNS-01 TXT records go to the same BIND through certbot's
RFC 2136 plugin with a key granted only the _acme-challenge names. The tests run in
order on one server and build on each other (issue, renew, then each failure leaves the
certificate of the run before serving). Every served certificate is judged with
`openssl s_client` against the root pebble signs with.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.zone
import pytest

from devstack.sandbox import SandboxError
from devstack.sandbox.bind import BindPair
from devstack.sandbox.pebble import Pebble, inside_directory
from devstack.sandbox.tunnel import Tunnel
from provision.errors import ExitCode
from tests.hosting.conftest import ZONE, HostingEnv, _environment, cli
from tests.secret_sweep import remember

pytestmark = [pytest.mark.root, pytest.mark.slow]

A, B = "REQ-2026-0151", "REQ-2026-0152"
MAIN, ALIAS = f"sisekolah.{ZONE}", f"sekolah.{ZONE}"
DNS_NAME = f"siinternal.{ZONE}"  # validated by DNS-01 only: it has no address in the zone
NEW_NAME = f"baru.{ZONE}"  # no vhost on the server: the port-80 catch-all answers it


@dataclass
class AcmeEnv:
    env: HostingEnv
    bind: BindPair
    ca: Pebble

    def s_client(self, name: str) -> dict[str, Any]:
        """What nginx serves for `name` (SNI), verified by openssl against pebble's current root."""
        root = self.env.home / "pebble-root.pem"
        root.write_text(self.ca.root_pem())
        port = self.env.server.forward(443)
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", name,
                            "-verify_hostname", name, "-CAfile", str(root), "-verify_return_error"],
                           input="", capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "Verify return code: 0 (ok)" in r.stdout, r.stdout[-1500:] + r.stderr[-1500:]
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
        assert pem, r.stdout
        x = subprocess.run(["openssl", "x509", "-noout", "-issuer", "-serial", "-enddate", "-ext", "subjectAltName"],
                           input=pem.group(0), capture_output=True, text=True, check=True).stdout
        end = re.search(r"notAfter=(.*)", x)
        assert end
        return {"issuer": re.search(r"issuer=(.*)", x).group(1), "serial": re.search(r"serial=(.*)", x).group(1),  # type: ignore[union-attr]
                "not_after": dt.datetime.strptime(end.group(1).strip(), "%b %d %H:%M:%S %Y %Z"),
                "names": sorted(re.findall(r"DNS:([^,\s]+)", x))}

    def serial(self, name: str) -> str:
        """The serial nginx serves for `name`, read without verification (pebble's root may be new)."""
        port = self.env.server.forward(443)
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", name],
                           input="", capture_output=True, text=True, timeout=30)
        x = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=r.stdout, capture_output=True, text=True)
        assert x.returncode == 0, r.stdout[-800:] + r.stderr[-800:]
        return x.stdout.strip().split("=")[1]

    def txt_left(self) -> list[str]:
        """_acme-challenge names left in the zone (AXFR with the toolkit's key)."""
        keyring = dns.tsigkeyring.from_file(str(self.bind.client_key_file))  # type: ignore[attr-defined]
        z = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=self.bind.primary.port,  # type: ignore[union-attr]
                                            keyring=keyring, keyname=next(iter(keyring))))
        return sorted(str(n) for n, node in z.nodes.items() if "_acme-challenge" in str(n))


def _write_config(env: HostingEnv, sandbox: Any, bind: BindPair, ca: Pebble) -> None:
    (env.home / "provision.toml").write_text(
        f'[general]\nstate_dir = "{env.home / "state"}"\n'
        f'[dns]\nzone = "{ZONE}"\nprimary = "{bind.primary_addr}"\ntsig_key_file = "{bind.client_key_file}"\n'
        f'[hosting]\ninventory = "{sandbox.inventory}"\nssh_config = "{sandbox.ssh_config}"\n'
        f'known_hosts = "{sandbox.known_hosts}"\n'
        f'tls_source = "acme"\nacme_server = "{inside_directory()}"\nacme_email = "kominfo@batam.go.id"\n'
        f'acme_ca_bundle = "{ca.listener_ca}"\nacme_tsig_key_file = "{bind.acme_key_file}"\n'
        'acme_dns_propagation_seconds = 1\n')


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory, sandbox: Any, kominfo_server: Any) -> Iterator[AcmeEnv]:
    home = tmp_path_factory.mktemp("acme")
    bind = BindPair(zone=ZONE, secondary=False, acme_names=[MAIN, ALIAS, DNS_NAME],
                    records=[f"{n.split('.')[0]} 300 IN A 127.0.0.1" for n in (MAIN, ALIAS, NEW_NAME)])
    tunnels: list[Tunnel] = []
    ca = None
    try:
        bind.start()
        ca = Pebble(dns_server=bind.primary_addr, http_port=kominfo_server.forward(80)).start()
        tunnels.append(ca.tunnel_into(kominfo_server))
        tunnels.append(Tunnel(kominfo_server, target_port=bind.primary.port).start())  # type: ignore[union-attr]
    except SandboxError as e:
        for t in tunnels:
            t.stop()
        if ca:
            ca.stop()
        bind.stop()
        pytest.fail(f"the ACME sandbox could not start: {e}", pytrace=False)
    assert ca is not None
    remember(re.search(r'secret "([^"]+)"', bind.acme_key_file.read_text()).group(1), "TSIG key (ACME)")  # type: ignore[union-attr]
    env = HostingEnv(home, Path(), Path(), kominfo_server)
    _write_config(env, sandbox, bind, ca)
    mp = _environment(home)
    try:
        yield AcmeEnv(env, bind, ca)
    finally:
        mp.undo()
        for t in tunnels:
            t.stop()
        ca.stop()
        bind.stop()


def _events(rid: str) -> list[dict[str, Any]]:
    return [e for e in (json.loads(line) for line in cli("audit", "export", "--request", rid).stdout.splitlines())
            if e["provider"] == "hosting" and e["action"] != "register"]


def _vhost(a: AcmeEnv, slug: str) -> str:
    return a.env.on_server(f"cat /etc/nginx/sites-available/{slug}.conf").stdout


def _http(a: AcmeEnv, name: str, path: str) -> subprocess.CompletedProcess[str]:
    port = a.env.server.forward(80)
    return subprocess.run(["curl", "-sS", "-i", "--max-time", "10", "-H", f"Host: {name}",
                           f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=20)


def test_http01_first_issue_through_the_catch_all(acme: AcmeEnv) -> None:
    a = acme
    a.env.open_request(A, "sisekolah", aliases=["sekolah"], database="none")
    a.env.pass_gate(A)
    r = cli("hosting", "apply", A, "--yes")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert re.search(r"hosting\.tls .*sisekolah\.batam\.go\.id", r.stdout) and "Applied 4 of 4 changes" in r.stdout, r.stdout
    got = a.s_client(MAIN)  # verified against pebble's root, for the name
    assert got["issuer"].startswith("CN = Pebble Intermediate CA"), got
    assert got["names"] == sorted([MAIN, ALIAS]), got
    assert got["not_after"] > dt.datetime.now() + dt.timedelta(days=30), got
    assert a.s_client(ALIAS)["serial"] == got["serial"]
    # certbot's lineage, its renewal by the timer, the hook that reloads nginx; no secret left.
    srv = a.env.on_server
    assert "authenticator = webroot" in srv("cat /etc/letsencrypt/renewal/sisekolah.conf").stdout
    assert srv("systemctl is-enabled certbot.timer", check=False).stdout.strip() == "enabled"
    hook = srv("cat /etc/letsencrypt/renewal-hooks/deploy/kominfo-provision-nginx").stdout
    assert "nginx -t" in hook and "systemctl reload nginx" in hook
    assert srv("ls /etc/letsencrypt/ | grep -c kominfo- || true").stdout.strip() == "0"
    # The timer's renewal takes the lock the toolkit's certbot runs take: while a toolkit
    # run holds it, the renewal (a oneshot: `systemctl start` returns when it ended) waits,
    # then runs once the lock is free.
    lock = "/run/lock/kominfo-provision-certbot.lock"
    dropin = srv("cat /etc/systemd/system/certbot.service.d/kominfo-provision.conf").stdout
    assert f"ExecStart=\nExecStart=/usr/bin/flock --wait 900 {lock} /usr/bin/certbot -q renew" in dropin, dropin
    srv(f"setsid -f flock {lock} sleep 5 </dev/null >/dev/null 2>&1; sleep 0.5")
    t0 = time.monotonic()
    started = srv("systemctl start certbot.service", check=False)
    waited = time.monotonic() - t0
    assert started.returncode == 0, started
    assert waited >= 3.5, f"the renewal did not wait for the lock ({waited:.1f} s)"
    events = _events(A)
    assert [e["outcome"] for e in events].count("succeeded") == 4 and any(e["action"] in ("create", "update")
                                                                          and "tls" in json.dumps(e) for e in events)
    # The plan is now empty: a second apply changes nothing.
    r = cli("hosting", "apply", A, "--yes")
    assert r.exit_code == 0 and "Nothing to do" in r.stdout, r


def test_the_challenge_path_is_served_over_plain_http(acme: AcmeEnv) -> None:
    a = acme
    token = "kominfo-test-token_0123"
    a.env.on_server(f"mkdir -p /var/lib/kominfo-provision/acme/.well-known/acme-challenge && "
                    f"echo {token} > /var/lib/kominfo-provision/acme/.well-known/acme-challenge/{token}")
    try:
        # A name without a vhost: the catch-all answers the challenge and nothing else (444).
        r = _http(a, NEW_NAME, f"/.well-known/acme-challenge/{token}")
        assert r.stdout.startswith("HTTP/1.1 200") and r.stdout.rstrip().endswith(token), r.stdout + r.stderr
        r = _http(a, NEW_NAME, "/")
        assert r.returncode == 52 and r.stdout == "", r  # curl: empty reply (nginx's 444)
        # A vhost that redirects to HTTPS: the challenge is answered over HTTP, before the redirect.
        r = _http(a, MAIN, f"/.well-known/acme-challenge/{token}")
        assert r.stdout.startswith("HTTP/1.1 200") and r.stdout.rstrip().endswith(token), r.stdout + r.stderr
        r = _http(a, MAIN, "/.well-known/acme-challenge/missing")
        assert r.stdout.startswith("HTTP/1.1 404"), r.stdout
        r = _http(a, MAIN, "/.env")
        assert r.stdout.startswith("HTTP/1.1 301") and f"Location: https://{MAIN}/.env" in r.stdout, r.stdout
    finally:
        a.env.on_server(f"rm -f /var/lib/kominfo-provision/acme/.well-known/acme-challenge/{token}")


def _load(a: AcmeEnv, name: str, stop: threading.Event, failures: list[str], count: list[int]) -> None:
    """HTTPS requests one after the other until `stop`; failures recorded."""
    port = a.env.server.forward(443)
    while not stop.is_set():
        r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                            "--resolve", f"{name}:{port}:127.0.0.1", f"https://{name}:{port}/"],
                           capture_output=True, text=True, timeout=20)
        count[0] += 1
        if r.returncode != 0 or r.stdout not in ("200", "403", "404"):
            failures.append(f"{r.returncode} {r.stdout} {r.stderr}")


def test_forced_renewal_replaces_the_certificate_without_dropping_a_request(acme: AcmeEnv) -> None:
    a = acme
    before = a.s_client(MAIN)
    # The reviewed plan's checksum: another one is refused before anything is done.
    shown = cli("hosting", "renew", A, "--dry-run", "--json")
    assert shown.exit_code == 0, shown
    reviewed = shown.json["checksum"]
    stale = cli("hosting", "renew", A, "--checksum", "0" * len(reviewed), "--yes")
    assert stale.exit_code == ExitCode.CONFLICT, stale
    assert f"the plan is not the one reviewed (checksum {'0' * len(reviewed)}, now {reviewed})" in stale.stderr
    assert a.s_client(MAIN)["serial"] == before["serial"]
    stop, failures, count = threading.Event(), [], [0]
    load = threading.Thread(target=_load, args=(a, MAIN, stop, failures, count))
    load.start()
    try:
        r = cli("hosting", "renew", A, "--checksum", reviewed, "--yes")
    finally:
        stop.set()
        load.join()
    assert r.exit_code == 0, r
    assert "renewal forced by `provision hosting renew`" in r.stdout and "Applied 1 of 1 changes" in r.stdout, r.stdout
    after = a.s_client(MAIN)
    assert after["serial"] != before["serial"] and after["names"] == before["names"], (before, after)
    assert failures == [] and count[0] > 3, (failures, count)
    events = _events(A)
    attempt = [e for e in events if "renewal forced" in json.dumps(e)]
    assert [e["outcome"] for e in attempt] == ["attempted"], attempt
    assert [e["outcome"] for e in events if e["ref"] == attempt[0]["seq"]] == ["succeeded"], events


def _failed_renewal(a: AcmeEnv, rid: str, name: str, slug: str, code: int, stage: str) -> str:
    served, vhost = a.serial(name), _vhost(a, slug)
    n = len(_events(rid))
    r = cli("hosting", "renew", rid, "--yes")
    assert r.exit_code == code, r.stdout[-3000:] + r.stderr
    assert f"at {stage}:" in r.stderr and "the previous certificate keeps serving" in r.stderr, r.stderr
    assert a.serial(name) == served and _vhost(a, slug) == vhost
    new = _events(rid)[n:]
    assert [e["outcome"] for e in new] == ["attempted", "failed"] and "ACME" in (new[1]["reason"] or ""), new
    assert a.env.on_server("nginx -t", check=False).returncode == 0
    return r.stderr


def test_port_80_blocked_leaves_the_certificate_serving(acme: AcmeEnv) -> None:
    a = acme
    rule = ["INPUT", "-p", "tcp", "--dport", "80", "-j", "REJECT", "--reject-with", "tcp-reset"]
    subprocess.run(["ip", "netns", "exec", a.env.server.netns, "iptables", "-I", *rule], check=True)
    try:
        err = _failed_renewal(a, A, MAIN, "sisekolah", ExitCode.FAILURE, "the HTTP-01 challenge validation")
        assert "with http-01 (certbot exit 1)" in err, err
    finally:
        subprocess.run(["ip", "netns", "exec", a.env.server.netns, "iptables", "-D", *rule], check=True)


def test_dns01_first_issue_and_no_txt_left(acme: AcmeEnv) -> None:
    a = acme
    a.env.open_request(B, "siinternal", database="none")
    spec = json.loads((a.env.home / f"{B}.yaml").read_text())
    spec["hosting"]["acme_challenge"] = "dns-01"
    (a.env.home / f"{B}.yaml").write_text(json.dumps(spec))
    assert cli("spec", "set", B, str(a.env.home / f"{B}.yaml")).exit_code == 0
    a.env.pass_gate(B)
    r = cli("hosting", "apply", B, "--yes")
    assert r.exit_code == 0, r.stderr
    got = a.s_client(DNS_NAME)
    assert got["issuer"].startswith("CN = Pebble Intermediate CA") and got["names"] == [DNS_NAME], got
    assert "authenticator = dns-rfc2136" in a.env.on_server("cat /etc/letsencrypt/renewal/siinternal.conf").stdout
    assert a.txt_left() == []  # certbot removed its TXT record after validation
    assert a.env.on_server("ls /etc/letsencrypt/ | grep -c kominfo- || true").stdout.strip() == "0"
    secret = re.search(r'secret "([^"]+)"', a.bind.acme_key_file.read_text()).group(1)  # type: ignore[union-attr]
    assert secret not in r.stdout + r.stderr
    assert [p for p in (a.env.home / "state").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()] == []


def test_revoked_tsig_key_leaves_the_certificate_serving(acme: AcmeEnv) -> None:
    a = acme
    a.bind.set_policy("grant provision-key zonesub ANY;")  # the ACME key loses its grant
    try:
        _failed_renewal(a, B, DNS_NAME, "siinternal", ExitCode.AUTH, "the DNS-01 TXT record update")
        assert a.txt_left() == []
    finally:
        a.bind.set_policy(f"grant provision-key zonesub ANY; {a.bind.acme_policy()}")


def test_ca_down_leaves_the_certificate_serving(acme: AcmeEnv) -> None:
    a = acme
    # Last: a restarted pebble has forgotten the accounts certbot registered.
    a.ca.kill()
    try:
        _failed_renewal(a, A, MAIN, "sisekolah", ExitCode.UNREACHABLE, "contacting the ACME CA")
    finally:
        a.ca.restart()
