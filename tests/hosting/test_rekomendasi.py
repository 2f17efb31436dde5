"""`provision report REQ rekomendasi`: the Surat Rekomendasi from the stored records."""

from __future__ import annotations

import datetime as dt
import re

from provision.errors import ExitCode
from tests.hosting.conftest import HostingEnv, cli


def _hosted(env: HostingEnv, rid: str) -> None:
    from provision.context import App
    from provision.hosting import registry

    registry.upsert(App().store, rid, host="web1", domain="sisekolah.batam.go.id", runtime="php 8.2",
                    database="mariadb", tls_expiry=dt.datetime(2027, 1, 31, tzinfo=dt.UTC), status="active")


def test_rekomendasi_cites_the_berita_acara(offline_env: HostingEnv) -> None:
    env = offline_env
    cfg = env.home / "provision.toml"
    cfg.write_text(cfg.read_text() + '[reports]\nsignatory_name = "Drs. Budi Santoso, M.Si."\n'
                   'signatory_nip = "197001012000031001"\n')
    rid = "REQ-2026-0201"
    env.open_request(rid, "sisekolah", aliases=["sekolah"], name="Sistem Informasi Sekolah")
    r = cli("report", rid, "rekomendasi")
    assert r.exit_code == ExitCode.USAGE and "has no Berita Acara yet" in r.stderr, r
    assert f"provision report {rid} berita-acara" in r.stderr
    env.pass_gate(rid)
    r = cli("report", rid, "berita-acara", "--json")
    assert r.exit_code == 0, r
    ba = r.json
    _hosted(env, rid)
    r = cli("report", rid, "rekomendasi")
    assert r.exit_code == 0, r
    m = re.search(r"Issued: Surat Rekomendasi (\d{3}/REK/Kominfo-PE/XI/2026) of 2026-11-02", r.stdout)
    assert m, r
    md_path = next(line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.strip().startswith("md:"))
    text = open(md_path, encoding="utf-8").read()
    assert f"| Nomor | {m.group(1)} |" in text and "Batam, 2 November 2026" in text
    assert "Yth. Kepala Dinas Pendidikan  \ndi  \nBatam" in text and "| Hal | Rekomendasi" in text
    assert f"Berita Acara Uji Instalasi dan Uji Fungsi Aplikasi nomor {ba['number']} tanggal\n2 November 2026" in text
    assert "| Subdomain | sisekolah.batam.go.id, sekolah.batam.go.id |" in text and "| Server | web1 |" in text
    assert "Rekomendasi Pembuatan Subdomain dan Penyediaan Layanan Hosting" in text
    assert "| Sertifikat TLS berlaku sampai | 31 Januari 2027 |" in text
    assert "**Drs. Budi Santoso, M.Si.**" in text and "NIP. 19700101 200003 1 001" in text
    html = open(md_path[:-3] + ".html", encoding="utf-8").read()
    assert "Kepala Dinas Pendidikan" in html and ba["number"] in html
    assert open(md_path[:-3] + ".pdf", "rb").read(5) == b"%PDF-"
    r = cli("report", rid, "rekomendasi")
    assert r.exit_code == 0 and f"Already issued: Surat Rekomendasi {m.group(1)}" in r.stdout, r
    r = cli("report", rid, "rekomendasi", "--reissue", "--json")
    assert r.exit_code == 0 and r.json["number"] != m.group(1) and r.json["number"].endswith("/REK/Kominfo-PE/XI/2026")


def test_rekomendasi_refused_when_the_berita_acara_says_tidak_layak(offline_env: HostingEnv) -> None:
    rid = "REQ-2026-0202"
    offline_env.open_request(rid, "sigagal")
    offline_env.pass_gate(rid, passed=False)
    assert cli("report", rid, "berita-acara").exit_code == 0
    r = cli("report", rid, "rekomendasi")
    assert r.exit_code == ExitCode.USAGE and "concludes TIDAK LAYAK" in r.stderr, r
