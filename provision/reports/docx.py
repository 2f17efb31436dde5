"""The DOCX copy of a letter (python-docx), for the staff who must edit before signing.

It is written from the letter's own HTML, walked element by element, so it holds the same
content in the same order as the PDF: the kop (emblem, centered bold lines, the double
rule), the title and number, Nomor/Sifat/Lampiran/Hal, "Yth.", the bordered tables, the
signature blocks (right, centered for "Mengetahui"), the tembusan. A4 with the same
margins. Only the handful of elements and classes the templates use are known here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

NS = "{http://www.w3.org/1999/xhtml}"
FONT = "Arial"  # Liberation Sans in the PDF has Arial's metrics


def _tag(el: Any) -> str:
    return el.tag.replace(NS, "") if isinstance(el.tag, str) else ""


def _classes(el: Any) -> set[str]:
    return set((el.get("class") or "").split())


def _text(s: str | None) -> str:
    return re.sub(r"\s+", " ", s or "")


class _Writer:
    def __init__(self, doc: Any, emblem: str) -> None:
        self.doc, self.emblem = doc, emblem

    # -- inline ---------------------------------------------------------------------------
    def runs(self, para: Any, el: Any, bold: bool = False, underline: bool = False) -> None:
        if el.text:
            self._run(para, el.text, bold, underline)
        for child in el:
            tag = _tag(child)
            if tag == "br":
                para.add_run().add_break()
            else:
                b = bold or tag in ("b", "strong") or "nama" in _classes(child)
                u = underline or "nama" in _classes(child)
                self.runs(para, child, b, u)
            if child.tail:
                self._run(para, child.tail, bold, underline)

    def _run(self, para: Any, text: str, bold: bool, underline: bool) -> None:
        text = _text(text)
        if not para.runs:
            text = text.lstrip()
        if text:
            run = para.add_run(text)
            run.bold, run.underline = bold or None, underline or None

    # -- blocks ---------------------------------------------------------------------------
    def block(self, el: Any, box: Any, align: str = "left", indent_cm: float = 0.0) -> None:
        """Write element `el` into `box` (the document or a table cell)."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Cm, Pt

        tag, cls = _tag(el), _classes(el)
        aligns = {"left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER,
                  "right": WD_ALIGN_PARAGRAPH.RIGHT, "justify": WD_ALIGN_PARAGRAPH.JUSTIFY}
        if tag == "div" and "kop" in cls:
            return self.kop(el)
        if tag == "div" and cls & {"ruang"}:
            for _ in range(3):
                box.add_paragraph()
            return None
        if tag == "div":
            if "mengetahui" in cls:
                align = "center"
            elif "ttd" in cls:
                indent_cm = 8.3
            elif "isi" in cls:
                align = "justify"
            for child in el:
                self.block(child, box, align, indent_cm)
            return None
        if tag == "table":
            return self.table(el, box, align, indent_cm)
        if tag == "ol":
            for i, li in enumerate(el.iter(NS + "li"), 1):
                p = box.add_paragraph()
                p.paragraph_format.left_indent = Cm(indent_cm + 0.6)
                p.paragraph_format.first_line_indent = Cm(-0.6)
                p.add_run(f"{i}. ")
                self.runs(p, li)
            return None
        if tag in ("p", "h2", "li"):
            p = box.add_paragraph()
            a = align
            style = (el.get("style") or "").replace(" ", "")
            if cls & {"judul", "nomor", "pemerintah", "instansi", "alamat"}:
                a = "center"
            elif "tempat" in cls or "text-align:right" in style:
                a = "right"
            elif a == "justify" and "isi" not in cls and box is not self.doc:
                a = "left"
            p.alignment = aligns[a]
            if indent_cm:
                p.paragraph_format.left_indent = Cm(indent_cm)
            if "padding-left" in style:
                p.paragraph_format.left_indent = Cm(indent_cm + 1.25)
            if a == "justify":
                p.paragraph_format.first_line_indent = Cm(1.25)
            p.paragraph_format.space_after = Pt(4)
            self.runs(p, el, bold=tag == "h2" or "judul" in cls)
            if "judul" in cls:
                for r in p.runs:
                    r.text = r.text.upper()
            return None
        for child in el:  # any other container
            self.block(child, box, align, indent_cm)
        return None

    def table(self, el: Any, box: Any, align: str, indent_cm: float) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Pt

        rows = _own_rows(el)
        ncols = max((len([c for c in tr if _tag(c) in ("td", "th")]) for tr in rows), default=1)
        t = box.add_table(rows=len(rows), cols=ncols) if box is self.doc else box.add_table(len(rows), ncols)
        cls = _classes(el)
        if "data" in cls:
            t.style = self.doc.styles["Table Grid"]
        for r, tr in enumerate(rows):
            cells = [c for c in tr if _tag(c) in ("td", "th")]
            for c, td in enumerate(cells):
                cell = t.cell(r, c)
                inner = [x for x in td if _tag(x) in ("table", "div", "p")]
                first = cell.paragraphs[0]
                if inner:
                    first._element.getparent().remove(first._element)
                    for x in td:
                        self.block(x, cell, "left", 0)
                    if td.text and td.text.strip():
                        cell.paragraphs[0].insert_paragraph_before(_text(td.text).strip())
                else:
                    self.runs(first, td, bold=_tag(td) == "th")
                    style = (td.get("style") or "").replace(" ", "")
                    if _tag(td) == "th" or "c" in _classes(td):
                        first.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    elif "text-align:right" in style:
                        first.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                    if "data" in cls:
                        for run in first.runs:
                            run.font.size = Pt(10.5)
        self.doc.add_paragraph() if box is self.doc else None
        del align, indent_cm

    def kop(self, el: Any) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Cm, Pt

        t = self.doc.add_table(rows=1, cols=2)
        left, right = t.cell(0, 0), t.cell(0, 1)
        left.width, right.width = Cm(2.6), Cm(13.4)
        if self.emblem and not self.emblem.lower().endswith(".svg"):  # Word takes PNG/JPEG pictures
            left.paragraphs[0].add_run().add_picture(self.emblem, width=Cm(2.1))
        first = True
        for p_el in el:
            if _tag(p_el) != "p":
                continue
            p = right.paragraphs[0] if first else right.add_paragraph()
            first = False
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.paragraph_format.space_after = Pt(0)
            cls = _classes(p_el)
            run = p.add_run(_text(p_el.text).strip())
            run.bold = "alamat" not in cls
            run.font.size = Pt({"pemerintah": 14, "instansi": 16}.get(next(iter(cls), ""), 9.5))
        rule = self.doc.add_paragraph()
        _bottom_border(rule)


def _own_rows(table: Any) -> list[Any]:
    """The table's own rows (tbody is implied by the HTML parser), not those of nested tables."""
    rows = []
    for child in table:
        if _tag(child) == "tr":
            rows.append(child)
        elif _tag(child) in ("tbody", "thead"):
            rows.extend(c for c in child if _tag(c) == "tr")
    return rows


def _bottom_border(paragraph: Any) -> None:
    """The kop's double rule: a double bottom border on an empty paragraph."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "thickThinSmallGap"), ("w:sz", "24"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    borders.append(bottom)
    ppr.append(borders)


def write_docx(kind: str, data: dict[str, Any], path: Path, html: str | None = None) -> None:
    import tinyhtml5
    from docx import Document
    from docx.shared import Cm, Pt

    if html is None:
        raise ValueError("write_docx needs the letter's HTML")
    root = tinyhtml5.parse(html)
    body = root.find(NS + "body")
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    normal = doc.styles["Normal"]
    normal.font.name, normal.font.size = FONT, Pt(12)
    doc.core_properties.title = (root.findtext(f"{NS}head/{NS}title") or kind).strip()
    doc.core_properties.author = data["general"].organisation
    writer = _Writer(doc, data.get("emblem_path", ""))
    for el in body:
        writer.block(el, doc)
    doc.save(str(path))
