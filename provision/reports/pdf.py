"""HTML (the subset our templates use) to PDF with fpdf2: no browser, pure Python."""

from __future__ import annotations

import re
from pathlib import Path


def html_to_pdf(html: str, path: Path, title: str = "") -> None:
    from fpdf import FPDF

    body = re.search(r"<body[^>]*>(.*)</body>", html, re.S)
    inner = body.group(1) if body else html
    inner = re.sub(r"<!--.*?-->", "", inner, flags=re.S)
    inner = re.sub(r"</?(div|section|header|footer|main)[^>]*>", "", inner)
    inner = re.sub(r'\s(class|style)="[^"]*"', "", inner)
    # The core fonts are Latin-1: anything else is replaced, not dropped silently.
    inner = inner.encode("latin-1", "replace").decode("latin-1")
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("kominfo-provision")
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.write_html(inner)
    pdf.output(str(path))
