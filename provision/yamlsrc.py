"""YAML loading that keeps line numbers and refuses what a hand-written file never needs.

`load_yaml` turns YAML text into plain Python data (dict, list, str, int, float, bool,
None, date/datetime) plus a map from field path (a tuple of keys and list indices) to the
1-based line where that field starts, so validation errors can say "line N".

Refused, each as a `Problem` (all collected, raised once as `ValidationError`):
- input over `max_bytes` (default 256 KiB), invalid UTF-8, NUL bytes;
- more than one document;
- anchors and aliases (`&a`, `*a`): a spec never needs them, and they are how the
  "billion laughs" expansion works;
- explicit tags (`!!python/object`, `!!str`, `!custom`) and merge keys (`<<`);
- non-string keys (`1:`, `true:`, `on:` which YAML 1.1 reads as a boolean, `null:`);
- duplicate keys in one mapping (YAML says they are an error; PyYAML keeps the last);
- nesting deeper than `max_depth` (default 32).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    NodeEvent,
    SequenceEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Problem, ValidationError

if TYPE_CHECKING:
    from pydantic import ValidationError as PydanticValidationError

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "RULE_ERROR", "Path", "format_path", "line_for", "load_yaml",
    "problems_from_pydantic", "type_name",
]  # fmt: skip

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 32
#: The pydantic error type a validator raises (PydanticCustomError(RULE_ERROR, "{msg}",
#: {"msg": ...})) when its message is already written for the user.
RULE_ERROR = "provision_rule"

Path = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z")


def format_path(path: Path) -> str:
    """('dns', 'records', 2, 'ttl') -> 'dns.records[2].ttl'; keys that are not plain
    identifiers are quoted: ('env', 'a.b') -> 'env["a.b"]'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]".replace("'", '"')
    return out


def line_for(lines: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    p = tuple(path)
    while True:
        if p in lines:
            return lines[p]
        if not p:
            return None
        p = p[:-1]


def _decode(text: str | bytes, source: str, max_bytes: int) -> str:
    doc = f"<{source}>"
    if isinstance(text, bytes):
        raw = text
    else:
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as e:  # lone surrogates
            raise ValidationError([Problem(doc, f"not valid Unicode text: {e.reason}")], "YAML") from e
    if len(raw) > max_bytes:
        raise ValidationError(
            [Problem(doc, f"file is {len(raw)} bytes; the limit is {max_bytes} bytes")], "YAML"
        )
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise ValidationError([Problem(doc, "contains a NUL byte: not a text file", line)], "YAML")
    if isinstance(text, str):
        return text.removeprefix("\ufeff")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ValidationError(
            [Problem(doc, f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})", line)],
            "YAML",
        ) from e


def _scan_events(text: str, doc: str, max_depth: int) -> list[Problem]:
    """Refuse aliases, anchors, explicit tags, several documents and deep nesting."""
    problems: list[Problem] = []
    depth = 0
    documents = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        line = ev.start_mark.line + 1 if ev.start_mark else None
        if isinstance(ev, DocumentStartEvent):
            documents += 1
            if documents == 2:
                problems.append(Problem(doc, "more than one YAML document (---): give exactly one", line))
        if isinstance(ev, AliasEvent):
            problems.append(Problem(doc, f"alias *{ev.anchor} refused: write the value out in full", line))
            continue
        if isinstance(ev, NodeEvent):
            if ev.anchor is not None:
                problems.append(Problem(doc, f"anchor &{ev.anchor} refused: anchors and aliases are not allowed", line))
            tag = getattr(ev, "tag", None)
            # Implicit resolution leaves tag None (or "!" for quoted scalars); anything
            # else is an explicit tag written in the file.
            if tag not in (None, "!"):
                problems.append(Problem(doc, f"YAML tag {tag} refused: write plain values", line))
        if isinstance(ev, CollectionStartEvent):
            depth += 1
            if depth == max_depth + 1:
                problems.append(Problem(doc, f"nested deeper than {max_depth} levels", line))
                break  # stop here: parsing the rest of a deep nest takes minutes (the scanner is quadratic)
        elif isinstance(ev, (MappingEndEvent, SequenceEndEvent)):
            depth -= 1
    return problems


class _Builder:
    def __init__(self, doc: str) -> None:
        self.doc = doc
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: Node, path: Path) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        where, line = format_path(path) or self.doc, node.start_mark.line + 1
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError) as e:  # e.g. 2024-13-45
            kind = node.tag.rsplit(":", 1)[-1]
            msg = f"{node.value!r} is not a valid {kind} ({e}): quote it if it is text"
            self.problems.append(Problem(where, msg, line))
            return None
        if isinstance(value, str) and _SURROGATE.search(value):
            self.problems.append(Problem(where, "contains an escaped lone surrogate (\\uD800-\\uDFFF), not valid Unicode", line))
            return None
        return value

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        where = format_path(path) or self.doc
        for key_node, value_node in node.value:
            kline = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR_TAG:
                if isinstance(key_node, ScalarNode) and key_node.tag.endswith(":merge"):
                    msg = "merge key << refused: write the keys out in full"
                else:
                    if isinstance(key_node, ScalarNode):
                        kind = key_node.tag.rsplit(":", 1)[-1]
                        msg = f"key {key_node.value!r} is read as {kind}, not a string: quote it"
                    else:
                        msg = "a list or mapping used as a key: keys must be strings"
                self.problems.append(Problem(where, msg, kline))
                continue
            key = key_node.value
            if key in out:
                self.problems.append(
                    Problem(
                        format_path(path + (key,)),
                        f"duplicate key {key!r} (first given at line {first_line[key]})",
                        kline,
                    )
                )
                continue
            first_line[key] = kline
            self.lines[path + (key,)] = kline
            out[key] = self.build(value_node, path + (key,))
            # Keep the key's line: for a block value the value node starts a line later.
            self.lines[path + (key,)] = kline
        return out


def load_yaml(
    text: str | bytes,
    source: str = "<yaml>",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> tuple[Any, dict[Path, int]]:
    """Parse one YAML document into plain data and a path -> line map.

    An empty document gives `None`. Raises `ValidationError` (what="YAML") listing every
    problem found; document-level problems name the field `<source>`.
    """
    doc = f"<{source}>" if not source.startswith("<") else source
    text = _decode(text, source.strip("<>"), max_bytes)
    try:
        problems = _scan_events(text, doc, max_depth)
        if problems:
            raise ValidationError(problems, "YAML")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (e.context, e.problem) if x)
        raise ValidationError([Problem(doc, f"YAML syntax error: {what}", line)], "YAML") from e
    except yaml.YAMLError as e:
        raise ValidationError([Problem(doc, f"YAML error: {e}")], "YAML") from e
    except RecursionError as e:
        raise ValidationError([Problem(doc, "nested too deeply")], "YAML") from e
    if node is None:
        return None, {(): 1}
    builder = _Builder(doc)
    try:
        data = builder.build(node, ())
    except yaml.YAMLError as e:  # e.g. a timestamp out of range
        raise ValidationError([Problem(doc, f"YAML error: {e}")], "YAML") from e
    if builder.problems:
        raise ValidationError(builder.problems, "YAML")
    return data, builder.lines


def type_name(v: Any) -> str:
    """How a parsed YAML value is described in messages: 'a number (8.2)', 'a list'."""
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, (int, float)):
        return f"a number ({v})"
    if v is None:
        return "null"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "a mapping"}
    if type(v) in names:
        return names[type(v)]
    return f"a {type(v).__name__} ({v})"


def _pydantic_message(err: Any, unknown: str) -> str:
    t, v = err["type"], err.get("input")
    if t == "missing":
        return "required field is missing"
    if t == "extra_forbidden":
        return unknown
    if t == "string_type":
        hint = f': quote it ("{v}")' if isinstance(v, (int, float, bool)) else ""
        return f"expected a string, got {type_name(v)}{hint}"
    if t == "int_type":
        return f"expected a whole number, got {type_name(v)}"
    if t == "bool_type":
        return f"expected true or false, got {type_name(v)}"
    if t in ("list_type", "model_type", "dict_type", "model_attributes_type"):
        want = "a list" if t == "list_type" else "a mapping"
        return f"expected {want}, got {type_name(v)}"
    if t == RULE_ERROR:
        return str(err["ctx"]["msg"])
    msg = str(err["msg"])
    return msg.replace("Input should be", "must be").replace("List should", "the list must")


def problems_from_pydantic(
    exc: PydanticValidationError, lines: dict[Path, int], root: str, unknown: str = "unknown field"
) -> list[Problem]:
    """One Problem per pydantic error: dotted field path, a message written for someone
    editing YAML (types named as YAML has them, quoting hints), and the line."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        out.append(Problem(format_path(loc) or root, _pydantic_message(err, unknown), line_for(lines, loc)))
    return out
