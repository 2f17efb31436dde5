"""Certificates: read what a server serves, and issue from a local CA (tests, intranets).

In production the certificate comes from ACME (certbot on the server, roles/tls_cert);
with `hosting.tls_source = "local-ca"` the controller signs one with the configured CA
(`local_ca_cert`, `local_ca_key_file` 0600) and the play pushes it. The new key is
written to a 0600 file that the caller deletes after the run; it never reaches a log.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import ProvisionError
from provision.secrets import check_secret_file

RENEW_DAYS = 30  # a certificate closer than this to its end is reissued by the next apply
LIFETIME_DAYS = 90


class CertificateError(ProvisionError):
    """A certificate could not be issued (the CA is unusable, or ACME refused)."""


@dataclass
class CertInfo:
    names: list[str]
    not_after: dt.datetime
    issuer: str
    issuer_fingerprint: str | None = None  # authority key id (hex) when present

    def as_dict(self) -> dict[str, Any]:
        return {"names": self.names, "expires": self.not_after.isoformat(), "issuer": self.issuer}

    def covers(self, names: list[str]) -> bool:
        return set(n.lower() for n in names) <= set(n.lower() for n in self.names)

    def due(self, now: dt.datetime | None = None, renew_days: int = RENEW_DAYS) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return self.not_after - now < dt.timedelta(days=renew_days)


def parse_pem(pem: str) -> CertInfo | None:
    """The first certificate of a PEM chain, or None when it does not parse."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    return CertInfo(names, cert.not_valid_after_utc, cert.issuer.rfc4514_string(), aki.hex() if aki else None)


@dataclass
class LocalCA:
    cert_path: Path
    key_path: Path

    def _load(self) -> tuple[Any, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            check_secret_file(self.key_path, "hosting.local_ca_key_file")
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except ProvisionError as e:
            raise CertificateError(f"the certificate cannot be issued: {e}") from e
        except (OSError, ValueError, TypeError) as e:
            raise CertificateError(f"the certificate cannot be issued: the local CA ({self.cert_path}, "
                                   f"{self.key_path}) cannot be read: {e}.",
                                   "Check hosting.local_ca_cert and hosting.local_ca_key_file. Nothing was changed.") from e
        if _spki(cert.public_key()) != _spki(key.public_key()):
            raise CertificateError("the certificate cannot be issued: hosting.local_ca_key_file is not the key of "
                                   "hosting.local_ca_cert.", "Point both at the same CA. Nothing was changed.")
        now = dt.datetime.now(dt.UTC)
        if cert.not_valid_after_utc < now + dt.timedelta(days=1):
            raise CertificateError(f"the certificate cannot be issued: the local CA expired or expires on "
                                   f"{cert.not_valid_after_utc:%Y-%m-%d}.", "Renew the CA. Nothing was changed.")
        return cert, key

    def key_id(self) -> str | None:
        from cryptography import x509

        try:
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()
        except (OSError, ValueError, x509.ExtensionNotFound):
            return None

    def issue(self, names: list[str], workdir: Path) -> tuple[Path, Path, CertInfo]:
        """Sign a server certificate for `names`; (chain file, key file 0600, info)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_cert, ca_key = self._load()
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        not_after = min(now + dt.timedelta(days=LIFETIME_DAYS), ca_cert.not_valid_after_utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        chain = _write_private(workdir, "fullchain-", cert.public_bytes(serialization.Encoding.PEM)
                               + ca_cert.public_bytes(serialization.Encoding.PEM))
        keyfile = _write_private(workdir, "privkey-", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        info = parse_pem(chain.read_text())
        assert info is not None
        return chain, keyfile, info


def _spki(public_key: Any) -> bytes:
    """A public key as its SubjectPublicKeyInfo DER, comparable whatever its type."""
    from cryptography.hazmat.primitives import serialization

    return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _write_private(directory: Path, prefix: str, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".pem", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    return Path(name)

