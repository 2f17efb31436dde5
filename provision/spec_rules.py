"""Spec rules that need several fields, an exact list index, or the configuration
(the zone, private addresses, CNAME suffixes): run after the structural validation in
spec.py."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import names
from .errors import Problem
from .textcheck import first_invisible, shown
from .yamlsrc import Path, format_path

if TYPE_CHECKING:
    from .spec import Spec

DEFAULT_RESERVED = names.DEFAULT_RESERVED
RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MX_VALUE = re.compile(r"^(\d{1,5}) +(\S+)\Z")
#: Jinja's delimiters: Ansible would evaluate text holding one (issue 13).
TEMPLATE = re.compile(r"\{[{%#]")
#: The one rule for every path in a spec: these characters, relative, no part starting with '-'.
PATH_CHARS = re.compile(r"[A-Za-z0-9._/-]+\Z")
#: Text fields that may span lines: newlines and tabs are allowed there, nothing else invisible.
MULTILINE: frozenset[Path] = frozenset({("application", "description")})


def _zone(zone: str) -> str:
    return zone.rstrip(".").lower()


def record_fqdn(name: str, zone: str) -> str:
    """A relative name ('www.sisekolah') or absolute one ('x.example.org.') made absolute
    without the final dot."""
    return name[:-1] if name.endswith(".") else f"{name}.{_zone(zone)}"


def path_problem(value: str, *, directory_ok: bool = False) -> str | None:
    """Why `value` is not a spec path, or None. One rule for every path field: a path
    relative to the repository of letters, digits, '.', '_', '/' and '-', at most 255
    characters, no '..', no empty part, no part starting with '-' (an option to a tool)."""
    if value in ("", ".") and directory_ok:
        return None
    if not value or len(value) > 255:
        return "must be a relative path of 1 to 255 characters"
    if value.startswith(("/", "~")):
        return f"{shown(value)} must be relative to the repository, not absolute"
    if not PATH_CHARS.match(value):
        return f"{shown(value)} may hold only letters, digits, '.', '_', '/' and '-'"
    parts = value.rstrip("/").split("/")
    if ".." in parts:
        return f"{shown(value)} must not contain '..'"
    if "" in parts:
        return f"{shown(value)} has an empty part ('//')"
    if any(p.startswith("-") for p in parts):
        return f"{shown(value)} has a part starting with '-'"
    if value.endswith("/") and not directory_ok:
        return f"{shown(value)} names a directory; a file is expected here"
    return None


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why a spec string is refused whatever its field, or None: a template delimiter
    (`{{`, `{%`, `{#`), or an invisible, bidi or control character (the rule of `--app`;
    newlines and tabs only in multi-line fields)."""
    if TEMPLATE.search(value):
        return "holds a template delimiter ('{{', '{%' or '{#'), which Ansible would run as code: remove it"
    bad = first_invisible(value.replace("\n", "").replace("\t", "") if multiline else value)
    if bad:
        return f"contains an invisible, bidi or control character ({bad}): retype it"
    return None


def text_checks(data: Any, path: Path = ()) -> list[RuleProblem]:
    """`text_problem` for every string of the raw spec data, mapping keys included."""
    out: list[RuleProblem] = []
    if isinstance(data, str):
        msg = text_problem(data, path in MULTILINE)
        if msg:
            out.append((path, msg))
    elif isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str) and (msg := text_problem(k)):
                out.append((path + (k,), f"the name {msg}"))
            else:
                out += text_checks(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += text_checks(v, path + (i,))
    return out


# ---- rules that need several fields or an exact list index (run on the raw data) ----

RuleProblem = tuple[Path, str]


def _value_problem(rtype: str, value: str) -> str | None:
    if rtype == "A":
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return f"{value!r} is not an IPv4 address"
    elif rtype == "AAAA":
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return f"{value!r} is not an IPv6 address"
        if "%" in value:
            return f"{value!r} has a scope id, which DNS cannot hold"
    elif rtype == "CNAME":
        msg = names.check_hostname(value, allow_underscore=True)
        return f"target {msg}" if msg else None
    elif rtype == "MX":
        m = _MX_VALUE.match(value)
        if not m or int(m.group(1)) > 65535:
            return f"{value!r} must be 'PRIORITY HOST' with PRIORITY 0-65535, e.g. '10 mail.example.org.'"
        msg = names.check_hostname(m.group(2))
        return f"mail host {msg}" if msg else None
    elif rtype == "TXT" and _CONTROL.search(value):
        return "TXT text must not contain control characters or newlines"
    return None


def rule_checks(data: dict[str, Any], reserved: Iterable[str]) -> list[RuleProblem]:
    """Checks on the raw data that pydantic's per-field validators cannot place exactly.
    Defensive: parts with the wrong shape are skipped (pydantic reports those)."""
    out: list[RuleProblem] = []
    app: dict[str, Any] = data["application"] if isinstance(data.get("application"), dict) else {}
    own: list[str] = []
    sub = app.get("subdomain") or app.get("slug")
    if isinstance(sub, str) and names.check_label(sub) is None:
        sub = names.to_ascii(sub)
        own.append(sub)
    hosting = data["hosting"] if isinstance(data.get("hosting"), dict) else {}
    aliases = hosting.get("aliases")
    if isinstance(aliases, list):
        seen_alias: dict[str, int] = {}
        for i, alias in enumerate(aliases):
            if not isinstance(alias, str):
                continue
            path: Path = ("hosting", "aliases", i)
            msg = names.check_hostname(alias)
            if msg:
                out.append((path, msg))
                continue
            ascii_alias = names.to_ascii(alias)
            if ascii_alias == sub:
                out.append((path, f"{alias!r} is the application's own name already"))
            elif ascii_alias in seen_alias:
                out.append((path, f"{alias!r} is given twice"))
            seen_alias[ascii_alias] = i
            if not alias.endswith("."):
                msg = names.check_reserved(ascii_alias.rsplit(".", 1)[-1], reserved)
                if msg:
                    out.append((path, msg))
                else:
                    own.append(ascii_alias)
    repo = data["repository"] if isinstance(data.get("repository"), dict) else {}
    members = repo.get("members")
    if isinstance(members, list):
        users: set[str] = set()
        for i, m in enumerate(members):
            u = m.get("username") if isinstance(m, dict) else None
            if isinstance(u, str):
                if u.lower() in users:
                    out.append((("repository", "members", i, "username"), f"{u!r} is listed twice"))
                users.add(u.lower())
    dns = data["dns"] if isinstance(data.get("dns"), dict) else {}
    records = dns.get("records")
    if isinstance(records, list):
        out += _record_checks(records, own)
    return out


def _record_checks(records: list[Any], own: list[str]) -> list[RuleProblem]:
    out: list[RuleProblem] = []
    types_at: dict[str, list[tuple[int, str]]] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            continue
        base: Path = ("dns", "records", i)
        name, rtype, values = rec.get("name"), rec.get("type"), rec.get("values")
        if isinstance(name, str):
            msg = None
            if name == "@" or name.endswith(".") or name == "":
                msg = f"{name!r}: give a name relative to the zone (the zone apex and absolute names are refused)"
            else:
                msg = names.check_hostname(name, allow_underscore=rtype in ("TXT", "CNAME"))
            if msg:
                out.append((base + ("name",), msg))
                name = None
            else:
                name = names.to_ascii(name)
                if own and not any(name == o or name.endswith("." + o) for o in own):
                    out.append((base + ("name",), f"{name!r} is outside this application's names ({', '.join(own)})"))
        if rtype not in RECORD_TYPES or not isinstance(values, list):
            continue
        if rtype == "CNAME" and len(values) != 1:
            out.append((base + ("values",), f"a CNAME has exactly one value, got {len(values)}"))
        seen: set[str] = set()
        for j, v in enumerate(values):
            if not isinstance(v, str):
                continue
            msg = _value_problem(rtype, v)
            if msg:
                out.append((base + ("values", j), msg))
            elif v in seen:
                out.append((base + ("values", j), f"{v!r} is given twice"))
            seen.add(v)
        if isinstance(name, str):
            types_at.setdefault(name, []).append((i, rtype))
    for name, entries in types_at.items():
        types = [t for _, t in entries]
        for k, (i, t) in enumerate(entries):
            if t in types[:k]:
                out.append((("dns", "records", i, "type"), f"a second {t} record at {name!r}: put all values in one record"))
            elif t == "CNAME" and len(entries) > 1:
                others = ", ".join(sorted({x for x in types if x != "CNAME"} or {"CNAME"}))
                out.append((("dns", "records", i, "type"), f"a CNAME at {name!r} cannot sit beside other data ({others})"))
    return out


def check_record_values(spec: Spec, allow_private: bool, allowed_cname_suffixes: list[str], zone: str) -> list[Problem]:
    """Checks that depend on configuration, for the DNS provider to call before planning:
    A/AAAA addresses that are private, loopback, link-local, multicast, reserved or
    unspecified (unless `allow_private`); CNAME and MX targets given as absolute names
    outside `zone` and `allowed_cname_suffixes`; CNAMEs pointing at themselves; names too
    long once the zone is appended."""
    z = _zone(zone)
    suffixes = [z] + [s.rstrip(".").lower() for s in allowed_cname_suffixes]
    problems: list[Problem] = []

    def add(path: Path, msg: str) -> None:
        problems.append(Problem(format_path(path), msg, spec.line_of(path)))

    for i, rec in enumerate(spec.dns.records):
        base: Path = ("dns", "records", i)
        fq = record_fqdn(rec.name, z)
        if len(fq) > names.MAX_NAME:
            add(base + ("name",), f"{fq!r} is {len(fq)} characters long; a DNS name is at most {names.MAX_NAME}")
        for j, v in enumerate(rec.values):
            path = base + ("values", j)
            if rec.type in ("A", "AAAA") and not allow_private:
                ip = ipaddress.ip_address(v)
                if not ip.is_global or ip.is_multicast:
                    add(path, f"{v} is not a public address (private, loopback, link-local, documentation or reserved)")
            elif rec.type in ("CNAME", "MX"):
                target = v.split()[-1].lower()
                if target.endswith("."):
                    t = names.to_ascii(target[:-1])
                    if not any(t == s or t.endswith("." + s) for s in suffixes):
                        add(path, f"target {target!r} is outside {z} and the allowed CNAME suffixes")
                elif rec.type == "CNAME" and record_fqdn(names.to_ascii(target), z) == fq:
                    add(path, "a CNAME cannot point at itself")
    return problems


def check_aliases(spec: Spec, zone: str, reserved: Iterable[str] = DEFAULT_RESERVED,
                  suffixes: Iterable[str] = ()) -> list[Problem]:
    """For the steps that know the zone: an absolute alias must be under the zone or one of
    `suffixes` (hosting.alias_suffixes: no site, no ACME order for an outside domain), and
    inside the zone must not claim a reserved label directly under it, nor the zone apex
    itself. Relative aliases were checked when the spec was loaded."""
    z = _zone(zone)
    allowed = [x for x in [z, *(_zone(s) for s in suffixes)] if x]
    problems: list[Problem] = []
    for i, alias in enumerate(spec.hosting.aliases):
        if not alias.endswith("."):
            continue
        path: Path = ("hosting", "aliases", i)
        name = alias[:-1].lower()
        if name == z:
            problems.append(Problem(format_path(path), f"{alias!r} is the zone itself", spec.line_of(path)))
        elif name.endswith("." + z):
            label = name[: -len(z) - 1].rsplit(".", 1)[-1]
            msg = names.check_reserved(label, reserved)
            if msg:
                problems.append(Problem(format_path(path), msg, spec.line_of(path)))
        elif not any(name == x or name.endswith("." + x) for x in allowed):
            problems.append(Problem(format_path(path), f"{alias!r} is outside {z} and the configured "
                                    "hosting.alias_suffixes", spec.line_of(path)))
    return problems
