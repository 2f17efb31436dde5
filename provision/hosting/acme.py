"""ACME (certbot on the server): the secret files a run hands to the play, and what a
certbot failure means.

A run writes, in its private 0600 directory, certbot's RFC 2136 credentials (DNS-01:
the TSIG key limited to `_acme-challenge` names, `hosting.acme_tsig_key_file`) and the
external account binding (`hosting.acme_eab_kid` and its HMAC key); the play copies
them to the server 0600 without logging them and removes them after certbot ran. When
certbot fails, the play's message carries certbot's own words; `failure` names the stage
that failed (the CA unreachable, the account refused, the DNS update refused, the
challenge not answered) with the exit code and what to do.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, ExitCode, ProvisionError
from provision.secrets import REDACTOR, check_secret_file

#: certbot's rfc2136 plugin names algorithms like this (certbot_dns_rfc2136 ALGORITHMS).
ALGORITHMS = {"hmac-md5": "HMAC-MD5", "hmac-sha1": "HMAC-SHA1", "hmac-sha224": "HMAC-SHA224",
              "hmac-sha256": "HMAC-SHA256", "hmac-sha384": "HMAC-SHA384", "hmac-sha512": "HMAC-SHA512"}


class AcmeFailed(ProvisionError):
    """The ACME CA did not issue; `stage` says which step failed. Nothing was changed."""

    def __init__(self, message: str, hint: str, stage: str, exit_code: ExitCode) -> None:
        super().__init__(message, hint)
        self.stage = stage
        self.exit_code = exit_code


def _private(directory: Path, prefix: str, text: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".ini", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return Path(name)


def dns_credentials(key_file: str, server: str, workdir: Path) -> Path:
    """certbot's rfc2136 credentials INI (0600) for the TSIG key in `key_file` (tsig-keygen
    output) and the primary `server` (host:port; the plugin wants an IP address)."""
    import dns.tsigkeyring

    from provision.addresses import parse_server

    if not key_file:
        raise ConfigError("hosting.acme_tsig_key_file is not set: DNS-01 needs a TSIG key limited to "
                          "_acme-challenge names.", "See docs/hosting.md (TLS certificates from ACME).")
    p = Path(key_file).expanduser()
    check_secret_file(p, "hosting.acme_tsig_key_file")
    try:
        keyring = dns.tsigkeyring.from_file(str(p))
    except Exception as e:  # dnspython raises several kinds for a malformed file
        raise ConfigError(f"hosting.acme_tsig_key_file {p} is not a tsig-keygen key file: {e}.",
                          "Make it with `tsig-keygen -a hmac-sha256 acme-key > FILE`.") from e
    if not keyring:
        raise ConfigError(f"hosting.acme_tsig_key_file {p} holds no key.")
    name, key = next(iter(keyring.items()))
    algorithm = ALGORITHMS.get(str(key.algorithm).rstrip(".").lower())
    if algorithm is None:
        raise ConfigError(f"hosting.acme_tsig_key_file: certbot cannot use the algorithm {key.algorithm}.",
                          "Use hmac-sha256 (tsig-keygen's default).")
    host, port = parse_server(server)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"hosting.acme_dns_server {server!r}: certbot's rfc2136 plugin needs an IP address, "
                          "not a host name.", "Set hosting.acme_dns_server to the primary's address:port.") from None
    secret = base64.b64encode(key.secret).decode()
    REDACTOR.add(secret)
    return _private(workdir, "rfc2136-", f"dns_rfc2136_server = {host}\ndns_rfc2136_port = {port}\n"
                    f"dns_rfc2136_name = {str(name).rstrip('.')}\ndns_rfc2136_secret = {secret}\n"
                    f"dns_rfc2136_algorithm = {algorithm}\n")


def eab_config(kid: str, hmac_key: str, workdir: Path) -> Path:
    """A certbot configuration file (0600) with the external account binding."""
    REDACTOR.add(hmac_key)
    return _private(workdir, "eab-", f"eab-kid = {kid}\neab-hmac-key = {hmac_key}\n")


# What certbot says, in the order the stages happen; the first that matches names the stage.
_STAGES: list[tuple[str, str, str, ExitCode]] = [
    (r"rateLimited|too many (certificates|failed|new orders|requests)",
     "the CA's rate limit", "Wait until the limit resets (the message says when); the previous certificate "
     "keeps serving.", ExitCode.FAILURE),
    (r"externalAccount|\beab\b|Error creating new account|Unable to register an account|"
     r"account (does not exist|is deactivated)|unauthorized.*account|accountDoesNotExist",
     "the ACME account", "Check hosting.acme_email, acme_eab_kid and its HMAC key for this CA "
     "(hosting.acme_server).", ExitCode.AUTH),
    (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed",
     "trusting the ACME directory's TLS", "Point hosting.acme_ca_bundle at the CA that signs the "
     "directory's HTTPS certificate (private CAs only).", ExitCode.AUTH),
    (r"error (adding|deleting) TXT record|Received response from server: (REFUSED|NOTAUTH|NOTZONE)|"
     r"BADKEY|BADSIG|BADTIME|Unable to determine base domain|rfc2136",
     "the DNS-01 TXT record update", "The primary refused the update: check hosting.acme_tsig_key_file and "
     "that BIND's update-policy grants it the _acme-challenge names (docs/hosting.md).", ExitCode.AUTH),
    (r"failed to authenticate some domains|Some challenges have failed|Challenge failed|Type:\s+\w+\s",
     "the challenge validation", "The CA could not read the challenge: for HTTP-01 the name must resolve "
     "to this server and port 80 must be reachable from the CA; for DNS-01 the CA must see the TXT record "
     "(acme_dns_propagation_seconds).", ExitCode.FAILURE),
    (r"Max retries exceeded|Failed to establish a new connection|Connection refused|ConnectionError|"
     r"timed out|Name or service not known|The server experienced an internal error|serverInternal|"
     r"Unable to reach|Temporary failure|SSLEOFError|EOF occurred in violation|Connection reset|"
     r"Connection aborted|RemoteDisconnected",
     "contacting the ACME CA", "Check that the CA (hosting.acme_server) is up and reachable from the "
     "server; run again later.", ExitCode.UNREACHABLE),
]


def failure(message: str, host: str) -> AcmeFailed:
    """The AcmeFailed for a play that stopped with the tls_cert role's ACME message."""
    text = " ".join(message.split())
    challenge = "DNS-01" if "with dns-01" in text else "HTTP-01"
    found = next(((stage, hint, code) for pattern, stage, hint, code in _STAGES if re.search(pattern, text, re.I)),
                 None)
    if found is None:
        stage, hint, code = "certbot", "Read certbot's message above and its log on the server " \
                                       "(/var/log/letsencrypt/letsencrypt.log).", ExitCode.FAILURE
    else:
        stage, hint, code = found
        if stage == "the challenge validation":
            stage = f"the {challenge} challenge validation"
    m = re.search(r"ACME: .*", text)
    detail = m.group(0) if m else text
    return AcmeFailed(f"certificate from ACME failed on {host} at {stage}: {detail[-1800:]}",
                      hint + " Nothing was changed: the previous certificate keeps serving.", stage, code)


def is_acme_failure(message: str) -> bool:
    return "ACME: the certificate" in message


def extravars(cfg: Any, secret: Any, challenge: str, workdir: Path, primary: str) -> dict[str, Any]:
    """The ACME items of one application for hosting.yml: settings, and paths of secret files."""
    out: dict[str, Any] = {"acme_challenge": challenge, "acme_ca_bundle": str(Path(cfg.acme_ca_bundle).expanduser())
                           if cfg.acme_ca_bundle else "",
                           "acme_dns_propagation": cfg.acme_dns_propagation_seconds,
                           "acme_dns_credentials": "", "acme_eab_file": ""}
    if challenge == "dns-01":
        out["acme_dns_credentials"] = str(dns_credentials(cfg.acme_tsig_key_file, cfg.acme_dns_server or primary,
                                                          workdir))
    if cfg.acme_eab_kid:
        hmac = secret("hosting", "acme_eab_hmac_key")
        if not hmac:
            raise ConfigError("hosting.acme_eab_kid is set but its HMAC key is not "
                              "(PROVISION_HOSTING_ACME_EAB_HMAC_KEY or hosting.acme_eab_hmac_key_file).")
        out["acme_eab_file"] = str(eab_config(cfg.acme_eab_kid, hmac, workdir))
    return out


__all__ = ["AcmeFailed", "dns_credentials", "eab_config", "extravars", "failure", "is_acme_failure"]
