"""The report engine: numbering, rendering (Markdown, HTML, PDF), storing, auditing.

Numbers come from `reports.number_format` (placeholders: seq, kind, month_roman, month,
year, request) with `seq` counting documents of that kind in the year, and are unique in
the `Document` table; an office that numbers from its agenda register gives the number
and the date (`register`). Issuing again from the same source (e.g. the same test run)
gives back the document already issued rather than spending a new number, unless `reissue`.
The PDF is laid out by WeasyPrint from the HTML (naskah dinas: kop, A4, fonts embedded,
PDF/A-2b); the DOCX copy is written from the same data (provision/reports/docx.py).
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
from provision.errors import ConfigError, Problem, UsageError, ValidationError
from provision.store.models import Document

TRIES = 20
FORMATS = ("md", "html", "pdf", "docx")
ALL_FORMATS = (*FORMATS, "signed.pdf")
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


def tanggal_kata(d: dt.date) -> str:
    """The date in words, as a Berita Acara opens: 'Sabtu tanggal lima bulan Desember
    tahun dua ribu dua puluh enam'."""
    from num2words import num2words

    return (f"{HARI[d.weekday()]} tanggal {num2words(d.day, lang='id')} bulan {BULAN[d.month - 1]} "
            f"tahun {num2words(d.year, lang='id')}")


def nip(value: str) -> str:
    """A NIP written 8-6-1-3 (19700101 199001 1 001); dots where none is recorded."""
    digits = (value or "").replace(" ", "")
    if len(digits) != 18:
        return value or "...................................."
    return f"{digits[:8]} {digits[8:14]} {digits[14]} {digits[15:]}"


@dataclass(frozen=True)
class Signer:
    """A signature block: jabatan, name, pangkat/golongan, NIP."""

    title: str
    name: str
    rank: str = ""
    nip: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "name": self.name, "rank": self.rank, "nip": self.nip}


BLANK_NAME = "...................................."


def head_of_office(cfg: Any) -> Signer:
    """The head of the agency from `reports.signatory_*` (dots where not configured)."""
    r = cfg.reports
    return Signer(r.signatory_title, r.signatory_name or BLANK_NAME, r.signatory_rank, r.signatory_nip)


def letter_context(cfg: Any) -> dict[str, Any]:
    """What every letter shows besides its content: the kop, the head of the agency."""
    r = cfg.reports
    contact = [f"{label} {value}" for label, value in
               (("Telepon", r.telephone), ("Laman", r.website), ("Pos-el", r.email)) if value]
    emblem = Path(r.emblem) if r.emblem else None
    if emblem is not None and not emblem.is_file():
        raise ConfigError(f"reports.emblem: {r.emblem} is not a readable file.",
                          "Point it at the regional emblem (PNG, JPEG or SVG), or leave it empty.")
    return {"general": cfg.general, "reports": r, "kontak": ", ".join(contact),
            "emblem_uri": emblem.resolve().as_uri() if emblem else "", "emblem_path": str(emblem or ""),
            "kepala": head_of_office(cfg)}


@dataclass
class IssuedDocument:
    kind: str
    number: str
    date: dt.date
    paths: dict[str, Path] = field(default_factory=dict)
    sha256: str = ""
    reused: bool = False
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "number": self.number, "date": self.date.isoformat(),
                "files": {k: str(v) for k, v in self.paths.items()}, "sha256": self.sha256, "reused": self.reused,
                "warnings": self.warnings}


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
    env.filters["tanggal_kata"] = tanggal_kata
    env.filters["nip"] = nip
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
                return self._issued(row, reused=True)
        return None

    def issue(self, request_id: str, kind: str, source: str, context: Callable[[str, dt.date], dict[str, Any]],
              formats: tuple[str, ...] = FORMATS, reissue: bool = False,
              number: str | None = None, date: dt.date | None = None) -> IssuedDocument:
        """Render and record one document. `context(number, date)` gives the template data;
        `source` names what it was made from (reused unless `reissue`). `number` and `date`
        come from the office's agenda register when it numbers its own letters."""
        self.check_register(number, date)
        if number is not None:
            found = self.by_number(number)
            if found is not None:
                if (found.request_id, found.kind) == (request_id, kind) and self._source_of(found) == source:
                    return self._issued(found, reused=True)
                raise UsageError(f"number {number!r} is already used by the {found.kind} of {found.request_id} "
                                 f"({found.date.isoformat()}).", "Take the next number from the agenda register.")
        elif not reissue:
            found_doc = self.existing(request_id, kind, source)
            if found_doc:
                return found_doc
        date = date or self.app.today()
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
                    if number is None:
                        count = s.execute(select(func.count()).select_from(Document).where(
                            Document.kind == kind, Document.date >= dt.date(date.year, 1, 1),
                            Document.date <= dt.date(date.year, 12, 31))).scalar() or 0
                        doc_number = self.number(kind, date, request_id, count + 1)
                    else:
                        doc_number = number
                    paths, digest = self._render(out_dir, kind, doc_number, date, source, context, formats)
                    s.add(Document(request_id=request_id, kind=kind, number=doc_number, date=date,
                                   path=str(paths["md"]), sha256=digest, created_at=utcnow()))
                    s.flush()
                    self.app.audit.append_in(s, [dict(
                        provider="report", action="issue", target=f"{kind} {doc_number}", outcome="recorded",
                        request_id=request_id,
                        after={"number": doc_number, "date": date.isoformat(), "sha256": digest,
                               "source": source, "register": number is not None,
                               "files": [str(p) for p in paths.values()]})])
            except IntegrityError:
                for p in paths.values():
                    p.unlink(missing_ok=True)
                if number is not None:
                    raise UsageError(f"number {number!r} was taken by another run a moment ago.",
                                     "Take the next number from the agenda register.") from None
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
                continue
            return IssuedDocument(kind, doc_number, date, paths, digest)
        raise ConfigError(f"could not give the {kind} a unique number after {TRIES} tries; check "
                          "reports.number_format (it should contain {seq}).")

    def check_register(self, number: str | None, date: dt.date | None) -> None:
        """A number and a date from the agenda register: one line of text; a date not in the future."""
        problems: list[Problem] = []
        if number is not None:
            from provision.textcheck import first_invisible

            bad = first_invisible(number)
            if not number.strip() or len(number) > 100 or number != number.strip():
                problems.append(Problem("--number", "must be 1 to 100 characters, without leading or trailing spaces"))
            elif bad:
                problems.append(Problem("--number", f"contains a control or invisible character ({bad})"))
        if date is not None and date > self.app.today():
            problems.append(Problem("--date", f"{date.isoformat()} is in the future (today is {self.app.today().isoformat()})"))
        if problems:
            raise ValidationError(problems, "register entry")

    def by_number(self, number: str) -> Document | None:
        with self.app.store.read() as s:
            return s.execute(select(Document).where(Document.number == number)).scalar()

    @staticmethod
    def _source_of(row: Document) -> str | None:
        try:
            m = _SOURCE.search(Path(row.path).read_text(encoding="utf-8"))
        except OSError:
            return None
        return m.group(1) if m else None

    @staticmethod
    def _issued(row: Document, reused: bool) -> IssuedDocument:
        md = Path(row.path)
        paths = {ext: md.with_suffix("." + ext) for ext in ALL_FORMATS if md.with_suffix("." + ext).exists()}
        return IssuedDocument(row.kind, row.number, row.date, paths, row.sha256, reused=reused)

    def _render(self, out_dir: Path, kind: str, number: str, date: dt.date, source: str,
                context: Callable[[str, dt.date], dict[str, Any]],
                formats: tuple[str, ...]) -> tuple[dict[str, Path], str]:
        data = {**letter_context(self.app.config), **context(number, date), "number": number, "date": date,
                "kind": kind, "source": source}
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
            html_to_pdf(html, paths["pdf"], variant=self.app.config.reports.pdf_variant)
        if "docx" in formats:
            from provision.reports.docx import write_docx

            paths["docx"] = base.with_suffix(".docx")
            write_docx(kind, data, paths["docx"], html)
        for p in paths.values():
            os.chmod(p, 0o600)  # whatever the umask (in a 0700 directory from the start)
        return paths, hashlib.sha256(md.encode()).hexdigest()

    def _drop_leftovers(self, out_dir: Path, request_id: str, kind: str) -> None:
        """Files of `kind` in the request's directory that no recorded document owns: what
        a run killed before its commit wrote. (The caller holds the request's lock.) A
        document's files share its base name, which has no dot: `<base>.<format>`."""
        with self.app.store.read() as s:
            owned = {Path(p).with_suffix("").name for p in s.execute(select(Document.path).where(
                Document.request_id == request_id, Document.kind == kind)).scalars()}
        for f in out_dir.glob(f"{kind}-*"):
            base, _, ext = f.name.partition(".")
            if ext in ALL_FORMATS and base not in owned:
                f.unlink(missing_ok=True)
