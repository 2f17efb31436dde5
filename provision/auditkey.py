"""The audit key: a secret kept outside the database that keys the audit chain.

One 256-bit random secret in a 0600 file (default `<state_dir>/audit.key`, or the file
PROVISION_AUDIT_KEY_FILE names), created on first use, never stored in the database,
never logged (it is registered with the redactor as soon as it is read). From it:

- the events' HMAC-SHA256 (the chain's links: a database writer without the key cannot
  recompute them);
- the runs' seals (HMAC of the run row);
- an Ed25519 key pair (HKDF-derived) that signs checkpoints, so anyone holding the public
  key can check a checkpoint without being able to forge one;
- the key id: the first 16 hex digits of SHA-256 over the public key (not secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provision.errors import SecretError
from provision.secrets import REDACTOR

if TYPE_CHECKING:  # cryptography is imported where a checkpoint is signed or checked, not by every run
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ENV = "PROVISION_AUDIT_KEY_FILE"
FILENAME = "audit.key"


def key_file(state_dir: Path | str, environ: dict[str, str] | None = None) -> Path:
    """Where the key lives: PROVISION_AUDIT_KEY_FILE, else <state_dir>/audit.key."""
    env = os.environ if environ is None else environ
    return Path(env[ENV]).expanduser() if env.get(ENV) else Path(state_dir) / FILENAME


@dataclass
class AuditKey:
    secret: bytes = field(repr=False)
    path: Path | None = None

    # -- loading ------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, create: bool = False) -> AuditKey:
        """Read the key file (0600, owned by us or root); create it if `create` and missing."""
        path = Path(path)
        if not path.exists():
            if not create:
                raise SecretError(f"the audit key file {path} does not exist.",
                                  "Copy the key from where the log was written (install -m 600), "
                                  f"or set {ENV}; see docs/audit.md.")
            _create(path)
        try:
            st = path.stat()
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise SecretError(f"cannot read the audit key file {path}: {type(e).__name__}.",
                              "Check its owner and mode (0600).") from None
        if st.st_mode & 0o077:
            raise SecretError(f"the audit key file {path} is readable or writable by others "
                              f"(mode {stat.S_IMODE(st.st_mode):04o}).", f"Run: chmod 600 {path}")
        if st.st_uid not in (os.geteuid(), 0):
            raise SecretError(f"the audit key file {path} is owned by uid {st.st_uid}, not by this user or root.",
                              f"Run: chown {os.geteuid()} {path}")
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) != 32:
            raise SecretError(f"the audit key file {path} does not hold a key (64 hex digits).",
                              "Restore it from its backup; a new key cannot verify the old events.")
        REDACTOR.add(text)
        return cls(secret, path)

    # -- what it derives ------------------------------------------------------------------
    def mac(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def _signing_key(self) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"kominfo-provision audit checkpoint signing key").derive(self.secret)
        return Ed25519PrivateKey.from_private_bytes(seed)

    @property
    def public_key(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self._signing_key().public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self._signing_key().sign(body)).decode()


def key_id_of(public_key_b64: str) -> str:
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()[:16]


def signature_ok(public_key_b64: str, body: bytes, signature_b64: str) -> bool:
    """Check an Ed25519 signature with a public key only (what an outside auditor does)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        pub.verify(base64.b64decode(signature_b64, validate=True), body)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _create(path: Path) -> None:
    """Write a new key atomically: a temporary 0600 file linked into place, so two first
    runs at once end with one key (the loser reads the winner's)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["AuditKey", "ENV", "FILENAME", "key_file", "key_id_of", "signature_ok"]
