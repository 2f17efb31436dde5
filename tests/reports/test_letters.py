"""The letters as a reader and a checker see them: rendered by WeasyPrint, read back with
poppler (pdftotext -layout, pdffonts, pdfinfo, pdftoppm), every word from the message
catalogue's Indonesian side, numbers and dates from the agenda register."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

from provision.errors import ExitCode
from provision.reports.messages import CATALOGUE
from tests.helpers import run_cli
from tests.reports.conftest import KOMINFO, OPD, LetterEnv, pdffonts, pdftoppm, pdftotext, record_test, tool

BA_NUMBER = "800/045/BA-KOMINFO/XII/2026"


def files(stdout: str) -> dict[str, Path]:
    return {line.split(":", 1)[0].strip(): Path(line.split(": ", 1)[1]) for line in stdout.splitlines()
            if line.startswith("  ") and ": " in line}


def english_words() -> set[str]:
    """Words of the catalogue's English side that its Indonesian side never uses."""
    def words(text: str) -> set[str]:
        return {w.lower() for w in re.findall(r"[A-Za-z]{4,}", re.sub(r"\{[^}]*\}", " ", text))}

    en = set().union(*(words(e) for e, _ in CATALOGUE.values()))
    idn = set().union(*(words(i) for _, i in CATALOGUE.values()))
    return en - idn


# The text area of an A4 page with the naskah dinas margins (left 3 cm, right 2 cm), in points.
LEFT, RIGHT = 3 / 2.54 * 72, 595.28 - 2 / 2.54 * 72


def boxes(pdf: Path, page: int) -> list[tuple[str, float, float]]:
    """(text, xMin, xMax) of each line of a page, from pdftotext -bbox-layout."""
    out = subprocess.run([tool("pdftotext"), "-bbox-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    root = ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", out).replace('xmlns="http://www.w3.org/1999/xhtml"', ""))
    return [(" ".join(w.text or "" for w in line.iter("word")), float(line.get("xMin")), float(line.get("xMax")))
            for line in root.iter("line")]


def box(lines: list[tuple[str, float, float]], needle: str) -> tuple[float, float]:
    found = [(a, b) for text, a, b in lines if needle in text]
    assert found, f"no line with {needle!r}: {[t for t, _, _ in lines]}"
    return found[0]


def assert_centered(pdf: Path, page: int, needle: str) -> None:
    a, b = box(boxes(pdf, page), needle)
    assert abs((a + b) / 2 - (LEFT + RIGHT) / 2) <= 3, (needle, a, b)


def assert_right_aligned(pdf: Path, page: int, needle: str) -> None:
    _, b = box(boxes(pdf, page), needle)
    assert abs(b - RIGHT) <= 2, (needle, b, RIGHT)


def assert_right_half(pdf: Path, page: int, needle: str) -> None:
    a, _ = box(boxes(pdf, page), needle)
    assert a >= (LEFT + RIGHT) / 2 - 1, (needle, a)


def pages_of(pdf: Path) -> int:
    info = subprocess.run([tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def page_with(pdf: Path, needle: str) -> int:
    for n in range(1, pages_of(pdf) + 1):
        if needle in " ".join(page_text(pdf, n).split()):
            return n
    raise AssertionError(f"no page with {needle!r}")


def page_text(pdf: Path, page: int) -> str:
    return subprocess.run([tool("pdftotext"), "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def check_pdf(pdf: Path, tmp: Path) -> str:
    """What every letter must be: A4, PDF/A-2b, fonts embedded, pages that render, no
    English sentence and no Python notation. Returns the text (layout kept)."""
    info = subprocess.run([tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info), info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    meta = subprocess.run([tool("pdfinfo"), "-meta", str(pdf)], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    assert re.search(r"pdfaid:part(>|=\")2", meta) and re.search(r"pdfaid:conformance(>|=\")B", meta), meta
    fonts = pdffonts(pdf)
    assert fonts and all(row[-5] == "yes" for row in fonts), fonts  # the "emb" column
    pngs = pdftoppm(pdf, tmp / pdf.stem)
    assert len(pngs) == pages and all(p.stat().st_size > 5000 for p in pngs), pngs
    text = pdftotext(pdf)
    flat = " ".join(text.split())
    # Paths, file names and URLs are data (docs/INSTALL.md), not words of the letter.
    prose = " ".join(t for t in flat.split() if "/" not in t and not re.search(r"\w\.\w", t))
    leaked = sorted(w for w in english_words() if re.search(rf"\b{w}\b", prose, re.I))
    assert not leaked, f"English words in the letter: {leaked}"
    assert not re.search(r"\b0o[0-7]+", flat), "Python notation in the letter"
    # Page numbers from the second page on: none on the first.
    assert page_text(pdf, 1).rstrip().splitlines()[-1].strip() != "1"
    for n in range(2, pages + 1):
        assert page_text(pdf, n).rstrip().splitlines()[-1].strip() == str(n)
    return text


def test_berita_acara_is_a_naskah_dinas(letters: LetterEnv, tmp_path: Path) -> None:
    r = run_cli("report", letters.rid, "berita-acara", "--number", BA_NUMBER, "--date", "2026-12-05")
    assert r.exit_code == 0, r
    assert f"Issued: Berita Acara {BA_NUMBER} of 2026-12-05 for {letters.rid}." in r.stdout
    out = files(r.stdout)
    assert set(out) == {"md", "html", "pdf", "docx"}, out
    text = check_pdf(out["pdf"], tmp_path)
    pdf = out["pdf"]
    for kop in ("PEMERINTAH KOTA BATAM", "DINAS KOMUNIKASI DAN INFORMATIKA", "Jalan Engku Putri Nomor 1",
                "BERITA ACARA", "UJI INSTALASI DAN UJI FUNGSI APLIKASI", f"Nomor: {BA_NUMBER}"):
        assert_centered(pdf, 1, kop)
    assert "Telepon (0778) 462020, Laman kominfo.batam.go.id, Pos-el" in text
    flat = " ".join(text.split())
    assert ("Pada hari ini Sabtu tanggal lima bulan Desember tahun dua ribu dua puluh enam, bertempat di "
            "Dinas Komunikasi dan Informatika Kota Batam") in flat
    assert_right_aligned(pdf, page_with(pdf, "Batam, 5 Desember 2026"), "Batam, 5 Desember 2026")
    # The signature blocks: both technical teams (from steps 2 and 3) and the head acknowledging.
    for name, nip, rank, title in [*KOMINFO, *OPD]:
        spaced = f"{nip[:8]} {nip[8:14]} {nip[14]} {nip[15:]}"
        assert name in text and f"NIP. {spaced}" in text and rank in text and title in flat, name
    assert "Tim Teknis Dinas Pendidikan" in text and "Tim Teknis Diskominfo Kota Batam" in text
    head = text.split("Mengetahui,")[1]
    assert "Kepala Dinas Komunikasi dan Informatika," in head and "Drs. Budi Santoso, M.Si." in head
    assert "Pembina Utama Muda (IV/c)" in head and "NIP. 19700101 199001 1 001" in head
    assert_centered(pdf, page_with(pdf, "Mengetahui,"), "Mengetahui,")
    assert_right_half(pdf, page_with(pdf, "Rina Wati, S.Kom."), "Rina Wati, S.Kom.")
    tembusan = text.split("Tembusan:")[1]
    assert [ln.strip() for ln in tembusan.strip().splitlines()[:4]] == [
        "1. Kepala Dinas Pendidikan", "2. Sekretaris Daerah Kota Batam", "3. Inspektur Kota Batam", "4. Arsip"]
    # The table of checks, in Bahasa Indonesia, with the file mode as people write it (cells
    # wrap, so read them in content order).
    flat = " ".join(subprocess.run([tool("pdftotext"), "-raw", str(pdf), "-"], capture_output=True, text=True,
                                   check=True, timeout=60).stdout.split())
    flat = flat.replace("- ", "-")  # a name wrapped at its hyphen ("sisekolah- staging")
    assert "Berkas lingkungan (.env) milik root, mode 0640" in flat and "mode 0640, pemilik root, grup sisekolah-staging" in flat
    assert "vhost belum memakai TLS" in flat and "spesifikasi tidak menyebut perintah pengujian" in flat
    assert "LAYAK" in flat and "Tidak ada temuan: seluruh butir uji sesuai." in flat
    # The register entry is audited: the number, the date, and that it came from the register.
    log = run_cli("audit", "log", "--json")
    assert log.exit_code == 0, log
    issued = [e for e in log.json if e["provider"] == "report" and e["action"] == "issue"]
    after = issued[-1]["after"] if isinstance(issued[-1]["after"], dict) else json.loads(issued[-1]["after"])
    assert issued[-1]["target"] == f"berita-acara {BA_NUMBER}"
    assert (after["number"], after["date"], after["register"]) == (BA_NUMBER, "2026-12-05", True)


def test_rekomendasi_is_a_surat_dinas(letters: LetterEnv, tmp_path: Path) -> None:
    assert run_cli("report", letters.rid, "berita-acara").exit_code == 0
    r = run_cli("report", letters.rid, "rekomendasi", "--number", "500/112/KOMINFO/2026", "--date", "2026-12-04")
    assert r.exit_code == 0, r
    pdf = files(r.stdout)["pdf"]
    text = check_pdf(pdf, tmp_path)
    lines = page_text(pdf, 1).splitlines()
    for kop in ("PEMERINTAH KOTA BATAM", "DINAS KOMUNIKASI DAN INFORMATIKA"):
        assert_centered(pdf, 1, kop)
    # Place and date at the top right, on the line of the number.
    numline = next(ln for ln in lines if ln.strip().startswith("Nomor"))
    assert re.match(r"^\s*Nomor\s+:\s+500/112/KOMINFO/2026\s+Batam, 4 Desember 2026$", numline), numline
    assert_right_aligned(pdf, 1, "Batam, 4 Desember 2026")
    for label, value in (("Sifat", "Biasa"), ("Lampiran", "-"), ("Hal", "Rekomendasi Pembuatan Subdomain")):
        assert re.search(rf"^\s*{label}\s+:\s+{re.escape(value)}", text, re.M), label
    assert re.search(r"^\s*Yth\. Kepala Dinas Pendidikan$", text, re.M)
    # The signature block on the right: jabatan, name, pangkat, NIP, all starting right of the middle.
    for needle in ("Kepala Dinas Komunikasi", "Drs. Budi Santoso, M.Si.", "Pembina Utama Muda (IV/c)",
                   "NIP. 19700101 199001 1 001"):
        assert_right_half(pdf, page_with(pdf, needle), needle)
    assert "Tembusan:" in text and "3. Arsip" in text
    from docx import Document

    doc = Document(str(files(r.stdout)["docx"]))
    head = doc.tables[1]  # after the kop: Nomor/Sifat/Lampiran/Hal at the left, place and date at the right
    kv = [[c.text for c in row.cells] for row in head.cell(0, 0).tables[0].rows]
    assert kv == [["Nomor", ":", "500/112/KOMINFO/2026"], ["Sifat", ":", "Biasa"], ["Lampiran", ":", "-"],
                  ["Hal", ":", "Rekomendasi Pembuatan Subdomain"]], kv
    assert head.cell(0, 1).text == "Batam, 4 Desember 2026" and head.cell(0, 1).paragraphs[0].alignment == 2
    texts = [p.text for p in doc.paragraphs]
    assert "Yth. Kepala Dinas Pendidikan" in texts and texts.index("Yth. Kepala Dinas Pendidikan") < texts.index("Tembusan:")


def test_a_message_without_indonesian_text_stops_the_letter(letters: LetterEnv, monkeypatch) -> None:
    from provision.reports import messages

    # A catalogue entry whose Indonesian side is missing: the letter is refused, not written in English.
    with monkeypatch.context() as mp:
        mp.setitem(messages.CATALOGUE, "infra.world", ("nothing world-writable", ""))
        r = run_cli("report", letters.rid, "berita-acara")
    assert r.exit_code == ExitCode.FAILURE, r
    assert "the message 'infra.world' has no Indonesian text in the catalogue" in r.stderr, r
    # A result recorded without catalogue messages (an older version's English sentence).
    record_test(letters.rid, [{"kind": "infra", "name": "nothing world-writable", "status": "pass", "passed": True,
                               "detail": "no world-writable file or directory"}])
    r = run_cli("report", letters.rid, "berita-acara")
    assert r.exit_code == ExitCode.FAILURE, r
    assert "not a catalogue message: it was recorded by an older version" in r.stderr, r
    assert not list((letters.home / "state" / "reports" / letters.rid).glob("*.pdf"))


def test_every_message_has_both_texts_and_renders_in_both() -> None:
    from provision.reports.messages import msg

    for key, (en, idn) in CATALOGUE.items():
        assert en.strip() and idn.strip(), key
        args = {name: "X" for name in re.findall(r"\{(\w+)", en + idn)}
        m = msg(key, **args)
        assert "{" not in m.en and "{" not in m.id and m.en != m.id or key == "remark.shell", key


def test_register_number_and_date_are_checked(letters: LetterEnv) -> None:
    r = run_cli("report", letters.rid, "berita-acara", "--date", "2026-12-06")
    assert r.exit_code == ExitCode.USAGE, r
    assert "--date: 2026-12-06 is in the future (today is 2026-12-05)" in r.stderr
    r = run_cli("report", letters.rid, "berita-acara", "--number", "800/1\u200b/BA")
    assert r.exit_code == ExitCode.USAGE and "--number: contains a control or invisible character" in r.stderr, r
    r = run_cli("report", letters.rid, "berita-acara", "--number", BA_NUMBER)
    assert r.exit_code == 0 and f"Issued: Berita Acara {BA_NUMBER} of 2026-12-05" in r.stdout, r
    r = run_cli("report", letters.rid, "berita-acara", "--number", BA_NUMBER)
    assert r.exit_code == 0 and f"Already issued: Berita Acara {BA_NUMBER}" in r.stdout, r
    r = run_cli("report", letters.rid, "rekomendasi", "--number", BA_NUMBER)
    assert r.exit_code == ExitCode.USAGE, r
    assert f"number '{BA_NUMBER}' is already used by the berita-acara of {letters.rid}" in r.stderr
    log = run_cli("audit", "log", "--json")
    assert sum(e["provider"] == "report" for e in log.json) == 1, log.json


def test_nip_is_checked_in_the_configuration_and_the_step_record(letters: LetterEnv) -> None:
    cfg = letters.home / "provision.toml"
    good = cfg.read_text()
    cfg.write_text(good.replace('signatory_nip = "19700101 199001 1 001"', 'signatory_nip = "1970010119900110"'))
    r = run_cli("report", letters.rid, "berita-acara")
    assert r.exit_code == ExitCode.USAGE, r
    assert "reports.signatory_nip: '1970010119900110' is not a NIP: 18 digits" in r.stderr, r
    cfg.write_text(good.replace('signatory_nip = "19700101 199001 1 001"', 'signatory_nip = "197013011990011001"'))
    r = run_cli("report", letters.rid, "berita-acara")
    assert r.exit_code == ExitCode.USAGE and "first 8 digits are a birth date" in r.stderr, r
    cfg.write_text(good)
    r = run_cli("request", "step", letters.rid, "4", "--done", "--member", "Joko|12345|Penata (III/c)|Anggota")
    assert r.exit_code == ExitCode.USAGE, r
    assert "--member NIP: '12345' is not a NIP" in r.stderr, r
    r = run_cli("request", "step", letters.rid, "4", "--done", "--member", "Joko Susilo")
    assert r.exit_code == ExitCode.USAGE and "is not NAME|NIP|PANGKAT|JABATAN" in r.stderr, r
    r = run_cli("request", "show", letters.rid, "--json")
    assert r.exit_code == 0 and r.json["steps"][3]["status"] == "pending", r


def md_table(md: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table that starts with `header`."""
    lines = md[md.index(header):].splitlines()
    rows = []
    for ln in lines[2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split(" | ")])
    return rows


def test_docx_copy_holds_the_same_content_in_the_same_order(letters: LetterEnv) -> None:
    from docx import Document

    r = run_cli("report", letters.rid, "berita-acara", "--number", BA_NUMBER, "--date", "2026-12-05")
    assert r.exit_code == 0, r
    out = files(r.stdout)
    doc = Document(str(out["docx"]))
    section = doc.sections[0]
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    assert (round(section.left_margin.cm, 1), round(section.right_margin.cm, 1)) == (3.0, 2.0)
    # The kop (emblem picture and centered bold lines), then the letter in the PDF's order.
    kop = doc.tables[0]
    assert kop.cell(0, 0)._element.xpath(".//pic:pic"), "the emblem picture"
    lines = [p for p in kop.cell(0, 1).paragraphs]
    assert [p.text for p in lines[:2]] == ["PEMERINTAH KOTA BATAM", "DINAS KOMUNIKASI DAN INFORMATIKA"]
    assert all(p.alignment == 1 and p.runs[0].bold for p in lines[:2])  # 1: centered
    body = [p.text for p in doc.paragraphs if p.text.strip()]
    order = ["BERITA ACARA", "UJI INSTALASI DAN UJI FUNGSI APLIKASI", f"Nomor: {BA_NUMBER}",
             "Pada hari ini Sabtu tanggal lima bulan Desember tahun dua ribu dua puluh enam", "Hasil Pengujian",
             "Temuan", "Kesimpulan", "Batam, 5 Desember 2026", "Mengetahui,", "Kepala Dinas Komunikasi dan Informatika,",
             "Drs. Budi Santoso, M.Si.", "Pembina Utama Muda (IV/c)", "NIP. 19700101 199001 1 001", "Tembusan:",
             "1. Kepala Dinas Pendidikan", "4. Arsip"]
    at = [next(i for i, t in enumerate(body) if t.startswith(o)) for o in order]
    assert at == sorted(at), list(zip(order, at))
    date = next(p for p in doc.paragraphs if p.text == "Batam, 5 Desember 2026")
    assert date.alignment == 2  # right
    # The table of checks holds the same rows as the Markdown (and so the PDF).
    md = out["md"].read_text(encoding="utf-8")
    want = md_table(md, "| No | Jenis uji |")
    checks = next(t for t in doc.tables if t.rows[0].cells[0].text == "No")
    got = [[c.text for c in row.cells] for row in checks.rows[1:]]
    assert got == want and len(got) == 14, (got, want)
    # The signature blocks of both teams, with pangkat and NIP.
    signers = next(t for t in doc.tables if "Tim Teknis Dinas Pendidikan" in t.cell(0, 0).text)
    assert "Siti Aminah, S.Pd." in signers.cell(0, 0).text and "NIP. 19880505 201101 2 004" in signers.cell(0, 0).text
    assert "Rina Wati, S.Kom." in signers.cell(0, 1).text and "Penata Muda Tk. I (III/b)" in signers.cell(0, 1).text
