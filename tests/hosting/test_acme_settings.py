"""ACME settings and certbot's failures, without a server: `config check` refuses an
incomplete set (exit 2, naming the key), the RFC 2136 credentials file, and the stage a
certbot failure names. The real issue, renewal and failures run in test_acme.py."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from provision.errors import ConfigError, ExitCode
from provision.hosting import acme
from tests.helpers import run_cli


def _config(home: Path, text: str) -> None:
    (home / "provision.toml").write_text(f'[general]\nstate_dir = "{home / "state"}"\n' + text)


def _key(path: Path, mode: int = 0o600) -> Path:
    path.write_text(subprocess.run(["tsig-keygen", "-a", "hmac-sha256", "acme-key"], capture_output=True,
                                   text=True, check=True).stdout)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("hosting", "key", "words"), [
    ('acme_challenge = "dns-01"\n', "hosting.acme_tsig_key_file", "acme_challenge is dns-01: set the TSIG key"),
    ('acme_eab_kid = "kid-1"\nacme_server = "https://ca.example/dir"\n', "hosting.acme_eab_hmac_key_file",
     "acme_eab_kid is set: the CA also needs its HMAC key"),
    ('acme_eab_kid = "kid-1"\nacme_eab_hmac_key_file = "{hmac}"\n', "hosting.acme_server",
     "external account binding needs the CA's directory URL"),
    ('acme_eab_hmac_key_file = "{hmac}"\n', "hosting.acme_eab_kid", "an EAB HMAC key is set but not its key id"),
    ('acme_ca_bundle = "/nonexistent/ca.pem"\n', "hosting.acme_ca_bundle", "/nonexistent/ca.pem does not exist"),
    ('acme_tsig_key_file = "{open_key}"\n', "hosting.acme_tsig_key_file", "chmod 600"),
    ('acme_dns_server = "ns1 53"\n', "hosting.acme_dns_server", "is not host:port"),
])
def test_config_check_refuses_an_incomplete_acme_set(provision_home: Path, hosting: str, key: str,
                                                     words: str) -> None:
    hmac = provision_home / "eab.hmac"
    hmac.write_text("c2VjcmV0LWhtYWMta2V5\n")
    hmac.chmod(0o600)
    open_key = _key(provision_home / "open.key", 0o644)
    _config(provision_home, "[hosting]\n" + hosting.format(hmac=hmac, open_key=open_key))
    r = run_cli("config", "check")
    assert r.exit_code == ExitCode.USAGE, r
    assert key in r.stderr and words in r.stderr, r.stderr


def test_config_check_accepts_a_complete_acme_set(provision_home: Path) -> None:
    hmac = provision_home / "eab.hmac"
    hmac.write_text("c2VjcmV0LWhtYWMta2V5\n")
    hmac.chmod(0o600)
    ca = provision_home / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    _config(provision_home, f'[hosting]\ntls_source = "acme"\nacme_server = "https://ca.example/dir"\n'
            f'acme_email = "kominfo@batam.go.id"\nacme_challenge = "dns-01"\n'
            f'acme_tsig_key_file = "{_key(provision_home / "acme.key")}"\nacme_eab_kid = "kid-1"\n'
            f'acme_eab_hmac_key_file = "{hmac}"\nacme_ca_bundle = "{ca}"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 0 and "Configuration OK" in r.stdout, r
    r = run_cli("config", "show")
    assert "c2VjcmV0LWhtYWMta2V5" not in r.stdout and "hosting.acme_eab_hmac_key" in r.stdout, r.stdout


def test_the_eab_key_is_not_read_from_the_configuration_file(provision_home: Path) -> None:
    _config(provision_home, '[hosting]\nacme_eab_hmac_key = "c2VjcmV0"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 2 and "PROVISION_HOSTING_ACME_EAB_HMAC_KEY" in r.stderr, r


def test_rfc2136_credentials_are_a_0600_ini_for_certbot(tmp_path: Path) -> None:
    key = _key(tmp_path / "acme.key")
    ini = acme.dns_credentials(str(key), "127.0.0.1:5353", tmp_path)
    assert stat.S_IMODE(os.stat(ini).st_mode) == 0o600
    fields = dict(line.split(" = ", 1) for line in ini.read_text().splitlines())
    secret = key.read_text().split('secret "')[1].split('"')[0]
    assert fields == {"dns_rfc2136_server": "127.0.0.1", "dns_rfc2136_port": "5353",
                      "dns_rfc2136_name": "acme-key", "dns_rfc2136_secret": secret,
                      "dns_rfc2136_algorithm": "HMAC-SHA256"}
    with pytest.raises(ConfigError, match="needs an IP address, not a host name"):
        acme.dns_credentials(str(key), "ns1.batam.go.id:53", tmp_path)
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        acme.dns_credentials(str(key), "127.0.0.1:53", tmp_path)


# certbot 2.1's own words for each failure (from the runs of test_acme.py and certbot's source).
PREFIX = "ACME: the certificate x (x.batam.go.id) was not issued by https://127.0.0.1:14000/dir with {c} (certbot exit 1); " \
         "the previous certificate and the vhost are unchanged. certbot said: "


@pytest.mark.parametrize(("challenge", "said", "stage", "code"), [
    ("http-01", "An unexpected error occurred: | requests.exceptions.ConnectionError: HTTPSConnectionPool(host='127.0.0.1', "
     "port=14000): Max retries exceeded with url: /dir (Caused by NewConnectionError(...: Failed to establish a new "
     "connection: [Errno 111] Connection refused'))", "contacting the ACME CA", ExitCode.UNREACHABLE),
    ("http-01", "Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported "
     "these problems: |   Domain: x.batam.go.id |   Type:   connection |   Detail: 127.0.0.1: Fetching "
     "http://x.batam.go.id:5002/.well-known/acme-challenge/abc: Connection refused",
     "the HTTP-01 challenge validation", ExitCode.FAILURE),
    ("dns-01", "Encountered error adding TXT record: Received response from server: REFUSED",
     "the DNS-01 TXT record update", ExitCode.AUTH),
    ("http-01", "An unexpected error occurred: | The request message was malformed :: Error creating new account :: "
     "External account binding required", "the ACME account", ExitCode.AUTH),
    ("http-01", "Error: urn:ietf:params:acme:error:rateLimited :: too many certificates already issued",
     "the CA's rate limit", ExitCode.FAILURE),
])
def test_a_certbot_failure_names_its_stage(challenge: str, said: str, stage: str, code: int) -> None:
    e = acme.failure("hosting of x failed at task 'Stop here': " + PREFIX.format(c=challenge) + said, "kominfo1")
    assert e.stage == stage and e.exit_code == code
    assert str(e).startswith(f"certificate from ACME failed on kominfo1 at {stage}: ACME: the certificate x")
    assert "the previous certificate keeps serving" in e.hint
