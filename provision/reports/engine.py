"""The report engine: numbering, rendering (Markdown, HTML, PDF), storing, auditing.

Numbers come from `reports.number_format` (placeholders: seq, kind, month_roman, month,
year, request) with `seq` counting documents of that kind in the year, and are unique in
the `Document` table. Issuing again from the same source (e.g. the same test run) gives
back the document already issued rather than spending a new number, unless `reissue`.
PDF is drawn by fpdf2 from the HTML (no browser involved).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from provision.audit import utcnow
from provision.errors import ConfigError
from provision.store.models import Document

TRIES = 20
KIND_CODES = {"berita-acara": "BA", "rekomendasi": "REK"}
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
BULAN = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
         "Oktober", "November", "Desember"]
HARI = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
_SOURCE = re.compile(r"<!-- source: (.+?) -->")


def tanggal(d: dt.date, with_day: bool = False) -> str:
    """A date the Indonesian way: '2 November 2026' (or 'Senin, 2 November 2026')."""
    text = f"{d.day} {BULAN[d.month - 1]} {d.year}"
    return f"{HARI[d.weekday()]}, {text}" if with_day else text


@dataclass
class IssuedDocument:
    kind: str
    number: str
    date: dt.date
    paths: dict[str, Path] = field(default_factory=dict)
    sha256: str = ""
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "number": self.number, "date": self.date.isoformat(),
                "files": {k: str(v) for k, v in self.paths.items()}, "sha256": self.sha256, "reused": self.reused}


@pass_context
def _markdown_safe(ctx: Any, value: Any) -> Any:
    """In a Markdown letter, data never becomes raw HTML (`<script>`, `<img onerror=...>`):
    `&`, `<` and `>` are written as entities, which Markdown shows as the characters. HTML
    templates are left to autoescape."""
    if isinstance(value, str) and (ctx.name or "").endswith(".md.j2"):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _env() -> Environment:
    env = Environment(loader=PackageLoader("provision.reports", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "html.j2"]), trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, finalize=_markdown_safe)
    env.filters["tanggal"] = tanggal
    env.filters["tanggal_hari"] = lambda d: tanggal(d, True)
    return env


class ReportEngine:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.env = _env()

    def number(self, kind: str, date: dt.date, request_id: str, seq: int) -> str:
        fmt = self.app.config.reports.number_format
        try:
            return fmt.format(seq=f"{seq:03d}", kind=KIND_CODES.get(kind, kind.upper()), month_roman=ROMAN[date.month - 1],
                              month=f"{date.month:02d}", year=date.year, request=request_id)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"reports.number_format {fmt!r}: {e} (placeholders: seq, kind, month_roman, "
                              "month, year, request).") from e

    def existing(self, request_id: str, kind: str, source: str) -> IssuedDocument | None:
        with self.app.store.read() as s:
            rows = list(s.execute(select(Document).where(Document.request_id == request_id, Document.kind == kind)
                                  .order_by(Document.id.desc())).scalars())
        for row in rows:
            md = Path(row.path)
            try:
                text = md.read_text(encoding="utf-8")
            except OSError:
                continue
            m = _SOURCE.search(text)
            if m and m.group(1) == source:
                paths = {ext: md.with_suffix("." + ext) for ext in ("md", "html", "pdf")
                         if md.with_suffix("." + ext).exists()}
                return IssuedDocument(kind, row.number, row.date, paths, row.sha256, reused=True)
        return None

    def issue(self, request_id: str, kind: str, source: str, context: Callable[[str, dt.date], dict[str, Any]],
              formats: tuple[str, ...] = ("md", "html", "pdf"), reissue: bool = False) -> IssuedDocument:
        """Render and record one document. `context(number, date)` gives the template data;
        `source` names what it was made from (reused unless `reissue`)."""
        if not reissue:
            found = self.existing(request_id, kind, source)
            if found:
                return found
        date = self.app.today()
        from provision.privatefiles import private_dir

        out_dir = private_dir(self.app.reports_dir / request_id)
        self._drop_leftovers(out_dir, request_id, kind)
        for attempt in range(TRIES):
            # Number, files, row and audit event in one write transaction: on SQLite it
            # holds the write lock, so concurrent runs take the numbers in turn; on
            # PostgreSQL a run that loses a race to the same number gets an IntegrityError
            # and takes the next. Killed before the commit, it leaves only files, which the
            # next issue for the request removes (_drop_leftovers).
            paths: dict[str, Path] = {}
            try:
                with self.app.store.write() as s:
                    count = s.execute(select(func.count()).select_from(Document).where(
                        Document.kind == kind, Document.date >= dt.date(date.year, 1, 1),
                        Document.date <= dt.date(date.year, 12, 31))).scalar() or 0
                    number = self.number(kind, date, request_id, count + 1)
                    paths, digest = self._render(out_dir, kind, number, date, source, context, formats)
                    s.add(Document(request_id=request_id, kind=kind, number=number, date=date,
                                   path=str(paths["md"]), sha256=digest, created_at=utcnow()))
                    s.flush()
                    self.app.audit.append_in(s, [dict(
                        provider="report", action="issue", target=f"{kind} {number}", outcome="recorded",
                        request_id=request_id,
                        after={"number": number, "date": date.isoformat(), "sha256": digest,
                               "source": source, "files": [str(p) for p in paths.values()]})])
            except IntegrityError:
                for p in paths.values():
                    p.unlink(missing_ok=True)
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
                continue
            return IssuedDocument(kind, number, date, paths, digest)
        raise ConfigError(f"could not give the {kind} a unique number after {TRIES} tries; check "
                          "reports.number_format (it should contain {seq}).")

    def _render(self, out_dir: Path, kind: str, number: str, date: dt.date, source: str,
                context: Callable[[str, dt.date], dict[str, Any]],
                formats: tuple[str, ...]) -> tuple[dict[str, Path], str]:
        data = {**context(number, date), "number": number, "date": date, "kind": kind, "source": source}
        base = out_dir / f"{kind}-{re.sub(r'[^A-Za-z0-9]+', '-', number).strip('-')}"
        md = self.env.get_template(f"{kind}.md.j2").render(**data)
        html = self.env.get_template(f"{kind}.html.j2").render(**data)
        paths = {"md": base.with_suffix(".md")}
        paths["md"].write_text(md, encoding="utf-8")
        if "html" in formats:
            paths["html"] = base.with_suffix(".html")
            paths["html"].write_text(html, encoding="utf-8")
        if "pdf" in formats:
            from provision.reports.pdf import html_to_pdf

            paths["pdf"] = base.with_suffix(".pdf")
            html_to_pdf(html, paths["pdf"], title=f"{kind} {number}")
        for p in paths.values():
            os.chmod(p, 0o600)  # whatever the umask (in a 0700 directory from the start)
        return paths, hashlib.sha256(md.encode()).hexdigest()

    def _drop_leftovers(self, out_dir: Path, request_id: str, kind: str) -> None:
        """Files of `kind` in the request's directory that no recorded document owns: what
        a run killed before its commit wrote. (The caller holds the request's lock.)"""
        with self.app.store.read() as s:
            owned = {Path(p).with_suffix("") for p in s.execute(select(Document.path).where(
                Document.request_id == request_id, Document.kind == kind)).scalars()}
        for f in out_dir.glob(f"{kind}-*"):
            if f.suffix in (".md", ".html", ".pdf") and f.with_suffix("") not in owned:
                f.unlink(missing_ok=True)
