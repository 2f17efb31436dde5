"""HTML to PDF with WeasyPrint: the CSS layout of the letter kept (A4 `@page`, margins,
the kop, right-aligned blocks, bordered tables), fonts embedded as subsets, and PDF/A-2b
by default (`reports.pdf_variant`)."""

from __future__ import annotations

from pathlib import Path

#: The anchor (HTML id) of the space left for the signature in every letter: the visible
#: field of an electronic signature is put there (provision/reports/sign.py).
SIGNATURE_ANCHOR = "tte"


def html_to_pdf(html: str, path: Path, variant: str = "pdf/a-2b") -> None:
    from weasyprint import HTML

    # base_url: only the configured emblem is referenced, by its file:// URL.
    HTML(string=html, base_url=str(path.parent)).write_pdf(
        str(path), pdf_variant=None if variant == "none" else variant, uncompressed_pdf=False)


def anchor_box(html: str, base: Path,
               anchor: str = SIGNATURE_ANCHOR) -> tuple[int, tuple[float, float, float, float]] | None:
    """(page index, (x1, y1, x2, y2) in PDF points from the bottom left) of the element
    with id `anchor` in the laid-out letter, or None when the letter has no such element."""
    from weasyprint import HTML

    doc = HTML(string=html, base_url=str(base)).render()
    for i, page in enumerate(doc.pages):
        if anchor in page.anchors:
            x1, y1, x2, y2 = page.anchors[anchor][:4]
            # CSS px (1/96 in) from the top left -> PDF pt (1/72 in) from the bottom left.
            top = page.height * 0.75
            return i, (x1 * 0.75, top - y2 * 0.75, x2 * 0.75, top - y1 * 0.75)
    return None
