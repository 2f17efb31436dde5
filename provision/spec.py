"""The Spec: the desired state of one request's application, loaded from YAML strictly.

Three layers, all run on every load so that every problem is reported at once:
1. pydantic models (`extra="forbid"`, strict types) check shape, types and single fields;
2. `_rule_checks` checks what needs several fields or an exact list index: runtime
   versions per kind, DNS record values per type, CNAME beside other data, duplicate
   records and members, record names outside the application's names.
3. `text_checks` on every string of the raw data: no template delimiter (Ansible would
   run it), no invisible, bidi or control character (the rule of `request open --app`).
Each failure becomes a `Problem(field, message, line)`; `load_spec` raises one
`ValidationError` (exit 2) carrying all of them. docs/spec.md describes every field.

`check_record_values` holds the checks that depend on configuration (zone, private
addresses, allowed CNAME targets); the DNS provider calls it before planning.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from . import names
from .errors import Problem, ValidationError
from .spec_rules import (  # noqa: F401
    _CONTROL,
    RECORD_TYPES,
    _zone,
    check_aliases,
    check_record_values,
    path_problem,
    record_fqdn,
    rule_checks,
    text_checks,
)
from .yamlsrc import RULE_ERROR, Path, format_path, line_for, load_yaml, problems_from_pydantic, type_name

__all__ = [
    "DEFAULT_RESERVED", "RECORD_TYPES", "RUNTIME_VERSIONS", "Spec", "check_aliases",
    "check_record_values", "load_spec", "load_spec_for", "record_fqdn", "reserved_names", "spec_from_data",
]  # fmt: skip

DEFAULT_RESERVED = names.DEFAULT_RESERVED
#: Allowed versions per runtime kind; python accepts any 3.N with N >= 11.
RUNTIME_VERSIONS: dict[str, tuple[str, ...]] = {
    "static": (),
    "php": ("7.4", "8.1", "8.2", "8.3"),
    "python": ("3.11", "3.12", "3.13", "3.14"),
    "node": ("18", "20", "22"),
}
_PYTHON_VERSION = re.compile(r"^3\.(1[1-9]|[2-9][0-9])\Z")
_ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*\Z")
_SECRETISH = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|(^|_)KEY$|CREDENTIAL|DSN$")
_FORBIDDEN_ENV = {"PATH", "HOME", "USER", "SHELL", "IFS", "PYTHONPATH", "PYTHONHOME", "NODE_OPTIONS", "PHPRC"}


_UNKNOWN = "unknown field (check the spelling; docs/spec.md lists every field)"


def _fail(msg: str) -> PydanticCustomError:
    return PydanticCustomError(RULE_ERROR, "{msg}", {"msg": msg})


_WRITABLE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}){0,3}\Z")


def _rel_path(value: str, *, directory_ok: bool = False) -> str:
    msg = path_problem(value, directory_ok=directory_ok)
    if msg:
        raise _fail(msg)
    return "." if value in ("", ".") else value


def _one_line(value: str, what: str) -> str:
    if _CONTROL.search(value) or "\x00" in value:
        raise _fail(f"{what} must be one line without control characters")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Application(_Model):
    slug: str
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    subdomain: str | None = None  # default: the slug

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str, info: ValidationInfo) -> str:
        reserved = (info.context or {}).get("reserved", DEFAULT_RESERVED)
        msg = names.check_slug(v, reserved=reserved)
        if msg:
            raise _fail(msg)
        return v

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        reserved = (info.context or {}).get("reserved", DEFAULT_RESERVED)
        msg = names.check_label(v) or names.check_reserved(names.to_ascii(v), reserved)
        if msg:
            raise _fail(msg)
        return names.to_ascii(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise _fail("must not be blank")
        return _one_line(v, "the name")

    @field_validator("description")
    @classmethod
    def _description(cls, v: str | None) -> str | None:
        if v is not None and re.search(r"[\x00-\x08\x0b-\x1f\x7f]", v):
            raise _fail("must not contain control characters (newlines are fine)")
        return v


class Member(_Model):
    username: str
    role: str

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        msg = names.check_gitlab_username(v)
        if msg:
            raise _fail(msg)
        return v

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v == "owner":
            raise _fail("owner is never granted through a spec: use maintainer")
        if v not in ("guest", "reporter", "developer", "maintainer"):
            raise _fail(f"{v!r} is not a role: guest, reporter, developer or maintainer")
        return v


class Repository(_Model):
    group: str | None = None  # under the configured root group; default: the OPD code
    visibility: Literal["private", "internal", "public"] = "private"
    default_branch: str = "main"
    members: list[Member] = Field(default_factory=list)
    # Who may create release tags (gitlab.release_tags, protected); docs/ci.md.
    release_tags_created_by: Literal["maintainers", "developers", "no_one"] = "maintainers"

    @field_validator("group")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        msg = names.check_gitlab_path(v) if v is not None else None
        if msg:
            raise _fail(msg)
        return v

    @field_validator("default_branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        msg = names.check_branch_name(v)
        if msg:
            raise _fail(msg)
        return v


class Runtime(_Model):
    kind: Literal["static", "php", "python", "node"]
    version: str | None = Field(default=None, validate_default=True)
    document_root: str = "."
    start_command: str | None = Field(default=None, validate_default=True)
    env: dict[str, str] = Field(default_factory=dict)
    # Directories of the release the runtime user may write (kept across releases under
    # shared/); everything else of the code is read-only to it.
    writable: list[str] = Field(default_factory=list)
    # php: allow exec/system/proc_open and the like (disabled in the pool otherwise).
    process_exec: bool = False

    @field_validator("version")
    @classmethod
    def _version(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind is None:
            return v
        if kind == "static":
            if v is not None:
                raise _fail("a static site has no runtime version: remove it")
            return v
        allowed = RUNTIME_VERSIONS[kind]
        if v is None:
            raise _fail(f"required for {kind}: one of {', '.join(allowed)}")
        if v in allowed or (kind == "python" and _PYTHON_VERSION.match(v)):
            return v
        more = " (or a later 3.N)" if kind == "python" else ""
        raise _fail(f"{kind} {v!r} is not supported: one of {', '.join(allowed)}{more}")

    @field_validator("document_root")
    @classmethod
    def _docroot(cls, v: str) -> str:
        return _rel_path(v, directory_ok=True)

    @field_validator("start_command")
    @classmethod
    def _start(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if v is not None:
            _one_line(v, "the start command")
            if not v.strip():
                raise _fail("must not be blank")
        if kind in ("python", "node") and v is None:
            raise _fail(f"required for {kind} (e.g. 'gunicorn app:app' or 'node server.js')")
        if kind in ("static", "php") and v is not None:
            raise _fail(f"a {kind} application has no start command: remove it")
        return v

    @field_validator("writable")
    @classmethod
    def _writable(cls, v: list[str]) -> list[str]:
        if len(v) > 16:
            raise _fail("at most 16 writable directories")
        seen: set[str] = set()
        for item in v:
            path = item.rstrip("/")
            if not _WRITABLE.match(path):
                raise _fail(f"{item!r} must be a relative directory of letters, digits, '.', '_', '-' and '/', "
                            "no part starting with '.', at most 4 levels")
            if path in seen:
                raise _fail(f"{item!r} is listed twice")
            seen.add(path)
        for a in seen:
            for b in seen:
                if a != b and b.startswith(a + "/"):
                    raise _fail(f"{b!r} is inside {a!r}: list only {a!r}")
        return sorted(seen)

    @field_validator("process_exec")
    @classmethod
    def _exec(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("kind") != "php":
            raise _fail("only a php application has process functions to allow")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not _ENV_KEY.match(key):
                raise _fail(f"variable name {key!r} must match [A-Z_][A-Z0-9_]*")
            if key in _FORBIDDEN_ENV or key.startswith("LD_"):
                raise _fail(f"{key} is set by the hosting server and cannot be overridden")
            if _SECRETISH.search(key):
                raise _fail(f"{key} looks like a secret; the spec is stored and logged, so secrets do not belong here")
            if "\n" in value or "\r" in value or "\x00" in value:
                raise _fail(f"the value of {key} must be one line without NUL")
        return v


class Hosting(_Model):
    host: str
    database: Literal["none", "mariadb", "postgresql"] = "none"
    tls: bool = True
    aliases: list[str] = Field(default_factory=list)
    # ACME only: how the CA checks the names (default: hosting.acme_challenge in the configuration).
    # dns-01 for names the CA cannot reach over HTTP (not yet public, internal addresses).
    acme_challenge: Literal["http-01", "dns-01"] | None = None
    # Keep the staging instance serving after production goes live (default: the production
    # install stops it: vhost, pool or service; docs/install.md, "Staging").
    keep_staging: bool = False

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z", v):
            raise _fail(f"{v!r} is not an inventory host name (letters, digits, '.', '_', '-')")
        return v

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return [names.to_ascii(a) if names.check_hostname(a) is None else a for a in v]


class Record(_Model):
    name: str
    type: Literal["A", "AAAA", "CNAME", "TXT", "MX"]
    ttl: int = Field(default=3600, ge=60, le=86400)
    values: list[str] = Field(min_length=1)

    # Normalised forms (A-labels, canonical addresses) so that plans compare like with
    # like; values that do not parse are left alone for `rule_checks` to report.
    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return names.to_ascii(v) if names.check_hostname(v, allow_underscore=True) is None else v

    @field_validator("values")
    @classmethod
    def _values(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("type") in ("A", "AAAA"):
            out = []
            for x in v:
                try:
                    out.append(str(ipaddress.ip_address(x)) if "%" not in x else x)
                except ValueError:
                    out.append(x)
            return out
        return v


class Dns(_Model):
    records: list[Record] = Field(default_factory=list)


class SmokeTest(_Model):
    path: str = "/"
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None

    @field_validator("contains")
    @classmethod
    def _contains(cls, v: str | None) -> str | None:
        if v is not None and (v == "" or "\x00" in v):
            raise _fail("must be non-empty text without NUL (leave it out to check the status only)")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or v.startswith("//") or len(v) > 2048:
            raise _fail(f"{v!r} must be a URL path starting with a single '/' (at most 2048 characters)")
        if re.search(r"[\x00-\x20\x7f]", v):
            raise _fail(f"{v!r} has spaces or control characters: percent-encode them")
        return v


class Tests(_Model):
    smoke: list[SmokeTest] = Field(default_factory=lambda: [SmokeTest()])
    command: str | None = None

    @field_validator("command")
    @classmethod
    def _command(cls, v: str | None) -> str | None:
        return _one_line(v, "the test command") if v is not None else v


class Documents(_Model):
    installation_guide: str = "docs/panduan-instalasi.md"
    user_guide: str = "docs/panduan-pengguna.md"
    test_documents: str = "docs/pengujian/"
    system_requirements: str = "docs/kebutuhan-sistem.md"

    @field_validator("installation_guide", "user_guide", "system_requirements")
    @classmethod
    def _file(cls, v: str) -> str:
        return _rel_path(v)

    @field_validator("test_documents")
    @classmethod
    def _dir(cls, v: str) -> str:
        return _rel_path(v, directory_ok=True)


class Spec(_Model):
    """A validated spec. Build it with `load_spec` (keeps YAML line numbers)."""

    version: Literal[1]
    application: Application
    repository: Repository = Field(default_factory=Repository)
    runtime: Runtime
    hosting: Hosting
    dns: Dns = Field(default_factory=Dns)
    tests: Tests = Field(default_factory=Tests)
    documents: Documents = Field(default_factory=Documents)

    _lines: dict[Path, int] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="<spec>")

    @property
    def subdomain(self) -> str:
        """The label under the zone: `application.subdomain`, else the slug."""
        return self.application.subdomain or self.application.slug

    def fqdn(self, zone: str) -> str:
        """The application's main host name, e.g. 'sisekolah.batam.go.id' (no final dot)."""
        return f"{self.subdomain}.{_zone(zone)}"

    def hostnames(self, zone: str) -> list[str]:
        """Main host name then the aliases, all absolute without the final dot."""
        return [self.fqdn(zone)] + [record_fqdn(a, zone) for a in self.hosting.aliases]

    def line_of(self, field: Path) -> int | None:
        """The YAML line of a field path (or its nearest ancestor), if loaded from YAML."""
        return line_for(self._lines, field)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def __eq__(self, other: object) -> bool:  # line numbers are not part of the spec
        return isinstance(other, Spec) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False)


def reserved_names(config: Any) -> Iterable[str]:
    """The reserved labels a spec is checked against: `names.reserved` of the
    configuration (an empty list reserves nothing), else the packaged list."""
    reserved = config.names.reserved
    return DEFAULT_RESERVED if reserved is None else reserved


def load_spec_for(text: str | bytes, source: str, config: Any) -> Spec:
    """`load_spec` with what the configuration adds: its reserved names and, when dns.zone
    is set, the absolute aliases' rules (`check_aliases` with hosting.alias_suffixes)."""
    reserved = reserved_names(config)
    spec = load_spec(text, source, reserved=reserved)
    if config.dns.zone:
        problems = check_aliases(spec, config.dns.zone, reserved, config.hosting.alias_suffixes)
        if problems:
            raise ValidationError(problems, "spec")
    return spec


def spec_from_data(
    data: Any, lines: dict[Path, int] | None = None, *, reserved: Iterable[str] = DEFAULT_RESERVED,
    source: str = "<spec>",
) -> Spec:
    """Validate already-parsed data (e.g. from the state store). Raises ValidationError."""
    lines = lines or {}
    source = source if source.startswith("<") else f"<{source}>"
    problems: list[Problem] = []
    spec: Spec | None = None
    if not isinstance(data, dict):
        raise ValidationError([Problem(source, f"a spec is a mapping, got {type_name(data)}", lines.get(()))], "spec")
    reserved = frozenset(r.lower() for r in reserved)
    try:
        spec = Spec.model_validate(data, context={"reserved": reserved})
    except PydanticValidationError as e:
        problems += problems_from_pydantic(e, lines, source, _UNKNOWN)
    seen = {(p.field, p.message) for p in problems}
    for path, msg in rule_checks(data, reserved):
        if (format_path(path), msg) not in seen:
            problems.append(Problem(format_path(path), msg, line_for(lines, path)))
    # Template delimiters and invisible characters, in every string: once per field.
    flagged = {p.field for p in problems}
    for path, msg in text_checks(data):
        if format_path(path) not in flagged:
            problems.append(Problem(format_path(path), msg, line_for(lines, path)))
    if problems:
        problems.sort(key=lambda p: (p.line or 0))
        raise ValidationError(problems, "spec")
    assert spec is not None
    spec._lines = dict(lines)
    spec._source = source
    return spec


def load_spec(text: str | bytes, source: str = "<spec>", *, reserved: Iterable[str] = DEFAULT_RESERVED) -> Spec:
    """Parse and validate a spec. Raises ValidationError (what="spec" or "YAML") with
    every problem found, each naming its field and YAML line."""
    data, lines = load_yaml(text, source)
    return spec_from_data(data, lines, reserved=reserved, source=source)
