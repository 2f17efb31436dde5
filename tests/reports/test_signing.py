"""Electronic signature (PAdES) of the letters with a throwaway CA made here: the signed
PDF validates with pyHanko (the library and its own CLI), `provision report verify`
finds it in the records, and one changed byte makes both refuse it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from provision.errors import ExitCode
from tests.helpers import run_cli
from tests.reports.conftest import LetterEnv, pdffonts, pdftoppm, pdftotext, tool
from tests.secret_sweep import remember


def make_ca_and_signer(folder: Path, password: str) -> tuple[Path, Path]:
    """A CA certificate (PEM) and a PKCS#12 file of a signer it issued, like a BSrE certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Uji CA Tanda Tangan Elektronik"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Uji")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Drs. Budi Santoso, M.Si.")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=300))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = folder / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    p12 = folder / "penandatangan.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"penandatangan", key, cert, [ca], serialization.BestAvailableEncryption(password.encode())))
    p12.chmod(0o600)
    return ca_pem, p12


def configure(env: LetterEnv, monkeypatch, password_file: Path | None = None) -> tuple[Path, Path]:
    password = "Rahasia-TTE-" + os.urandom(6).hex()
    remember(password, "PKCS#12 password")
    ca, p12 = make_ca_and_signer(env.home / "tte", password)
    cfg = env.home / "provision.toml"
    extra = f'sign_pkcs12 = "{p12}"\nsign_trust_roots = ["{ca}"]\n'
    if password_file is not None:
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        extra += f'sign_password_file = "{password_file}"\n'
    else:
        monkeypatch.setenv("PROVISION_REPORTS_SIGN_PASSWORD", password)
    cfg.write_text(cfg.read_text().replace("[reports]\n", "[reports]\n" + extra, 1))
    return ca, p12


def pyhanko_cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pyhanko", path=str(Path(sys.executable).parent))
    assert exe, "the pyhanko command is not installed in the venv"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_signed_letter_validates_and_one_changed_byte_fails(letters: LetterEnv, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PROVISION_REPORTS_SIGN_PASSWORD", raising=False)
    ca, _ = configure(letters, monkeypatch, password_file=letters.home / "tte-password")
    r = run_cli("report", letters.rid, "berita-acara", "--sign")
    assert r.exit_code == 0, r
    signed = Path(next(ln.split(": ", 1)[1] for ln in r.stdout.splitlines() if ln.strip().startswith("signed.pdf:")))
    issued = signed.with_name(signed.name.replace(".signed.pdf", ".pdf"))
    data = signed.read_bytes()
    # An incremental update: the issued PDF is, byte for byte, the start of the signed one.
    assert data.startswith(issued.read_bytes()) and len(data) > len(issued.read_bytes())
    # pyHanko's own command line validates it against the test's CA.
    out = pyhanko_cli("sign", "validate", "--pretty-print", "--trust", str(ca), "--trust-replace", str(signed))
    assert out.returncode == 0, out
    for line in ("The signer's certificate is trusted.", "The signature is cryptographically sound.",
                 "The signature covers the entire file."):
        assert line in out.stdout, out.stdout
    r = run_cli("report", "verify", str(signed))
    assert r.exit_code == 0, r
    assert "Valid: berita-acara 001/BA/Kominfo-PE/XII/2026 of 2026-12-05 for REQ-2026-0301, signed by " \
           "Drs. Budi Santoso, M.Si." in r.stdout, r
    assert hashlib.sha256(data).hexdigest() in r.stdout
    # The visible mark is on the page of the head's signature block; fonts stay embedded.
    fonts = pdffonts(signed)
    assert fonts and all(row[-5] == "yes" for row in fonts), fonts
    pages = pdftoppm(signed, tmp_path / "signed")
    assert len(pages) >= 2
    last = len(pages)
    assert "Mengetahui," in pdftotext(signed).split("\f")[last - 1]
    # The QR code in the mark carries the number and the issued PDF's SHA-256: the mark's
    # image, taken out of the signed file with pdfimages, holds exactly the QR code segno
    # draws for that text.
    assert_qr(signed, last, tmp_path, f"Nomor: 001/BA/Kominfo-PE/XII/2026\n"
                                      f"SHA-256: {hashlib.sha256(issued.read_bytes()).hexdigest()}")
    # One byte changed inside the signed range: pyHanko and provision both refuse it.
    tampered = tmp_path / "tampered.pdf"
    i = data.index(b"/Author") + 9
    tampered.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
    out = pyhanko_cli("sign", "validate", "--trust", str(ca), "--trust-replace", str(tampered))
    assert out.returncode != 0, out
    r = run_cli("report", "verify", str(tampered))
    assert r.exit_code == ExitCode.CHECKS_FAILED, r
    assert "is not valid: the signed bytes were changed after signing" in r.stderr, r
    # Signing again gives the same signed file, and the signing is audited once.
    r = run_cli("report", letters.rid, "berita-acara", "--sign")
    assert r.exit_code == 0 and signed.read_bytes() == data, r
    log = run_cli("audit", "log", "--json")
    signs = [e for e in log.json if e["provider"] == "report" and e["action"] == "sign"]
    assert len(signs) == 1 and signs[0]["target"] == "berita-acara 001/BA/Kominfo-PE/XII/2026", signs


def assert_qr(pdf: Path, page: int, tmp: Path, payload: str) -> None:
    import segno
    from PIL import Image

    subprocess.run([tool("pdfimages"), "-png", "-f", str(page), "-l", str(page), str(pdf), str(tmp / "img")],
                   check=True, timeout=60)
    marks = [Image.open(p).convert("RGB") for p in sorted(tmp.glob("img-*.png"))]
    marks = [m for m in marks if m.size == (700, 200)]
    assert len(marks) == 1, [m.size for m in marks]
    qr = segno.make(payload, error="m")
    scale = 200 // qr.symbol_size(scale=1, border=1)[1]
    expected = io.BytesIO()
    qr.save(expected, kind="png", scale=scale, border=1)
    expected.seek(0)
    want = Image.open(expected).convert("RGB")
    top = (200 - want.height) // 2
    got = marks[0].crop((0, top, want.width, top + want.height))
    assert got.tobytes() == want.tobytes(), "the QR code in the mark is not the one for " + repr(payload)


def test_a_file_signed_but_not_recorded_and_a_wrong_password_are_refused(letters: LetterEnv, tmp_path: Path,
                                                                          monkeypatch) -> None:
    ca, p12 = configure(letters, monkeypatch)
    r = run_cli("report", letters.rid, "rekomendasi")
    assert r.exit_code == ExitCode.USAGE, r  # no Berita Acara yet
    assert run_cli("report", letters.rid, "berita-acara").exit_code == 0
    r = run_cli("report", letters.rid, "rekomendasi", "--sign", "--json")
    assert r.exit_code == 0, r
    signed = Path(r.json["files"]["signed.pdf"])
    r = run_cli("report", "verify", str(signed))
    assert r.exit_code == 0 and "Valid: rekomendasi 001/REK/Kominfo-PE/XII/2026" in r.stdout, r
    # The same bytes, but unknown to this office's records: a valid signature is not enough.
    other = tmp_path / "copy.pdf"
    other.write_bytes(signed.read_bytes() + b"\n")
    r = run_cli("report", "verify", str(other))
    assert r.exit_code == ExitCode.CHECKS_FAILED, r
    assert "the file has content added after the signature" in r.stderr or "recorded no signed document" in r.stderr
    # An unsigned PDF.
    r = run_cli("report", "verify", str(signed.with_name(signed.name.replace(".signed.pdf", ".pdf"))))
    assert r.exit_code == ExitCode.CHECKS_FAILED and "has no electronic signature" in r.stderr, r
    monkeypatch.setenv("PROVISION_REPORTS_SIGN_PASSWORD", "salah")
    r = run_cli("report", letters.rid, "berita-acara", "--reissue", "--sign")
    assert r.exit_code == ExitCode.FAILURE or r.exit_code == ExitCode.USAGE, r
    assert "does not open with the configured password" in r.stderr, r
    assert "salah" not in r.stderr
