"""A request with everything the letters are written from, without a server: the request
and its steps 1-3 (the technical teams named at steps 2 and 3), a spec, an install and a
test run whose results are the checks `provision test` records (made with the same
catalogue messages), a hosting record, and a configuration with the kop and signatories."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_cli

RID = "REQ-2026-0301"
COMMIT = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"
HEAD_NIP = "19700101 199001 1 001"
KOMINFO = [("Rina Wati, S.Kom.", "198703152010012003", "Penata (III/c)", "Pranata Komputer Ahli Muda"),
           ("Andi Pratama, S.T.", "199002022015031002", "Penata Muda Tk. I (III/b)", "Pranata Komputer Ahli Pertama")]
OPD = [("Siti Aminah, S.Pd.", "198805052011012004", "Penata (III/c)", "Kepala Subbagian Umum")]

CONFIG = """
[dns]
zone = "batam.go.id"
[reports]
letterhead = ["PEMERINTAH KOTA BATAM", "DINAS KOMUNIKASI DAN INFORMATIKA"]
emblem = "{emblem}"
address = "Jalan Engku Putri Nomor 1, Batam Centre, Batam"
postal_code = "29461"
telephone = "(0778) 462020"
website = "kominfo.batam.go.id"
email = "kominfo@batam.go.id"
signatory_name = "Drs. Budi Santoso, M.Si."
signatory_title = "Kepala Dinas Komunikasi dan Informatika"
signatory_rank = "Pembina Utama Muda (IV/c)"
signatory_nip = "{head_nip}"
tembusan = ["Sekretaris Daerah Kota Batam", "Inspektur Kota Batam"]
"""


@dataclass
class LetterEnv:
    home: Path
    rid: str = RID

    def cli(self, *args: str) -> object:
        return run_cli(*args)


def emblem(path: Path) -> Path:
    """A stand-in for the regional emblem: a shield drawn with Pillow (a real office points
    reports.emblem at its own file)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (240, 280), "white")
    d = ImageDraw.Draw(img)
    d.polygon([(20, 10), (220, 10), (220, 170), (120, 270), (20, 170)], fill=(0, 90, 160), outline="black")
    d.ellipse((80, 60, 160, 140), fill=(240, 200, 0))
    img.save(path)
    return path


def checks() -> list[dict]:
    """The results `provision test` stores for a PHP app, built the way it builds them."""
    from provision.install.apptest import Check
    from provision.reports.messages import msg

    name, root, user = "sisekolah-staging.batam.go.id", "/srv/apps/sisekolah-staging", "sisekolah-staging"
    made = [
        Check.of("smoke", msg("smoke.page_contains", url=f"http://{name}/", status=200, text="Selamat datang"), "pass",
                 [msg("remark.http_status", code=200)]),
        Check.of("tls", msg("tls.pending", name=name), "n/a", [msg("remark.tls_later")]),
        Check.of("app-test", msg("apptest.none"), "n/a", [msg("remark.no_test_command")]),
        Check.of("infra", msg("infra.user", user=user), "pass", [msg("remark.shell", shell="/usr/sbin/nologin")]),
        Check.of("infra", msg("infra.owner", root=root, user=user, deploy="kominfo-deploy"), "pass",
                 [msg("remark.owner_ok", root=root, deploy="kominfo-deploy")]),
        Check.of("infra", msg("infra.world"), "pass", [msg("remark.world_ok")]),
        Check.of("infra", msg("infra.env_file", user=user), "pass",
                 [msg("remark.mode", mode=f"{0o640:04o}", owner="root", group=user)]),
        Check.of("infra", msg("infra.current"), "pass", [msg("remark.link", target=f"{root}/releases/a1b2c3d4e5f6")]),
        Check.of("infra", msg("infra.nginx"), "pass", [msg("remark.nginx_ok")]),
        Check.of("infra", msg("infra.php_fpm", service="php8.2-fpm"), "pass", [msg("remark.running", service="php8.2-fpm")]),
        Check.of("documents", msg("documents.installation_guide", path="docs/INSTALL.md"), "pass", [msg("remark.present")]),
        Check.of("documents", msg("documents.user_guide", path="docs/panduan.pdf"), "pass", [msg("remark.present")]),
        Check.of("documents", msg("documents.system_requirements", path="docs/kebutuhan.md"), "pass", [msg("remark.present")]),
        Check.of("documents", msg("documents.test_documents", path="docs/uji/"), "pass", [msg("remark.present")]),
    ]
    return [c.as_dict() for c in made]


def record_test(rid: str, results: list[dict], passed: bool = True) -> None:
    from provision.context import App
    from provision.store.models import Install, TestRun

    app = App()
    now = dt.datetime(2026, 12, 3, 3, 0, tzinfo=dt.UTC)
    with app.store.write() as s:
        s.add(Install(request_id=rid, env="staging", ref="v1.0.0", commit=COMMIT, status="succeeded",
                      started_at=now, ended_at=now, hosts=json.dumps({"web1": "ok"})))
        s.add(TestRun(request_id=rid, env="staging", commit=COMMIT, passed=passed, results=json.dumps(results),
                      created_at=now))


def member(m: tuple[str, str, str, str]) -> str:
    return "|".join(m)


@pytest.fixture
def letters(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LetterEnv]:
    cfg = provision_home / "provision.toml"
    cfg.write_text(cfg.read_text() + CONFIG.format(emblem=emblem(provision_home / "lambang.png"), head_nip=HEAD_NIP))
    monkeypatch.setenv("PROVISION_TODAY", "2026-12-05")  # a Saturday
    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app",
                "Sistem Informasi Sekolah", "--letter-number", "005/DISDIK/XI/2026", "--letter-date", "2026-11-02",
                "--id", RID)
    assert r.exit_code == 0, r
    assert run_cli("request", "step", RID, "1", "--done", "--output-ref", "005/DISDIK/XI/2026").exit_code == 0
    args = [a for m in KOMINFO for a in ("--member", member(m))]
    r = run_cli("request", "step", RID, "2", "--done", "--output-ref", "800/123/KOMINFO/2026", *args)
    assert r.exit_code == 0, r
    r = run_cli("request", "step", RID, "3", "--done", "--output-ref", "188.4/45/DISDIK/2026", "--member", member(OPD[0]))
    assert r.exit_code == 0, r
    spec = {"version": 1, "application": {"slug": "sisekolah", "name": "Sistem Informasi Sekolah"},
            "runtime": {"kind": "php", "version": "8.2", "document_root": "public"},
            "hosting": {"host": "web1", "database": "mariadb", "tls": True, "aliases": ["sekolah"]}}
    (provision_home / "spec.yaml").write_text(json.dumps(spec))
    r = run_cli("spec", "set", RID, str(provision_home / "spec.yaml"))
    assert r.exit_code == 0, r
    record_test(RID, checks())
    yield LetterEnv(provision_home)


def tool(name: str) -> str:
    """A poppler tool: missing is a failure of the environment, not a skip."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian package poppler-utils, scripts/debian-packages.txt)"
    return path


def pdftotext(pdf: Path) -> str:
    return subprocess.run([tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def pdffonts(pdf: Path) -> list[list[str]]:
    out = subprocess.run([tool("pdffonts"), str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def pdftoppm(pdf: Path, prefix: Path) -> list[Path]:
    subprocess.run([tool("pdftoppm"), "-r", "60", "-png", str(pdf), str(prefix)], check=True, timeout=120)
    return sorted(prefix.parent.glob(prefix.name + "*.png"))


