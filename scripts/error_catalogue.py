"""The catalogue of every error message the toolkit can print.

Walks provision/ with `ast`, finds every place a ProvisionError (or a subclass) is
constructed (`raise X(...)`, `return X(...)` in error translators, `e = X(...)`), and
extracts the message as a template (f-string expressions become `{placeholders}`), the
hint, the class, its exit code and the source location. docs/troubleshooting.md and
docs/id/pemecahan-masalah.md have an entry for each message; tests/test_docs.py keeps
them so.

    python scripts/error_catalogue.py            # one line per message
    python scripts/error_catalogue.py --json     # everything, for tools
    python scripts/error_catalogue.py --missing  # messages docs/troubleshooting.md lacks
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provision"
BASE = "ProvisionError"
# Exit codes as provision/errors.py declares them (read from the source, not imported,
# so the catalogue works without the package's dependencies).
EXIT_CODES = {"OK": 0, "FAILURE": 1, "USAGE": 2, "CHECKS_FAILED": 3, "UNSAFE_PLAN": 4,
              "PARTIAL_APPLY": 5, "LOCK_TIMEOUT": 6, "CONFLICT": 7, "UNREACHABLE": 8,
              "AUTH": 9, "ABORTED": 10, "STATE": 11, "NOTHING_TO_CHECK": 12}
STEM_WORDS = 8


@dataclass
class Entry:
    cls: str
    exit_code: int
    message: str  # the template: literal text with {placeholders}
    hint: str | None
    path: str
    line: int
    stem: str  # the literal words a document must quote to cover this message

    @property
    def passthrough(self) -> bool:
        """The message is another error's text (or a server's) passed on: no words of
        its own, so the entry of the error it carries covers it."""
        return not self.stem

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _classes(trees: dict[Path, ast.Module]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Every ProvisionError subclass by name, with its exit code (inherited if not set),
    and the parameters of its constructor (inherited if it defines none)."""
    bases: dict[str, list[str]] = {}
    own: dict[str, int] = {}
    params: dict[str, list[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases[node.name] = [n for n in map(_name, node.bases) if n]
            for stmt in node.body:
                if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                    params[node.name] = [a.arg for a in stmt.args.args[1:]]
                if (isinstance(stmt, (ast.Assign, ast.AnnAssign))
                        and any(_name(t) == "exit_code" for t in
                                (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))
                        and isinstance(stmt.value, ast.Attribute)):
                    own[node.name] = EXIT_CODES[stmt.value.attr]

    def code(name: str, seen: frozenset[str] = frozenset()) -> int | None:
        if name == BASE:
            return own.get(BASE, EXIT_CODES["FAILURE"])
        if name in seen or name not in bases:
            return None
        if name in own and _is_error(name):
            return own[name]
        for b in bases[name]:
            c = code(b, seen | {name})
            if c is not None:
                return c
        return None

    def _is_error(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == BASE:
            return True
        return name not in seen and any(_is_error(b, seen | {name}) for b in bases.get(name, []))

    def signature(name: str, seen: frozenset[str] = frozenset()) -> list[str]:
        if name in params:
            return params[name]
        for b in bases.get(name, []):
            if b not in seen:
                return signature(b, seen | {name})
        return ["message", "hint"]

    codes = {n: c for n in bases if _is_error(n) and (c := code(n)) is not None}
    return codes, {n: signature(n) for n in codes}


def _arg(call: ast.Call, signature: list[str], name: str) -> ast.expr | None:
    """The expression passed for parameter `name`, by position or keyword."""
    for k in call.keywords:
        if k.arg == name:
            return k.value
    if name in signature and signature.index(name) < len(call.args):
        arg = call.args[signature.index(name)]
        return None if isinstance(arg, ast.Starred) else arg
    return None


class _Strings:
    """Turns a message expression into a template, following local string variables."""

    def __init__(self, func: ast.AST | None) -> None:
        self.assigned: dict[str, ast.expr] = {}
        if func is not None:
            for node in ast.walk(func):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    # The first assignment wins: later ones are usually `msg += ...`.
                    self.assigned.setdefault(node.targets[0].id, node.value)

    def template(self, node: ast.expr | None, depth: int = 0) -> str | None:
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            out = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    out.append(str(v.value))
                else:
                    assert isinstance(v, ast.FormattedValue)
                    out.append("{" + _placeholder(v.value) + "}")
            return "".join(out)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.template(node.left, depth), self.template(node.right, depth)
            return (left or "") + (right or "") if (left or right) else None
        if isinstance(node, ast.Name) and depth < 3 and node.id in self.assigned:
            return self.template(self.assigned[node.id], depth + 1)
        if isinstance(node, ast.IfExp):
            a, b = self.template(node.body, depth), self.template(node.orelse, depth)
            if a is not None and b is not None:
                return a if len(a) >= len(b) else b
        return "{" + _placeholder(node) + "}"


def _placeholder(node: ast.expr) -> str:
    text = ast.unparse(node)
    if len(text) > 40:
        text = text[:37] + "..."
    return text


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
GAP = "…"


def stem(template: str) -> str:
    """The message's first STEM_WORDS literal words, with `…` where a placeholder stands:
    what a document must quote for the message to count as covered.

    `{what}: the file {path} does not exist.` gives `: the file … does not exist.`; a
    document matches it with any text in place of each `…` (tests/test_docs.py).
    """
    out: list[str] = []
    words = 0
    for i, part in enumerate(_PLACEHOLDER.split(template)):
        if i:
            out.append(GAP)
        for w in part.split():
            if words == STEM_WORDS:
                break
            out.append(w)
            words += 1
        if words == STEM_WORDS:
            break
    text = " ".join(out).strip(" " + GAP)
    return text if any(c.isalnum() for c in text) else ""


def stem_pattern(s: str) -> re.Pattern[str]:
    """The regular expression a quoted message must match to cover the stem `s`."""
    parts = [re.escape(" ".join(p.split())) for p in s.split(GAP)]
    # A placeholder stands for one `{name}` in the document, or a word without spaces
    # (`REQ-2026-0001`), so that it never swallows the literal words of another message.
    return re.compile(r"\s*(?:\{[^{}]*\}|\S*?)\s*".join(parts))


# A document's entry: a `### E-AREA-NN ...` heading, the message quoted in backticks and
# the exit code (`Exit N` / `Kode keluar N`); tests/test_docs.py keeps the two documents so.
TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"
HEADING = re.compile(r"^### (E-[A-Z]+-\d{2})\b", re.M)
CODE_SPAN = re.compile(r"``\s?(.+?)\s?``|`([^`\n]+)`")


@dataclass
class DocEntry:
    code: str
    text: str
    quotes: list[str] = field(default_factory=list)

    def exit_codes(self, word: str) -> set[int]:
        m = re.search(rf"{word} ((?:\d+)(?:(?:, | or | atau )\d+)*)", self.text)
        return {int(n) for n in re.findall(r"\d+", m.group(1))} if m else set()


def entries(path: Path) -> dict[str, DocEntry]:
    """A document's entries (`### E-AREA-NN` headings), by code."""
    text = path.read_text()
    found: dict[str, DocEntry] = {}
    marks = list(HEADING.finditer(text))
    for i, m in enumerate(marks):
        body = text[m.start(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        body = body.split("\n## ", 1)[0]  # an area's last entry ends at the next area
        assert m.group(1) not in found, f"{path.name}: {m.group(1)} appears twice"
        quotes = [" ".join((a or b).split()) for a, b in CODE_SPAN.findall(body)]
        found[m.group(1)] = DocEntry(m.group(1), body, quotes)
    return found


def covering(e: Entry, docs: dict[str, DocEntry]) -> list[DocEntry]:
    """The entries of `docs` that quote `e`'s message."""
    pattern = stem_pattern(e.stem)
    return [d for d in docs.values() if any(pattern.search(q) for q in d.quotes)]


def uncovered(catalogue: list[Entry], docs: dict[str, DocEntry] | None = None) -> list[Entry]:
    """The messages of `catalogue` no entry of `docs` (default: docs/troubleshooting.md) covers."""
    docs = entries(TROUBLESHOOTING) if docs is None else docs
    return [e for e in catalogue if not e.passthrough and not covering(e, docs)]


def _enclosing_functions(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    """Each node's innermost enclosing function (ast.walk visits outer ones first)."""
    parent: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in ast.walk(node):
                if child is not node:
                    parent[child] = node
    return parent


def catalogue(package: Path = PACKAGE) -> list[Entry]:
    trees = {p: ast.parse(p.read_text(), str(p)) for p in sorted(package.rglob("*.py"))}
    classes, signatures = _classes(trees)
    entries: list[Entry] = []
    for path, tree in trees.items():
        funcs = _enclosing_functions(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            cls = _name(node.func)
            if cls not in classes:
                continue
            strings = _Strings(funcs.get(node))
            sig = signatures[cls]
            if "problems" in sig:  # ValidationError: "invalid WHAT (N problems)" and a list
                what = _arg(node, sig, "what")
                message = f"invalid {strings.template(what) if what is not None else 'input'} (N problems)"
                hint = None
            else:
                message = strings.template(_arg(node, sig, "message")) or ""
                hint = strings.template(_arg(node, sig, "hint"))
            rel = path.relative_to(package.parent).as_posix()
            entries.append(Entry(cls, classes[cls], message, hint, rel, node.lineno, stem(message)))
    return sorted(entries, key=lambda e: (e.path, e.line))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    ap.add_argument("--missing", action="store_true",
                    help="list only the messages docs/troubleshooting.md has no entry for")
    args = ap.parse_args(argv)
    entries = catalogue()
    if args.missing:
        entries = uncovered(entries)
    if args.json:
        print(json.dumps([asdict(e) | {"passthrough": e.passthrough} for e in entries],
                         indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        hint = f"  [hint: {e.hint}]" if e.hint else ""
        print(f"{e.where():40} {e.exit_code:>2} {e.cls:20} {e.message}{hint}")
    print(f"{len(entries)} raise sites, {len({e.stem for e in entries if e.stem})} distinct messages, "
          f"{sum(e.passthrough for e in entries)} passing another message on", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
