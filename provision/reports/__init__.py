"""Official documents (Bahasa Indonesia) from the stored records: one engine, one
template set per kind. `berita_acara` is step 14's; `rekomendasi` (step 15) plugs into
the same engine: a context builder and templates `<kind>.md.j2` / `<kind>.html.j2`."""
