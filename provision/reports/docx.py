def write_docx(kind, data, path): pass
