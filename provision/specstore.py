"""Specs stored with their request, versioned: each `spec set` adds a version."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select

from provision.audit import AuditLog, utcnow
from provision.errors import NotFound, RequestClosed
from provision.store import Store
from provision.store.models import SpecVersion


class SpecStore:
    def __init__(self, store: Store, audit: AuditLog, requests: Any, config: Any) -> None:
        self.store, self.audit, self.requests, self.config = store, audit, requests, config

    def validate(self, text: str | bytes, source: str) -> Any:
        """Parse and check a spec with the configuration's rules (reserved names, absolute
        aliases); raises ValidationError listing every problem."""
        from provision.spec import load_spec_for

        return load_spec_for(text, source, self.config)

    def set(self, request_id: str, text: str | bytes, source: str) -> tuple[int, bool]:
        """Store a new version unless identical to the latest; returns (version, changed)."""
        spec = self.validate(text, source)
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
        req = self.requests.get(request_id)
        if req.status != "open":
            raise RequestClosed(f"request {request_id} is closed; it refuses changes.")
        digest = hashlib.sha256(raw.encode()).hexdigest()
        with self.store.write() as s:
            latest = s.execute(select(SpecVersion).where(SpecVersion.request_id == request_id)
                               .order_by(SpecVersion.version.desc()).limit(1)).scalar()
            if latest and latest.sha256 == digest:
                return latest.version, False
            version = (latest.version + 1) if latest else 1
            s.add(SpecVersion(request_id=request_id, version=version, text=raw, sha256=digest,
                              created_at=utcnow(), created_by=self.audit.actor))
        self.audit.record("spec", "set", f"{request_id} spec v{version}", request_id=request_id,
                          after={"version": version, "sha256": digest,
                                 "slug": spec.application.slug})
        return version, True

    def get_text(self, request_id: str, version: int | None = None) -> tuple[int, str]:
        self.requests.get(request_id)
        q = select(SpecVersion).where(SpecVersion.request_id == request_id)
        q = q.where(SpecVersion.version == version) if version else q.order_by(
            SpecVersion.version.desc()).limit(1)
        with self.store.read() as s:
            row = s.execute(q).scalar()
        if row is None:
            which = f"version {version}" if version else "no spec"
            raise NotFound(f"request {request_id} has {which}" + (" of its spec." if version else "."),
                           f"Set one with: provision spec set {request_id} FILE")
        return row.version, row.text

    def get(self, request_id: str, version: int | None = None) -> Any:
        v, text = self.get_text(request_id, version)
        return self.validate(text, f"{request_id} spec v{v}")

    def versions(self, request_id: str) -> int:
        with self.store.read() as s:
            return s.execute(select(func.count()).select_from(SpecVersion).where(
                SpecVersion.request_id == request_id)).scalar() or 0
