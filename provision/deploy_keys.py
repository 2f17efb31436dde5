"""Each project's own deploy key, kept on the controller (issue 16, item 4).

Unless `gitlab.deploy_key_file` names one key shared by every project, the toolkit makes an
Ed25519 key pair per request the first time `repo apply` adds a deploy key to the request's
project (read-only, on that project only) and keeps the private key in
`<state_dir>/deploy-keys/<REQ>/id_ed25519` (directory 0700, key 0600). The public key is
always derived from the private one, so the pair is one file and replacing it is one
rename. The install copies the key into the deploy identity's home on the server (0600;
no application runs as that user, docs/hosting.md); a project's key opens no other
project, so a leak is contained to one repository, read-only.

`provision repo rotate-key REQ` makes the next key beside the current one
(`id_ed25519.next`), adds it to GitLab and removes the old one there, then promotes it: a
rotation cut short is resumed with the same next key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from provision.errors import ConfigError
from provision.privatefiles import private_dir

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
KEY_NAME = "id_ed25519"


def key_dir(state_dir: Path, request_id: str) -> Path:
    if not _SAFE.match(request_id):  # a letter or digit first: never "." or ".."
        raise ConfigError(f"{request_id!r} cannot name a deploy key directory.")
    return state_dir / "deploy-keys" / request_id


def current_path(state_dir: Path, request_id: str) -> Path:
    """Where the project's private deploy key is (it may not exist yet)."""
    return key_dir(state_dir, request_id) / KEY_NAME


def next_path(state_dir: Path, request_id: str) -> Path:
    return key_dir(state_dir, request_id) / f"{KEY_NAME}.next"


def public_of(path: Path) -> str:
    """The public key line (`ssh-ed25519 BASE64`, no comment) of the private key at `path`."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        raise ConfigError(f"the deploy key {path} cannot be read: {getattr(e, 'strerror', None) or e}.") from None
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return " ".join(pub.decode().split()[:2])


def public_key(state_dir: Path, request_id: str) -> str | None:
    """The project's current public key, or None when it has none yet."""
    path = current_path(state_dir, request_id)
    return public_of(path) if path.exists() else None


def _create(path: Path) -> str:
    """Write a new Ed25519 private key at `path` (0600, in one rename); its public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_dir(path.parent.parent)  # <state_dir>/deploy-keys: every project's key, owner only
    private_dir(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return public_of(path)


def ensure(path: Path) -> str:
    """The public key of the private key at `path`, made first when there is none."""
    return public_of(path) if path.exists() else _create(path)


def pending_next(state_dir: Path, request_id: str) -> str | None:
    """The next key's public line when a rotation was started and not finished."""
    path = next_path(state_dir, request_id)
    return public_of(path) if path.exists() else None


def promote_next(state_dir: Path, request_id: str) -> None:
    """The next key becomes the current one (one rename); the old private key is gone."""
    os.replace(next_path(state_dir, request_id), current_path(state_dir, request_id))
