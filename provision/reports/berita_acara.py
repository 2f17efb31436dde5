"""The Berita Acara Uji Instalasi dan Uji Fungsi (SOP step 14), from the stored records:
the request, the spec, the install of the tested commit and a `provision test` run."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from provision.errors import NotFound
from provision.reports.engine import FORMATS, IssuedDocument, ReportEngine
from provision.reports.messages import from_record, msg
from provision.reports.team import technical_team
from provision.store.models import Install, TestRun

KIND = "berita-acara"
JENIS = {"smoke": "Uji fungsi (halaman)", "tls": "Uji TLS", "app-test": "Uji aplikasi (perintah pengujian)",
         "infra": "Uji instalasi (server)", "documents": "Dokumen tahap 13"}


def latest_test_run(app: Any, request_id: str, env: str | None, test_run_id: int | None) -> TestRun:
    q = select(TestRun).where(TestRun.request_id == request_id)
    if test_run_id:
        q = q.where(TestRun.id == test_run_id)
    elif env:
        q = q.where(TestRun.env == env)
    with app.store.read() as s:
        row = s.execute(q.order_by(TestRun.id.desc()).limit(1)).scalar()
    if row is None:
        raise NotFound(f"{request_id} has no recorded test run{' ' + str(test_run_id) if test_run_id else ''}"
                       f"{' for ' + env if env and not test_run_id else ''}: the Berita Acara is written from one.",
                       f"Run: provision test {request_id}")
    return row


LINGKUNGAN = {"staging": "uji coba (staging)", "production": "produksi"}


def check_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table rows of the Berita Acara, in Bahasa Indonesia from the message catalogue;
    Untranslated for a check recorded without catalogue messages or with a message that
    has no Indonesian text."""
    rows = []
    for i, c in enumerate(results, 1):
        name = from_record(c.get("message"))
        remarks = [from_record(r) for r in c.get("remarks") or []]
        status = c.get("status", "pass" if c.get("passed") else "fail")
        rows.append({"no": i, "jenis": JENIS.get(c["kind"], c["kind"]), "nama": name.id,
                     "hasil": msg(f"result.{status}").id, "status": status,
                     "keterangan": "; ".join(r.id for r in remarks)})
    return rows


def context(app: Any, request_id: str, run: TestRun) -> dict[str, Any]:
    req = app.requests.get(request_id)
    spec = app.specs.get(request_id)
    with app.store.read() as s:
        install = s.execute(select(Install).where(
            Install.request_id == request_id, Install.env == run.env, Install.commit == run.commit)
            .order_by(Install.id.desc()).limit(1)).scalar()
    checks = check_rows(json.loads(run.results))
    findings = [c for c in checks if c["status"] == "fail"]
    hosts = json.loads(install.hosts) if install and install.hosts else {}
    cfg = app.config
    return {
        "req": req, "spec": spec, "run": run, "install": install, "checks": checks, "findings": findings,
        "layak": run.passed, "host": ", ".join(hosts) or spec.hosting.host,
        "lingkungan": LINGKUNGAN.get(run.env, run.env),
        "commit": run.commit or "-", "ref": install.ref if install else "-",
        "tanggal_uji": run.created_at.date() if run.created_at else app.today(),
        "tim_kominfo": technical_team(app, request_id, "kominfo"),
        "tim_opd": technical_team(app, request_id, "opd"),
        "tembusan": [f"Kepala {req.opd_name}", *cfg.reports.tembusan, "Arsip"],
    }


def issue(app: Any, request_id: str, env: str | None = None, test_run_id: int | None = None,
          reissue: bool = False, formats: tuple[str, ...] = FORMATS,
          number: str | None = None, date: Any = None) -> IssuedDocument:
    run = latest_test_run(app, request_id, env, test_run_id)
    data = context(app, request_id, run)
    return ReportEngine(app).issue(request_id, KIND, f"test-run {run.id}", lambda number, date: data,
                                   formats=formats, reissue=reissue, number=number, date=date)
