"""Electronic signature (TTE) of a letter: PAdES with pyHanko, and its verification.

Signing appends a signature to the issued PDF in an incremental update, so the issued
PDF stays, byte for byte, the start of the signed one (`<base>.signed.pdf`). The visible
field is put on the space left for the signature of the head of the agency (the
`tte` anchor of the HTML, laid out again by WeasyPrint to find it); it shows a QR code
(segno) carrying the document's number and the SHA-256 of the issued PDF, and who
signed when. The key is a PKCS#12 file (`reports.sign_pkcs12`), its password from
PROVISION_REPORTS_SIGN_PASSWORD or `reports.sign_password_file` (mode 0600).

The signing is audited (report sign: number, the issued PDF's SHA-256 and size, the
signed file's SHA-256, the signer); `verify` checks the signature with pyHanko against
`reports.sign_trust_roots` and looks the file up in those records.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from provision.errors import ConfigError, ExitCode, ProvisionError, UsageError
from provision.reports.pdf import SIGNATURE_ANCHOR, anchor_box
from provision.store.models import AuditEvent, Document

FIELD = "TTE"  # the signature field; its box is the 7 cm x 2 cm space #tte of base.html.j2


class SignatureInvalid(ProvisionError):
    """The file's signature does not validate, or the file is not the one recorded."""

    exit_code = ExitCode.CHECKS_FAILED


def qr_payload(number: str, pdf_sha256: str) -> str:
    return f"Nomor: {number}\nSHA-256: {pdf_sha256}"


def _font_file() -> str:
    """The TrueType file of the letters' font (embedded in the signature's appearance too)."""
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", "Liberation Sans"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        raise ConfigError(f"cannot find the font for the signature mark: {e}",
                          "Install fonts-liberation2 (scripts/debian-packages.txt).") from e
    if not out.lower().endswith((".ttf", ".otf")):
        raise ConfigError(f"fc-match gives {out!r} for Liberation Sans, not a TrueType file.",
                          "Install fonts-liberation2 (scripts/debian-packages.txt).")
    return out


def _signer(app: Any) -> Any:
    from pyhanko.sign import signers

    cfg = app.config.reports
    if not cfg.sign_pkcs12:
        raise ConfigError("reports.sign_pkcs12 is not set: there is no key to sign with.",
                          "Point it at the PKCS#12 file of the signer's certificate (docs/reports.md).")
    password = app.config.secret("reports", "sign_password")
    path = Path(cfg.sign_pkcs12)
    if not path.is_file():
        raise ConfigError(f"reports.sign_pkcs12: {cfg.sign_pkcs12} is not a readable file.")
    signer = signers.SimpleSigner.load_pkcs12(str(path), passphrase=password.encode() if password else None)
    if signer is None:  # pyHanko logs why and gives None
        raise ConfigError(f"reports.sign_pkcs12: {cfg.sign_pkcs12} does not open with the configured password, "
                          "or holds no key and certificate.",
                          "Set PROVISION_REPORTS_SIGN_PASSWORD or reports.sign_password_file (mode 0600).")
    return signer


#: The visible mark, in pixels (7 cm x 2 cm at 254 dpi): the QR code at the left, the text at the right.
MARK_W, MARK_H = 700, 200


def qr_scale(payload: str) -> int:
    """The module size (pixels) of the mark's QR code: the largest that fits its height."""
    import segno

    return int(MARK_H // segno.make(payload, error="m").symbol_size(scale=1, border=1)[1])


def mark(number: str, pdf_sha256: str, signer: str, when: str) -> Any:
    """The signature's visible mark as one image: drawn with Pillow in the letters' font,
    so the signed PDF embeds no font of its own (pyHanko's text boxes would add one)."""
    import segno
    from PIL import Image, ImageDraw, ImageFont

    payload = qr_payload(number, pdf_sha256)
    png = io.BytesIO()
    segno.make(payload, error="m").save(png, kind="png", scale=qr_scale(payload), border=1)
    png.seek(0)
    qr = Image.open(png).convert("RGB")
    img = Image.new("RGB", (MARK_W, MARK_H), "white")
    img.paste(qr, (0, (MARK_H - qr.height) // 2))
    draw = ImageDraw.Draw(img)
    regular = ImageFont.truetype(_font_file(), 22)
    bold = ImageFont.truetype(_font_file().replace("Regular", "Bold"), 22)
    x, y = qr.width + 16, 30
    for line, font in (("Ditandatangani secara elektronik oleh", regular), (signer, bold), (when, regular),
                       (f"Nomor {number}", regular)):
        while draw.textlength(line, font=font) > MARK_W - x and len(line) > 4:
            line = line[:-2] + "…"
        draw.text((x, y), line, fill="black", font=font)
        y += 34
    return img


def _stamp(image: Any) -> Any:
    from pyhanko import stamp
    from pyhanko.pdf_utils import images, layout

    return stamp.StaticStampStyle(
        background=images.PdfImage(image), background_opacity=1.0, border_width=0,
        background_layout=layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MID,
                                                     y_align=layout.AxisAlignment.ALIGN_MID))


@dataclass
class Signed:
    path: Path
    sha256: str
    pdf_sha256: str
    signer: str
    reused: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def sign_document(app: Any, request_id: str, doc: Any) -> Signed:
    """Sign the issued PDF of `doc` (an IssuedDocument); the signed copy is added to its
    paths as `signed.pdf`. A document already signed is given back as it is."""
    pdf = doc.paths.get("pdf")
    html = doc.paths.get("html")
    if pdf is None or html is None or not pdf.exists() or not html.exists():
        raise UsageError(f"the {doc.kind} {doc.number} has no PDF and HTML to sign.",
                         "Issue it again with --reissue.")
    out = pdf.with_name(pdf.name[:-4] + ".signed.pdf")
    issued = pdf.read_bytes()
    pdf_sha = hashlib.sha256(issued).hexdigest()
    if out.exists():
        signed = out.read_bytes()
        rec = _record_for(app, hashlib.sha256(signed).hexdigest())
        if rec is not None and signed.startswith(issued):
            doc.paths["signed.pdf"] = out
            return Signed(out, rec["signed_sha256"], pdf_sha, rec.get("signer", ""), reused=True)
    where = anchor_box(html.read_text(encoding="utf-8"), pdf.parent, SIGNATURE_ANCHOR)
    if where is None:
        raise UsageError(f"the {doc.kind} {doc.number} has no space for the signature (anchor "
                         f"#{SIGNATURE_ANCHOR}); it was issued by an older version.", "Issue it again with --reissue.")
    page, box = where
    signer = _signer(app)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    cfg = app.config
    name = signer.signing_cert.subject.native.get("common_name", "")
    writer = IncrementalPdfFileWriter(io.BytesIO(issued))
    fields.append_signature_field(writer, fields.SigFieldSpec(FIELD, on_page=page,
                                                                      box=(round(box[0]), round(box[1]),
                                                                           round(box[2]), round(box[3]))))
    meta = signers.PdfSignatureMetadata(field_name=FIELD, reason=cfg.reports.sign_reason, location=cfg.general.city,
                                        subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256")
    buf = io.BytesIO()
    import datetime as dt
    import zoneinfo

    from provision.reports.engine import tanggal

    now = dt.datetime.now(zoneinfo.ZoneInfo(cfg.general.timezone))
    when = f"{tanggal(now.date())} {now:%H:%M} {now.tzname()}"
    signers.PdfSigner(meta, signer=signer, stamp_style=_stamp(mark(doc.number, pdf_sha, name, when))).sign_pdf(
        writer, output=buf)
    signed = buf.getvalue()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(signed)
    os.chmod(tmp, 0o600)  # like the letter it signs, whatever the umask
    tmp.replace(out)
    digest = hashlib.sha256(signed).hexdigest()
    app.audit.record("report", "sign", f"{doc.kind} {doc.number}", request_id=request_id, after={
        "number": doc.number, "kind": doc.kind, "pdf_sha256": pdf_sha, "pdf_size": len(issued),
        "signed_sha256": digest, "signer": name, "shown_time": when, "file": str(out)})
    doc.paths["signed.pdf"] = out
    return Signed(out, digest, pdf_sha, name)


def _record_for(app: Any, signed_sha256: str) -> dict[str, Any] | None:
    with app.store.read() as s:
        rows = s.execute(select(AuditEvent.after, AuditEvent.request_id).where(
            AuditEvent.provider == "report", AuditEvent.action == "sign").order_by(AuditEvent.seq.desc())).all()
    for after, request_id in rows:
        data = json.loads(after or "{}")
        if data.get("signed_sha256") == signed_sha256:
            return {**data, "request_id": request_id}
    return None


def verify(app: Any, path: Path) -> dict[str, Any]:
    """Check the signature of `path` (intact, covering the whole file, by a certificate
    that chains to `reports.sign_trust_roots`) and that the file is one this office
    signed and recorded. Raises SignatureInvalid saying which check failed."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}.") from e
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509

    roots = []
    for root in app.config.reports.sign_trust_roots:
        try:
            raw = Path(root).read_bytes()
        except OSError as e:
            raise ConfigError(f"reports.sign_trust_roots: cannot read {root}: {e.strerror}.") from e
        for _, _, der in pem.unarmor(raw, multiple=True) if pem.detect(raw) else [(None, None, raw)]:
            roots.append(asn1_x509.Certificate.load(der))
    if not roots:
        raise ConfigError("reports.sign_trust_roots is empty: there is no CA to check the signature against.",
                          "List the CA certificate(s) of the signing certificates (PEM).")
    try:
        reader = PdfFileReader(io.BytesIO(data))
        sigs = reader.embedded_signatures
    except Exception as e:  # pyHanko raises several kinds for a damaged file
        raise SignatureInvalid(f"{path} is not a readable PDF: {e}") from e
    if not sigs:
        raise SignatureInvalid(f"{path} has no electronic signature.")
    sig = sigs[-1]
    try:
        status = validate_pdf_signature(sig, ValidationContext(trust_roots=roots, allow_fetching=False))
    except Exception as e:
        raise SignatureInvalid(f"the signature of {path} cannot be checked: {e}") from e
    problems = []
    if not status.intact:
        problems.append("the signed bytes were changed after signing")
    if not status.valid:
        problems.append("the signature value does not match the signer's key")
    if not status.trusted:
        problems.append("the signer's certificate does not chain to reports.sign_trust_roots")
    if status.coverage is None or status.coverage.name != "ENTIRE_FILE":
        problems.append("the file has content added after the signature")
    if problems:
        raise SignatureInvalid(f"the signature of {path} is not valid: {'; '.join(problems)}.")
    digest = hashlib.sha256(data).hexdigest()
    rec = _record_for(app, digest)
    if rec is None:
        raise SignatureInvalid(f"{path} has a valid signature, but this office recorded no signed document with "
                               f"its SHA-256 ({digest}).", "Compare it with the signed copy in the reports directory.")
    with app.store.read() as s:
        row = s.execute(select(Document).where(Document.number == rec["number"])).scalar()
    if row is None or hashlib.sha256(data[:rec["pdf_size"]]).hexdigest() != rec["pdf_sha256"]:
        raise SignatureInvalid(f"{path} does not match the record of document {rec['number']}.")
    return {"file": str(path), "valid": True, "number": rec["number"], "kind": rec["kind"],
            "request": rec["request_id"], "date": row.date.isoformat(), "signer": rec.get("signer", ""),
            "signed_sha256": digest, "pdf_sha256": rec["pdf_sha256"],
            "signing_time": status.signer_reported_dt.isoformat() if status.signer_reported_dt else None}
