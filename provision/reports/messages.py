"""The message catalogue: every text a check puts into an official letter, in English (the
CLI, JUnit) and in Bahasa Indonesia (the letters). A check records the message *key* and
its arguments, never only the sentence, so a letter is always written from this table.

A letter that meets a key with no Indonesian text refuses to render (`Untranslated`):
an English sentence never slips into a naskah dinas. Arguments are data (paths, names,
numbers, commands) and are shown as given; a file mode is given as the string "0600",
never as Python's 0o600.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from provision.errors import ExitCode, ProvisionError

#: key -> (English, Bahasa Indonesia). Placeholders are {name}; both sides use the same ones.
CATALOGUE: dict[str, tuple[str, str]] = {
    # --- check names -------------------------------------------------------------------
    "smoke.page": ("GET {url}", "Halaman {url} (status {status})"),
    "smoke.page_contains": ("GET {url}", 'Halaman {url} (status {status}, memuat "{text}")'),
    "tls.pending": ("TLS for {name}", "Sertifikat TLS {name}"),
    "tls.verifies": ("TLS certificate of {name} verifies", "Sertifikat TLS {name} terverifikasi"),
    "apptest.none": ("the application's test command", "Perintah pengujian aplikasi"),
    "apptest.command": ("test command: {command}", "Perintah pengujian aplikasi: {command}"),
    "infra.release": ("a release is installed (current link)", "Rilis aplikasi terpasang (tautan current)"),
    "infra.user": ("user {user} exists and has no login shell", "Pengguna sistem {user} ada, tanpa shell login"),
    "infra.owner": ("code under {root} is {deploy}'s, not {user}'s", "Kode di {root} dimiliki {deploy}, bukan {user}"),
    "infra.world": ("nothing world-writable", "Tidak ada berkas yang dapat ditulis semua pengguna"),
    "infra.env_file": ("environment file is root's, 0640, group {user}",
                       "Berkas lingkungan (.env) milik root, mode 0640, grup {user}"),
    "infra.current": ("current links to a release", "Tautan current menunjuk rilis terpasang"),
    "infra.nginx": ("nginx configuration valid, vhost enabled, nginx running",
                    "Konfigurasi nginx valid, vhost aktif, nginx berjalan"),
    "infra.php_fpm": ("{service} running with the app's pool socket", "Layanan {service} berjalan dengan pool aplikasi"),
    "infra.service": ("service {service} running", "Layanan {service} berjalan"),
    "infra.listen": ("app listening on 127.0.0.1:{port}", "Aplikasi mendengarkan di 127.0.0.1:{port}"),
    "documents.installation_guide": ("installation guide: {path}", "Panduan instalasi: {path}"),
    "documents.user_guide": ("user guide: {path}", "Panduan pengguna: {path}"),
    "documents.system_requirements": ("system requirements: {path}", "Kebutuhan sistem: {path}"),
    "documents.test_documents": ("test documents: {path}",
                                 "Dokumen pengujian (UAT, uji penetrasi, uji usabilitas): {path}"),
    # --- remarks (keterangan) ----------------------------------------------------------
    "remark.http_status": ("status {code}", "kode status HTTP {code}"),
    "remark.http_status_wrong": ("status {code}, expected {expected}", "kode status HTTP {code}, seharusnya {expected}"),
    "remark.text_missing": ("the page does not contain {text!r}", 'halaman tidak memuat "{text}"'),
    "remark.tls_later": ("the vhost has no TLS yet: it is set up with the hosting (step 15)",
                         "vhost belum memakai TLS: dipasang bersama layanan hosting (tahap 15)"),
    "remark.tls_self_signed": ("staging is served over TLS with a self-signed certificate made on the server; the "
                               "trusted certificate comes with the hosting (step 15)",
                               "staging dilayani lewat TLS dengan sertifikat self-signed buatan server; sertifikat "
                               "tepercaya dipasang bersama layanan hosting (tahap 15)"),
    "remark.verified": ("verified", "terverifikasi"),
    "remark.no_answer": ("no answer", "tidak ada jawaban"),
    "remark.no_test_command": ("the spec names no test command", "spesifikasi tidak menyebut perintah pengujian"),
    "remark.exit_code": ("exit {code}", "selesai dengan kode keluar {code}"),
    "remark.no_release": ("{root}/current does not exist: run provision install first",
                          "{root}/current tidak ada: aplikasi belum dipasang"),
    "remark.present": ("present in the release", "ada dalam rilis"),
    "remark.missing": ("missing or empty in the repository at this commit",
                       "tidak ada atau kosong di repositori pada commit ini"),
    "remark.shell": ("shell {shell}", "shell {shell}"),
    "remark.no_user": ("no such user", "pengguna tidak ada"),
    "remark.owner_ok": ("the code under {root} belongs to {deploy}", "kode di {root} dimiliki {deploy}"),
    "remark.owner_bad": ("{user} owns code: {paths}", "kode milik {user}: {paths}"),
    "remark.world_ok": ("no world-writable file or directory", "tidak ada berkas atau direktori yang dapat ditulis semua pengguna"),
    "remark.world_bad": ("world-writable: {paths}", "dapat ditulis semua pengguna: {paths}"),
    "remark.mode": ("mode {mode}, owner {owner}, group {group}", "mode {mode}, pemilik {owner}, grup {group}"),
    "remark.no_file": ("the file does not exist", "berkas tidak ada"),
    "remark.link": ("-> {target}", "menunjuk {target}"),
    "remark.not_link": ("not a symbolic link", "bukan tautan simbolik"),
    "remark.nginx_ok": ("nginx -t: the configuration is valid", "nginx -t: konfigurasi valid"),
    "remark.nginx_bad": ("nginx -t failed", "nginx -t gagal"),
    "remark.vhost_disabled": ("vhost not enabled", "vhost belum aktif"),
    "remark.nginx_stopped": ("nginx is not running", "nginx tidak berjalan"),
    "remark.running": ("{service} is running", "{service} berjalan"),
    "remark.not_running": ("{service} is not running", "{service} tidak berjalan"),
    "remark.listening": ("port {port} is listening", "port {port} menerima koneksi"),
    "remark.not_listening": ("nothing listens on port {port}", "tidak ada layanan di port {port}"),
    "remark.error": ("{error}", "pemeriksaan tidak dapat dijalankan (rincian teknis pada catatan pengujian)"),
    # --- results (hasil) ---------------------------------------------------------------
    "result.pass": ("pass", "sesuai"),
    "result.fail": ("fail", "tidak sesuai"),
    "result.n/a": ("not applicable", "tidak berlaku"),
}

_FIELD = re.compile(r"\{(\w+)(![rs])?\}")


class Untranslated(ProvisionError):
    """A letter met a message the catalogue has no Indonesian text for."""

    exit_code = ExitCode.FAILURE


@dataclass(frozen=True)
class Message:
    key: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def en(self) -> str:
        return text(self.key, self.args, "en")

    @property
    def id(self) -> str:
        return text(self.key, self.args, "id")

    def as_list(self) -> list[Any]:
        return [self.key, dict(self.args)]

    def __str__(self) -> str:
        return self.en


def msg(key: str, **args: Any) -> Message:
    if key not in CATALOGUE:
        raise KeyError(f"message {key!r} is not in the catalogue (provision/reports/messages.py)")
    return Message(key, args)


def text(key: str, args: dict[str, Any], lang: str) -> str:
    """The message in `lang` ("en" or "id"); raises Untranslated for a key or a placeholder
    the catalogue does not know (in Indonesian: the letter must not fall back to English)."""
    entry = CATALOGUE.get(key)
    template = entry[0 if lang == "en" else 1] if entry else ""
    if not template.strip():
        raise Untranslated(f"the message {key!r} has no {'Indonesian' if lang == 'id' else 'English'} text in "
                           "the catalogue: the letter is not written with it.",
                           "Add it to CATALOGUE in provision/reports/messages.py.")

    def fill(m: re.Match[str]) -> str:
        name, conv = m.group(1), m.group(2)
        if name not in args:
            raise Untranslated(f"the message {key!r} needs the value {name!r}, which the record lacks.",
                               "Run the test again (provision test REQ) to record it.")
        return repr(args[name]) if conv == "!r" else str(args[name])

    return _FIELD.sub(fill, template)


def from_record(value: Any) -> Message:
    """A message as stored in a test run's results: [key, {args}]."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict):
        return Message(value[0], value[1])
    raise Untranslated(f"a stored check result holds {value!r}, not a catalogue message: it was recorded by an "
                       "older version, and its text may be English.",
                       "Run the test again (provision test REQ), then issue the letter.")
