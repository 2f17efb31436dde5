"""Attachments stored content-addressed by SHA-256 under the state directory.

A file is stored once whatever its name; reading it back checks the digest, so a file
changed on disk after storing is detected.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from provision.errors import ProvisionError, UsageError

MAX_SIZE = 50 * 1024 * 1024


class AttachmentCorrupt(ProvisionError):
    pass


class AttachmentStore:
    def __init__(self, root: Path, max_size: int = MAX_SIZE) -> None:
        self.root = root
        self.max_size = max_size  # general.max_attachment_mb

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def check(self, source: Path) -> int:
        """Refuse a file that cannot be stored (unreadable, not a regular file, over the
        limit) before anything is copied or recorded; returns its size."""
        try:
            size = source.stat().st_size
        except OSError as e:
            raise UsageError(f"--attach: cannot read {source}: {e.strerror}.") from e
        if not source.is_file():
            raise UsageError(f"--attach: {source} is not a regular file.")
        if size > self.max_size:
            raise UsageError(f"--attach: {source.name!r} is {size} bytes, over the limit of {self.max_size} "
                             "bytes (general.max_attachment_mb).")
        return size

    def put(self, source: Path) -> tuple[str, int, bool]:
        """Copy `source` in; returns (sha256, size, new). Same content is stored once;
        `new` says this call created the stored file (the caller removes it when the
        record that would have pointed at it is not written)."""
        size = self.check(source)
        new = False
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                copied = 0
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    copied += len(chunk)
                    if copied > self.max_size:  # it grew after the size was read
                        raise UsageError(f"--attach: {source.name!r} is over the limit of {self.max_size} "
                                         "bytes (general.max_attachment_mb).")
                    h.update(chunk)
                    out.write(chunk)
            digest = h.hexdigest()
            dest = self.path(digest)
            dest.parent.mkdir(exist_ok=True, mode=0o700)
            if dest.exists():
                os.unlink(tmp)
            else:
                os.chmod(tmp, 0o400)
                os.replace(tmp, dest)
                new = True
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return digest, size, new

    def discard(self, digest: str) -> None:
        """Remove a stored file that no record points at (see put())."""
        self.path(digest).unlink(missing_ok=True)

    def verify(self, digest: str) -> bool:
        p = self.path(digest)
        if not p.is_file():
            return False
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest() == digest

    def read(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes() if self.path(digest).is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            raise AttachmentCorrupt(
                f"attachment {digest[:12]} is missing or was changed on disk after it was stored.",
                "Restore it from backup; the audit log holds its original digest.")
        return data

    def export(self, digest: str, dest: Path) -> None:
        self.read(digest)
        shutil.copyfile(self.path(digest), dest)
