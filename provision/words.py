"""Words the CLI shows for statuses and column headings, in `general.language`.

A module of its own so a listing does not load the SOP's models (pydantic, YAML).
"""

from __future__ import annotations

#: Words the CLI shows for statuses and column headings, by `general.language`.
WORDS: dict[str, dict[str, str]] = {
    "id": {"pending": "belum", "started": "berjalan", "done": "selesai", "open": "terbuka", "closed": "ditutup",
           "OVERDUE": "TERLAMBAT", "REQUEST": "PERMOHONAN", "APPLICATION": "APLIKASI", "STATUS": "STATUS",
           "STEP": "TAHAP", "DUE": "BATAS WAKTU", "BY": "OLEH", "WHEN": "WAKTU", "RECORD": "CATATAN",
           "ACTORS": "PELAKSANA", "OPD": "OPD", "letter": "surat", "of": "tanggal", "step": "tahap",
           "holiday": "bergeser karena hari libur"},
    "en": {"holiday": "moved by holidays"},
}


def word(text: str, language: str = "id") -> str:
    """`text` (a status or a heading, as the CLI writes it in English) in `language`."""
    return WORDS.get(language, {}).get(text, text)
