"""The Surat Rekomendasi pembuatan subdomain dan/atau penyediaan layanan hosting (SOP
step 15), from the stored records: the request, the spec, the Berita Acara it cites
(latest issued for the request, which must conclude LAYAK) and the hosting registry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from provision.errors import NotFound, UsageError
from provision.reports.engine import FORMATS, IssuedDocument, ReportEngine
from provision.store.models import Document, Hosting, TestRun

KIND = "rekomendasi"


def cited_berita_acara(app: Any, request_id: str) -> Document:
    """The latest Berita Acara of the request; refused when missing or TIDAK LAYAK."""
    with app.store.read() as s:
        ba = s.execute(select(Document).where(Document.request_id == request_id, Document.kind == "berita-acara")
                       .order_by(Document.id.desc()).limit(1)).scalar()
    if ba is None:
        raise NotFound(f"{request_id} has no Berita Acara yet: the Surat Rekomendasi cites it.",
                       f"Issue it first: provision report {request_id} berita-acara")
    try:
        text = Path(ba.path).read_text(encoding="utf-8")
    except OSError as e:
        raise NotFound(f"the Berita Acara {ba.number} is recorded but its file {ba.path} is gone.",
                       f"Issue it again: provision report {request_id} berita-acara --reissue") from e
    m = re.search(r"<!-- source: test-run (\d+) -->", text)
    if m:
        with app.store.read() as s:
            run = s.get(TestRun, int(m.group(1)))
        if run is not None and not run.passed:
            raise UsageError(f"the latest Berita Acara of {request_id} ({ba.number}) concludes TIDAK LAYAK: "
                             "no recommendation can cite it.",
                             "Fix, install and test again, then issue a new Berita Acara.")
    return ba


def context(app: Any, request_id: str, ba: Document) -> dict[str, Any]:
    req = app.requests.get(request_id)
    spec = app.specs.get(request_id)
    zone = (app.config.dns.zone or "").rstrip(".")
    with app.store.read() as s:
        hosting = s.get(Hosting, request_id)
    hosted = hosting is not None and hosting.status == "active"
    return {
        "req": req, "spec": spec, "ba": ba, "hosting": hosting if hosted else None,
        "subdomains": spec.hostnames(zone) if zone else [],
        "host": hosting.host if hosted else spec.hosting.host,
        "perihal": "Rekomendasi Pembuatan Subdomain dan Penyediaan Layanan Hosting" if hosted
                   else "Rekomendasi Pembuatan Subdomain",
        "kepada": f"Kepala {req.opd_name}",
        "tembusan": [*app.config.reports.tembusan, "Arsip"],
    }


def issue(app: Any, request_id: str, reissue: bool = False, formats: tuple[str, ...] = FORMATS,
          number: str | None = None, date: Any = None) -> IssuedDocument:
    ba = cited_berita_acara(app, request_id)
    data = context(app, request_id, ba)
    h = data["hosting"]
    source = f"berita-acara {ba.number}; hosting {h.status + ' ' + h.updated_at.isoformat() if h else 'none'}"
    return ReportEngine(app).issue(request_id, KIND, source, lambda number, date: data, formats=formats,
                                   reissue=reissue, number=number, date=date)
