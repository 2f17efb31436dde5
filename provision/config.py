"""Configuration: one TOML file, every key overridable by a PROVISION_* variable.

Search order for the file: --config, $PROVISION_CONFIG, ./provision.toml, the user's
config dir, /etc/kominfo-provision/provision.toml. A key `section.key` is overridden by
PROVISION_SECTION_KEY. Secrets are never read from the file or the command line: each
comes from its environment variable or from a `*_file` (mode 0600).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticError
from pydantic_core import PydanticCustomError

from provision.errors import ConfigError, Problem, SecretError, ValidationError
from provision.secrets import MASK, REDACTOR, looks_secret, read_secret_file, remember_file, secret_from_env
from provision.textcheck import first_invisible, shown

SYSTEM_CONFIG = Path("/etc/kominfo-provision/provision.toml")
#: The one state of a host with a system-wide configuration (docs/operations.md).
SYSTEM_STATE_DIR = Path("/var/lib/kominfo-provision")
ENV_PREFIX = "PROVISION_"


#: Longest value of any text key (paths, URLs, names); a configuration value is never a document.
MAX_VALUE = 4096
#: The largest configuration file read (a real one is a few KiB).
MAX_FILE_BYTES = 1024 * 1024


# ---- value checks: each raises with a message saying what is wrong (pydantic adds the key) ----

def _bad(msg: str) -> PydanticCustomError:
    return PydanticCustomError("provision_config", "{msg}", {"msg": msg})


_show = shown
_invisible = first_invisible


def _one_line(value: str) -> str:
    bad = _invisible(value)
    if bad:
        raise _bad(f"{_show(value)} contains a control or invisible character ({bad})")
    return value


def _path(value: str) -> str:
    """A file or directory path: no control characters, no '..' part (write the real path)."""
    if not value:
        return value
    _one_line(value)
    if ".." in Path(value).parts:
        raise _bad(f"{_show(value)} has a '..' part: write the path without it")
    return value


def _hostname(value: str, *, idn: bool = True, underscore: bool = False) -> str:
    from provision import names

    msg = names.check_hostname(value, allow_idn=idn, allow_underscore=underscore)
    if msg:
        raise _bad(f"{_show(value)}: {msg}")
    return names.to_ascii(value)


def _host(value: str) -> str:
    """An IP address or a host name (for host:port values)."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        return _hostname(value, idn=False)


def _hostport(value: str) -> str:
    """'192.0.2.1:53', '[2001:db8::1]:53' or 'ns1.example.org:53'."""
    _one_line(value)
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})\Z", value) or re.match(r"^([^:\[\]]+):(\d{1,5})\Z", value)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise _bad(f"{_show(value)} is not host:port (192.0.2.1:53, [2001:db8::1]:53, ns1.example.org:53)")
    _host(m.group(1))
    return value


def _url(value: str, schemes: tuple[str, ...], what: str = "URL") -> str:
    if not value:
        return value
    _one_line(value)
    if any(c.isspace() for c in value):
        raise _bad(f"{_show(value)} has white space: not a {what}")
    try:
        u = urlsplit(value)
        port = u.port
    except ValueError as e:
        raise _bad(f"{_show(value)} is not a {what}: {e}") from None
    if u.scheme not in schemes:
        raise _bad(f"{_show(value)} must start with {' or '.join(s + '://' for s in schemes)}")
    # An SSH login name (git@, root@) is not a credential; a password, or a user in an HTTP URL, is.
    if u.password is not None or (u.username is not None and u.scheme != "ssh"):
        raise _bad("credentials do not belong in the URL (they would be stored and logged): "
                   "use the token or password variable or file")
    if not u.hostname:
        raise _bad(f"{_show(value)} has no host")
    if u.query or u.fragment:
        raise _bad(f"{_show(value)} must not have a query or fragment")
    _host(u.hostname)
    del port
    return value


def _format_fields(template: str, allowed: set[str]) -> set[str]:
    """The {placeholders} of a str.format template; only plain names from `allowed`
    (no attributes, indexes, conversions or nested fields: a template is not code)."""
    fields: set[str] = set()
    try:
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is None:
                continue
            if name not in allowed or conversion or "{" in (spec or ""):
                raise _bad(f"placeholder {{{name}{'!' + conversion if conversion else ''}}} is not one of "
                           f"{', '.join('{' + a + '}' for a in sorted(allowed))}")
            fields.add(name)
    except ValueError as e:
        raise _bad(f"{_show(template)} is not a valid template: {e}") from None
    return fields


def _date(value: str) -> str:
    import datetime

    try:
        if not re.match(r"^\d{4}-\d{2}-\d{2}\Z", value):
            raise ValueError(value)
        datetime.date.fromisoformat(value)
    except ValueError:
        raise _bad(f"{_show(value)} is not a date (YYYY-MM-DD)") from None
    return value


def _reserved_label(value: str) -> str:
    return _hostname(value, idn=False, underscore=True)


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _bad(f"{_show(value)} is not an address or network (127.0.0.0/8)") from None
    return value


def _port(value: int) -> int:
    if not 0 < value < 65536:
        raise _bad(f"{value} is not a TCP port (1-65535)")
    return value


def _username(value: str) -> str:
    from provision import names

    msg = names.check_gitlab_username(value)
    if msg:
        raise _bad(msg)
    return value


HostPort = Annotated[str, AfterValidator(_hostport)]
HostName = Annotated[str, AfterValidator(_hostname)]


def _alias_template(value: str) -> str:
    """A host name that may use {subdomain}, {slug} and {zone} (docs/hosting.md): checked
    with each placeholder replaced by a sample label; any other brace is refused."""
    _one_line(value)
    sample = value.replace("{subdomain}", "app").replace("{slug}", "app").replace("{zone}", "example.go.id")
    if "{" in sample or "}" in sample:
        raise _bad(f"{_show(value)} has an unknown placeholder (use {{subdomain}}, {{slug}}, {{zone}})")
    from provision import names

    msg = names.check_hostname(sample, allow_idn=True, allow_underscore=False)
    if msg:
        raise _bad(f"{_show(value)} (placeholders filled in: {_show(sample)}): {msg}")
    return value


AliasTemplate = Annotated[str, AfterValidator(_alias_template)]
IsoDate = Annotated[str, AfterValidator(_date)]
Network = Annotated[str, AfterValidator(_network)]
Port = Annotated[int, AfterValidator(_port)]
GitLabUser = Annotated[str, AfterValidator(_username)]
ReservedLabel = Annotated[str, AfterValidator(_reserved_label)]
Line = Annotated[str, AfterValidator(_one_line)]


class Section(BaseModel):
    # Strict: a TOML value of the wrong type is an error ("5" is not a number, "yes" is not
    # a boolean); environment variables are converted to the key's type first (_env_value).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              str_max_length=MAX_VALUE, allow_inf_nan=False)


class General(Section):
    organisation: str = "Dinas Komunikasi dan Informatika Kota Batam"
    organisation_short: str = "Diskominfo Kota Batam"
    government: str = "Pemerintah Kota Batam"
    city: str = "Batam"
    request_id_prefix: str = Field("REQ", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    state_dir: str = ""  # default: /var/lib/kominfo-provision (root, or /etc/kominfo-provision/provision.toml exists)
    timezone: str = "Asia/Jakarta"
    max_attachment_mb: int = Field(50, ge=1, le=4096)  # largest file `request step --attach` stores
    language: Literal["id", "en"] = "id"  # SOP titles, actors and status words on screen

    @field_validator("organisation", "organisation_short", "government", "city")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v.strip() or len(v) > 200:
            raise _bad("must be 1 to 200 characters of text")
        return _one_line(v)

    @field_validator("state_dir")
    @classmethod
    def _dir(cls, v: str) -> str:
        return _path(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        import zoneinfo

        try:
            if not re.match(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*\Z", v):
                raise ValueError(v)
            zoneinfo.ZoneInfo(v)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise _bad(f"{_show(v)} is not a time zone (e.g. Asia/Jakarta)") from None
        return v


class Database(Section):
    url: str = ""  # default: sqlite:///<state_dir>/state.db
    password_file: str = ""  # for a URL without a password
    lock_timeout: float = Field(30.0, ge=0, le=86400)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v:
            _one_line(v)
            if any(c.isspace() for c in v) or not re.match(r"^(sqlite|postgresql(\+[a-z0-9]+)?)://", v):
                raise _bad("must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, without spaces")
        return v

    @field_validator("password_file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _path(v)


class Sop(Section):
    file: str = ""  # replacement for the packaged SOP YAML
    # Working days: Indonesia's public holidays and cuti bersama (the `holidays` package)
    # are not working days; a decree that moves a day is written here.
    national_holidays: bool = True
    holidays_add: list[IsoDate] = []  # more days off (YYYY-MM-DD)
    holidays_remove: list[IsoDate] = []  # days the package lists that the office works
    holidays: list[IsoDate] = []  # the older name of holidays_add (both are read)

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _path(v)


class Names(Section):
    reserved: list[ReservedLabel] | None = None  # None: the packaged default list


class Dns(Section):
    zone: str = ""
    primary: str = "127.0.0.1:53"  # host:port of the primary that takes updates
    tsig_key_file: str = ""  # tsig-keygen output, mode 0600
    verify_servers: list[HostPort] = []  # host:port; empty: the zone's NS set
    timeout: float = Field(5.0, gt=0)
    verify_timeout: float = Field(30.0, gt=0)
    ownership_prefix: str = "_provision-owner"
    allow_private_addresses: bool = False
    cname_suffixes: list[HostName] = []  # CNAME targets outside the zone allowed only under these
    ttl_min: int = Field(60, ge=0)
    ttl_max: int = Field(86400, ge=1)
    max_update_share: float = Field(0.3, ge=0, le=1)
    max_delete_share: float = Field(0.3, ge=0, le=1)
    # `dns apply` needs a passing `provision test` of the commit to be installed, unless
    # --force --reason (the production gate, docs/hosting.md).
    require_passing_test: bool = True

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _hostname(v) if v else v

    @field_validator("primary")
    @classmethod
    def _primary(cls, v: str) -> str:
        return _hostport(v)

    @field_validator("tsig_key_file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _path(v)

    @field_validator("ownership_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.match(r"^_[a-z0-9](?:[a-z0-9-]{0,60}[a-z0-9])?\Z", v):
            raise _bad(f"{_show(v)} must be one underscore label: '_' then a-z, 0-9 and '-'")
        return v


class GitLab(Section):
    url: str = ""
    token_file: str = ""  # or PROVISION_GITLAB_TOKEN
    root_group: str = ""
    ca_bundle: str = ""
    timeout: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=0)
    team: list[GitLabUser] = []  # Kominfo technical team usernames, made maintainers
    deploy_key_file: str = ""  # one public key for every project (empty: each its own, provision/deploy_keys.py)
    variables: dict[str, str] = {}  # extra CI/CD variables (a secret-looking one only from the environment)
    variable_files: dict[str, str] = {}  # NAME -> a 0600 file holding a secret CI/CD variable's value
    # The release pipeline (docs/ci.md): "config_path" sets each project's CI configuration
    # path to `ci_config` (a file in Kominfo's operations project); "trigger" seeds a vendor
    # job that only triggers the operations project's pipeline.
    ci_mode: Literal["config_path", "trigger"] = "config_path"
    ci_config: str = ""  # FILE@GROUP/PROJECT; default install.yml@<root_group>/ops/ci
    release_tags: str = "v*"  # the protected release-tag pattern
    runner_tag: str = "kominfo-provision"  # the tag of the installing runner

    @field_validator("ci_config")
    @classmethod
    def _ci_config(cls, v: str) -> str:
        from provision import names

        if not v:
            return v
        file, at, project = v.partition("@")
        msg = None if at and file and project else "must be FILE@GROUP/PROJECT (e.g. install.yml@pemko-batam/ops/ci)"
        if msg is None and (file.startswith("/") or ".." in file.split("/") or not re.match(r"^[\w./-]+\Z", file)):
            msg = f"the file part {_show(file)} must be a relative path inside the project"
        if msg is None:
            msg = names.check_gitlab_path(project)
        if msg is None and "/" not in project:
            msg = f"{_show(project)} must be a project path (GROUP/PROJECT)"
        if msg:
            raise _bad(msg)
        return v

    @field_validator("release_tags")
    @classmethod
    def _release_tags(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._*/-]{0,99}\Z", v) or v == "*":
            raise _bad(f"{_show(v)} must be a tag name or wildcard such as v* (letters, digits, . _ - / *; not '*' alone)")
        return v

    @field_validator("runner_tag")
    @classmethod
    def _runner_tag(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z", v):
            raise _bad(f"{_show(v)} must be a runner tag (letters, digits, . _ -)")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _url(v, ("https", "http"), "GitLab URL")

    @field_validator("root_group")
    @classmethod
    def _group(cls, v: str) -> str:
        from provision import names

        msg = names.check_gitlab_path(v) if v else None
        if msg:
            raise _bad(msg)
        return v

    @field_validator("token_file", "ca_bundle", "deploy_key_file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _path(v)

    @field_validator("variables")
    @classmethod
    def _variables(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,254}\Z", key):
                raise _bad(f"variable name {_show(key)} must match [A-Za-z_][A-Za-z0-9_]*")
            if _invisible(value):
                # The value is not shown: it may be a secret.
                raise _bad(f"the value of {key} contains a control or invisible character ({_invisible(value)})")
        return v

    @field_validator("variable_files")
    @classmethod
    def _variable_files(cls, v: dict[str, str]) -> dict[str, str]:
        for key, path in v.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,254}\Z", key):
                raise _bad(f"variable name {_show(key)} must match [A-Za-z_][A-Za-z0-9_]*")
            _path(path)
        return v


class Hosting(Section):
    inventory: str = ""  # Ansible inventory (file or directory)
    apps_root: str = "/srv/apps"
    keep_releases: int = Field(5, ge=1)
    tls_source: Literal["acme", "local-ca", "none"] = "acme"
    local_ca_cert: str = ""
    local_ca_key_file: str = ""
    aliases: list[AliasTemplate] = []  # templates: {subdomain} {slug} {zone}
    # Absolute aliases (here and in specs) only under dns.zone or one of these (issue 13).
    alias_suffixes: list[HostName] = []
    ssh_config: str = ""
    known_hosts: str = ""
    forks: int = Field(10, ge=1)
    # Step 14 (install): where the server clones from, with which key, trusting which host key.
    repo_url: str = ""  # template: {root_group} {group} {slug} {opd}, e.g. git@gitlab.example:{root_group}/{group}/{slug}.git
    repo_known_hosts: str = ""  # file with the git server's host key lines (pinned on the server)
    deploy_key_file: str = ""  # the shared key's private half (0600); empty: the project's own key
    secrets_dir: str = ""  # <REQ>.env files (0600) appended to the app's .env; default <state_dir>/secrets
    run_timeout: int = Field(1800, ge=10)  # seconds a playbook run may take
    keep_runs: int = Field(50, ge=1)  # ansible-runner private data dirs kept under <state_dir>/ansible
    strategy: Literal["linear", "free", "mitogen_linear", "mitogen_free"] = "linear"  # see docs/install.md
    # Step 15 (hosting): refuse to start below this much free disk; ACME account and directory.
    min_free_mb: int = Field(100, ge=0)
    # Staging (step 14's trial instance) answers only to these networks (default: loopback and
    # the private ranges of an office network) and, with an htpasswd file (0600), only to its
    # users as well; the production install stops it unless the spec keeps it (docs/install.md).
    staging_allow: list[Network] = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
                                    "192.168.0.0/16", "fc00::/7"]
    staging_auth_file: str = ""
    acme_email: str = ""
    acme_server: str = ""  # empty: certbot's default (Let's Encrypt)
    # ACME (tls_source = "acme"): the challenge (an app's spec may choose its own), the CA
    # certificates certbot trusts for a private directory, external account binding (the
    # HMAC key is a secret: PROVISION_HOSTING_ACME_EAB_HMAC_KEY or acme_eab_hmac_key_file),
    # and for DNS-01 a TSIG key limited to _acme-challenge names, the primary as the web
    # servers reach it (default dns.primary) and how long certbot waits before validation.
    acme_challenge: Literal["http-01", "dns-01"] = "http-01"
    acme_ca_bundle: str = ""
    acme_eab_kid: str = ""
    acme_eab_hmac_key_file: str = ""
    acme_tsig_key_file: str = ""
    acme_dns_server: str = ""
    acme_dns_propagation_seconds: int = Field(60, ge=0, le=3600)

    @field_validator("inventory", "local_ca_cert", "local_ca_key_file", "ssh_config", "known_hosts",
                     "repo_known_hosts", "deploy_key_file", "secrets_dir", "acme_ca_bundle", "staging_auth_file",
                     "acme_eab_hmac_key_file", "acme_tsig_key_file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _path(v)

    @field_validator("apps_root")
    @classmethod
    def _apps_root(cls, v: str) -> str:
        # It goes into nginx and php-fpm configuration files and Ansible variables.
        if not re.match(r"^(/[A-Za-z0-9._-]+)+\Z", v) or ".." in v.split("/"):
            raise _bad(f"{_show(v)} must be an absolute path of letters, digits, '.', '_' and '-', without '..'")
        return v

    @field_validator("repo_url")
    @classmethod
    def _repo_url(cls, v: str) -> str:
        if not v:
            return v
        _one_line(v)
        fields = _format_fields(v, {"root_group", "group", "slug", "opd"})
        sample = v.format(**{f: "x" for f in fields})
        if not re.match(r"^[A-Za-z0-9@:/._~+-]+\Z", sample):
            raise _bad(f"{_show(v)} has characters a git URL does not need (spaces, quotes, ';', '$', ...)")
        if re.match(r"^[a-z][a-z0-9+.-]*://", sample):
            _url(sample, ("ssh", "git", "https", "http"), "git URL")
        elif not re.match(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]", sample):
            raise _bad(f"{_show(v)} must be ssh://, git://, https:// or user@host:path (file:// is refused)")
        return v

    @field_validator("acme_server")
    @classmethod
    def _acme_server(cls, v: str) -> str:
        return _url(v, ("https", "http"), "ACME directory URL")

    @field_validator("acme_dns_server")
    @classmethod
    def _acme_dns_server(cls, v: str) -> str:
        return _hostport(v) if v else v

    @field_validator("acme_eab_kid")
    @classmethod
    def _eab_kid(cls, v: str) -> str:
        if v and not re.match(r"^[A-Za-z0-9_.:-]{1,200}\Z", v):
            raise _bad(f"{_show(v)} is not an EAB key id (letters, digits, '_', '.', ':', '-')")
        return v

    @field_validator("acme_email")
    @classmethod
    def _email(cls, v: str) -> str:
        if v and not re.match(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z", v):
            raise _bad(f"{_show(v)} is not an e-mail address")
        return v


def _nip(value: str) -> str:
    """A civil servant's NIP: 18 digits, written plain or 8-6-1-3 (birth date, appointment
    month, sex, sequence), e.g. 19700101 199001 1 001. Empty: not set."""
    import datetime

    if not value:
        return value
    _one_line(value)
    if not re.match(r"^(\d{18}|\d{8} \d{6} \d \d{3})\Z", value):
        raise _bad(f"{_show(value)} is not a NIP: 18 digits, plain or written 8-6-1-3 (19700101 199001 1 001)")
    digits = value.replace(" ", "")
    try:
        datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        if not 1 <= int(digits[12:14]) <= 12:
            raise ValueError(digits)
    except ValueError:
        raise _bad(f"{_show(value)} is not a NIP: its first 8 digits are a birth date (YYYYMMDD) and "
                   "digits 9-14 a month of appointment (YYYYMM)") from None
    if digits[14] not in "12":
        raise _bad(f"{_show(value)} is not a NIP: digit 15 is 1 or 2")
    return value


Nip = Annotated[str, AfterValidator(_nip)]


class Signatory(Section):
    """One person who signs a letter (docs/reports.md): the signature block shows the
    jabatan (title), the full name, the pangkat/golongan (rank) and the NIP."""

    title: Line = Field(min_length=1, max_length=300)  # jabatan
    name: Line = Field(min_length=1, max_length=300)
    rank: Line = Field("", max_length=100)  # pangkat/golongan, e.g. "Pembina Utama Muda (IV/c)"
    nip: Nip = ""


class Reports(Section):
    # ---- official letters (provision/reports; docs/reports.md) -------------------------
    output_dir: str = ""  # default: <state_dir>/reports
    # The kop surat: the emblem at the left, these lines centered (government, agency),
    # then the address line and the contact line, and a double rule.
    letterhead: list[Line] = ["PEMERINTAH KOTA BATAM", "DINAS KOMUNIKASI DAN INFORMATIKA"]
    emblem: str = ""  # an image file (PNG, JPEG or SVG): the regional emblem
    address: str = ""
    telephone: Line = Field("", max_length=100)
    website: Line = Field("", max_length=200)
    email: str = ""
    postal_code: Line = Field("", max_length=10)
    # The head of the agency: signs the Surat Rekomendasi, acknowledges ("Mengetahui") the Berita Acara.
    signatory_name: str = ""
    signatory_title: str = "Kepala Dinas Komunikasi dan Informatika"
    signatory_rank: str = ""  # pangkat/golongan
    signatory_nip: Nip = ""
    # Signers of the Berita Acara when the request's steps 2 and 3 name nobody.
    technical_kominfo: list[Signatory] = []
    technical_opd: list[Signatory] = []
    tembusan: list[Line] = []  # copies to, in order; the letters add "Arsip" last
    number_format: str = "{seq}/{kind}/Kominfo-PE/{month_roman}/{year}"
    pdf_variant: Literal["pdf/a-2b", "pdf/a-3b", "none"] = "pdf/a-2b"
    # Electronic signature (TTE, PAdES): a PKCS#12 file; its password from
    # PROVISION_REPORTS_SIGN_PASSWORD or sign_password_file (0600).
    sign_pkcs12: str = ""
    sign_password_file: str = ""
    sign_trust_roots: list[str] = []  # CA certificates (PEM) `report verify` trusts
    sign_reason: Line = Field("Dokumen ini ditandatangani secara elektronik", max_length=200)

    @field_validator("output_dir", "emblem", "sign_pkcs12", "sign_password_file")
    @classmethod
    def _dir(cls, v: str) -> str:
        return _path(v)

    @field_validator("sign_trust_roots")
    @classmethod
    def _roots(cls, v: list[str]) -> list[str]:
        for p in v:
            _path(p)
        return v

    @field_validator("address", "signatory_name", "signatory_title", "signatory_rank")
    @classmethod
    def _text(cls, v: str) -> str:
        if len(v) > 300:
            raise _bad("is longer than 300 characters")
        return _one_line(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        _one_line(v)
        if v and not re.match(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z", v):
            raise _bad(f"{_show(v)} is not an e-mail address")
        return v

    @field_validator("letterhead", "tembusan")
    @classmethod
    def _letterhead(cls, v: list[str]) -> list[str]:
        if len(v) > 6:
            raise _bad("has more than 6 lines")
        for i, line in enumerate(v):
            if len(line) > 200:
                raise _bad(f"[{i}] is longer than 200 characters")
            _one_line(line)
        return v

    @field_validator("number_format")
    @classmethod
    def _number_format(cls, v: str) -> str:
        _one_line(v)
        if len(v) > 200 or "seq" not in _format_fields(v, {"seq", "kind", "month_roman", "month", "year", "request"}):
            raise _bad(f"{_show(v)} must contain {{seq}} and be at most 200 characters")
        return v


class Checks(Section):
    concurrency: int = Field(32, ge=1)
    timeout: float = Field(10.0, gt=0)
    tls_warn_days: int = Field(30, ge=0)
    tls_fail_days: int = Field(7, ge=0)
    # The only addresses a check connects to (HTTP, TLS, and the probes of A/AAAA records).
    probe_networks: list[Network] = ["127.0.0.0/8", "::1/128"]
    probe_ports: list[Port] = [80, 443]  # an A/AAAA record "answers" when one of these accepts TCP
    probe_timeout: float = Field(1.0, gt=0)
    connect_to: dict[str, str] = {}  # "name:port" -> "address:port" (like curl --connect-to)
    ca_bundle: str = ""  # CA certificates the TLS check trusts (default: the system's)
    resolvers: list[HostPort] = []  # host:port servers that may resolve CNAME targets outside the zone
    disk_warn_percent: int = Field(80, ge=1, le=100)
    disk_fail_percent: int = Field(90, ge=1, le=100)
    keep_days: int = Field(365, ge=1)  # stored results older than this are deleted at each run

    @field_validator("connect_to")
    @classmethod
    def _connect_to(cls, v: dict[str, str]) -> dict[str, str]:
        for name, target in v.items():
            _hostport(name)
            _hostport(target)
        return v

    @field_validator("ca_bundle")
    @classmethod
    def _file(cls, v: str) -> str:
        return _path(v)


class Notify(Section):
    # The apprise URLs are a secret (they hold the services' credentials): PROVISION_NOTIFY_URLS
    # or this 0600 file, one URL a line (docs/operations.md, "Notifications").
    urls_file: str = ""
    language: Literal["id", "en"] = "id"

    @field_validator("urls_file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _path(v)


class Settings(Section):
    general: General = General()
    database: Database = Database()
    sop: Sop = Sop()
    names: Names = Names()
    dns: Dns = Dns()
    gitlab: GitLab = GitLab()
    hosting: Hosting = Hosting()
    reports: Reports = Reports()
    checks: Checks = Checks()
    notify: Notify = Notify()


# Secrets: (section, name) -> the environment variable. The `<name>_file` key is the
# other way in. None of them may appear in the TOML file itself.
SECRETS: dict[tuple[str, str], str] = {
    ("gitlab", "token"): "PROVISION_GITLAB_TOKEN",
    ("database", "password"): "PROVISION_DATABASE_PASSWORD",
    ("notify", "urls"): "PROVISION_NOTIFY_URLS",
    ("reports", "sign_password"): "PROVISION_REPORTS_SIGN_PASSWORD",
    ("hosting", "acme_eab_hmac_key"): "PROVISION_HOSTING_ACME_EAB_HMAC_KEY",
}


@dataclass
class Config:
    """The effective configuration, where each value came from, and the secrets."""

    settings: Settings
    sources: dict[str, str]  # "dns.zone" -> "default" | "file:/etc/..." | "env:PROVISION_DNS_ZONE"
    file: Path | None
    _secrets: dict[str, str | None] = field(default_factory=dict, repr=False)
    # Only from load_config(lenient=True): the problems found while loading, and the keys
    # that were set but refused (their defaults are in `settings`).
    problems: list[Problem] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)

    def __getattr__(self, name: str) -> Any:
        # Config.dns, Config.gitlab... read through to the settings sections.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.settings, name)

    @property
    def state_dir(self) -> Path:
        if self.settings.general.state_dir:
            return Path(self.settings.general.state_dir).expanduser()
        # Root, and every user of a host with /etc/kominfo-provision/provision.toml (the
        # nightly check's service user, operators running as themselves), share one state:
        # a per-user default there would let a check read an empty store and pass.
        if os.geteuid() == 0 or SYSTEM_CONFIG.is_file():
            return SYSTEM_STATE_DIR
        from platformdirs import user_data_dir

        return Path(user_data_dir("kominfo-provision"))

    @property
    def database_url(self) -> str:
        return self.settings.database.url or f"sqlite:///{self.state_dir / 'state.db'}"

    def secret(self, section: str, name: str) -> str | None:
        """The secret's value from its variable or its `_file`; None when not set.

        Raises SecretError for a file that is missing or readable by others.
        """
        key = f"{section}.{name}"
        if key not in self._secrets:
            value = secret_from_env(SECRETS[(section, name)])
            path = os.environ.get(SECRETS[(section, name)] + "_FILE") or getattr(
                getattr(self.settings, section), f"{name}_file", "")
            if value is None and path:
                value = read_secret_file(path, f"{key} (from {path})")
            self._secrets[key] = value
        return self._secrets[key]

    def register_secrets(self, request_id: str | None = None) -> None:
        """Register every configured secret with the redactor: the secret variables and
        their files, the TSIG key, the private keys, the secret CI/CD variables and the
        request's own secrets file. Called before a command writes anything (its run row
        first), so a secret pasted into a note or an argument is masked wherever it goes.
        Never raises: the command that uses a secret checks it and reports."""
        for (section, name), var in SECRETS.items():
            REDACTOR.add(os.environ.get(var))
            path = os.environ.get(var + "_FILE") or getattr(getattr(self.settings, section), f"{name}_file", "")
            if path:
                remember_file(path)
        s = self.settings
        for path in (s.dns.tsig_key_file, s.hosting.deploy_key_file, s.hosting.local_ca_key_file):
            if path:
                remember_file(path, lines=True)
        for key, value in s.gitlab.variables.items():
            if looks_secret(key):
                REDACTOR.add(value)
        for path in s.gitlab.variable_files.values():
            remember_file(path)
        if request_id:
            base = Path(s.hosting.secrets_dir).expanduser() if s.hosting.secrets_dir else self.state_dir / "secrets"
            remember_file(base / f"{request_id}.env", env=True)

    def flat(self, redact: bool = True) -> list[tuple[str, Any, str]]:
        """(key, value, source) for every key, secrets masked (inside lists and tables too)."""
        rows: list[tuple[str, Any, str]] = []
        for sname, section in self.settings:
            for key, value in section:
                dotted = f"{sname}.{key}"
                if redact and key != "variable_files":  # names -> file paths: nothing secret
                    value = _redacted(key, value)
                rows.append((dotted, value, self.sources.get(dotted, "default")))
        for (sname, name), var in SECRETS.items():
            source = "env:" + var if os.environ.get(var) else (
                "file" if getattr(getattr(self.settings, sname), f"{name}_file", "") else "unset")
            rows.append((f"{sname}.{name}", MASK if source != "unset" else None, source))
        rows.sort(key=lambda r: r[0])
        return rows


def _redacted(key: str, value: Any) -> Any:
    """A configuration value as shown: the value of a secret-looking name masked, at any
    depth, and every known secret or URL password masked in the rest."""
    if isinstance(value, dict):
        return {k: (MASK if looks_secret(str(k)) and v not in (None, "") else _redacted(str(k), v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(key, v) for v in value]
    if isinstance(value, str):
        return MASK if value and looks_secret(key) else REDACTOR.text(value)
    return value


def check_config_file(p: Path, how: str) -> None:
    """A configuration file is read only when it is a regular file owned by this user or
    root and writable by nobody else (as git's safe.directory, and as secret files): a file
    planted in a shared directory would otherwise choose the ssh_config, the inventory or
    the database. Raises ConfigError with the chown/chmod to run."""
    try:
        st = p.stat()
    except OSError as e:
        raise ConfigError(f"{how}: cannot read the configuration file {p}: {e.strerror}.") from None
    import stat as stat_mod

    if not stat_mod.S_ISREG(st.st_mode):
        raise ConfigError(f"{how}: the configuration file {p} is not a regular file.")
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        import pwd

        try:
            name = pwd.getpwuid(me).pw_name
        except KeyError:
            name = str(me)
        raise ConfigError(f"{how}: the configuration file {p} belongs to another user (uid {st.st_uid}): "
                          "it is not read.",
                          f"If it is yours, run: chown {name} {p} (else remove it, or pass --config).")
    if st.st_mode & 0o022:
        raise ConfigError(f"{how}: the configuration file {p} is writable by group or others "
                          f"(mode {stat_mod.S_IMODE(st.st_mode):04o}): it is not read.",
                          f"Run: chmod go-w {p}")


def find_config_file(explicit: str | None) -> Path | None:
    """The first configuration file in the search order, or None (defaults only)."""
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError(f"--config: the file {p} does not exist.")
        check_config_file(p, "--config")
        return p
    env = os.environ.get("PROVISION_CONFIG")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise ConfigError(f"PROVISION_CONFIG: the file {p} does not exist.",
                              "Unset it or point it at the configuration file.")
        check_config_file(p, "PROVISION_CONFIG")
        return p
    from platformdirs import user_config_dir

    for p in (Path.cwd() / "provision.toml",
              Path(user_config_dir("kominfo-provision")) / "provision.toml", SYSTEM_CONFIG):
        if p.is_file():
            check_config_file(p, "configuration search")
            return p
    return None


def _env_value(raw: str, annotation: Any) -> Any:
    """Turn a PROVISION_* string into the field's type: lists and dicts as JSON or comma
    lists, numbers and booleans from their text. A string that is not of the type is
    returned as it is, for validation to name the key."""
    text = str(annotation)
    if "list" in text:
        raw = raw.strip()
        if raw.startswith("["):
            return json.loads(raw)
        items: list[Any] = [p.strip() for p in raw.split(",") if p.strip()]
        if "int" in text:
            items = [int(p) if re.match(r"^-?\d{1,18}\Z", p) else p for p in items]
        return items
    if "dict" in text:
        return json.loads(raw)
    if annotation is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
    if annotation is int and re.match(r"^\s*[-+]?\d{1,18}\s*\Z", raw):
        return int(raw)
    if annotation is float and re.match(r"^\s*[-+]?(\d{1,18}(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?\s*\Z", raw):
        return float(raw)
    return raw


def _loc(parts: tuple[Any, ...]) -> str:
    """('sop', 'holidays', 0) -> 'sop.holidays[0]'."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _outside_aliases(s: Settings) -> list[Problem]:
    """An absolute alias template must name a host under dns.zone or hosting.alias_suffixes:
    a site (and an ACME order) for any outside domain is refused."""
    zone = s.dns.zone.rstrip(".").lower()
    suffixes = [x for x in [zone, *(a.rstrip(".").lower() for a in s.hosting.alias_suffixes)] if x]
    problems = []
    for i, tmpl in enumerate(s.hosting.aliases):
        if not tmpl.endswith(".") or tmpl.endswith(".{zone}."):
            continue  # relative, or absolute under the zone: under the zone either way
        name = tmpl.replace("{subdomain}", "app").replace("{slug}", "app").replace("{zone}", zone or "zone.invalid")
        name = name.rstrip(".").lower()
        if not any(name == x or name.endswith("." + x) for x in suffixes):
            problems.append(Problem(f"hosting.aliases[{i}]", f"{_show(tmpl)} is an absolute name outside dns.zone "
                                    "and hosting.alias_suffixes: add its domain to hosting.alias_suffixes, or make "
                                    "it relative to the zone"))
    return problems


#: PROVISION_* variables that are not settings (PROVISION_SECTION_KEY) nor secrets: read by
#: the CLI or by one command.
OTHER_VARIABLES = frozenset({
    "PROVISION_CONFIG", "PROVISION_ACTOR", "PROVISION_REQUEST", "PROVISION_TODAY", "PROVISION_AUDIT_KEY_FILE",
    "PROVISION_SYSLOG_ADDRESS", "PROVISION_COPY_TO_URL", "PROVISION_COPY_TO_PASSWORD",
    "PROVISION_COPY_TO_PASSWORD_FILE", "PROVISION_PLAYBOOK_PARENT", "PROVISION_NIGHTLY_CHECK"})


def known_variables() -> set[str]:
    """Every PROVISION_* variable the toolkit reads."""
    names = {f"{ENV_PREFIX}{sname.upper()}_{key.upper()}"
             for sname, model in Settings.model_fields.items()
             for key in model.annotation.model_fields}  # type: ignore[union-attr]
    names |= {v for var in SECRETS.values() for v in (var, var + "_FILE")}
    return names | OTHER_VARIABLES


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each PROVISION_* variable the toolkit does not read (a misspelt one is
    otherwise ignored silently), naming the closest known variable."""
    import difflib

    known = known_variables()
    out = []
    for var in sorted(v for v in environ if v.startswith(ENV_PREFIX) and v not in known):
        close = difflib.get_close_matches(var, known, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else "."
        out.append(f"{var} is not a setting of kominfo-provision and is ignored{hint}")
    return out


def load_config(explicit: str | None = None, environ: dict[str, str] | None = None,
                lenient: bool = False) -> Config:
    """Load and validate the configuration. Raises ValidationError with every problem.

    With `lenient` (for `config check`, which reports every problem at once), keys with
    bad values are reported in `Config.problems` and left at their defaults instead."""
    env = os.environ if environ is None else environ
    path = find_config_file(explicit)
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[Problem] = []
    if path:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ConfigError(f"configuration file {path} is {size} bytes; the limit is {MAX_FILE_BYTES} "
                                  "(a configuration file is a few KiB).")
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"configuration file {path} is not valid TOML: {e}.") from e
        except RecursionError:
            raise ConfigError(f"configuration file {path} is not valid TOML: nested too deeply.") from None
        except OSError as e:
            raise ConfigError(f"cannot read the configuration file {path}: {e.strerror}.") from e
        for sname, section in data.items():
            if isinstance(section, dict):
                for key in section:
                    sources[f"{sname}.{key}"] = f"file:{path}"
                    if (sname, key) in SECRETS:
                        problems.append(Problem(
                            f"{sname}.{key}", "secrets are not read from the configuration file: "
                            f"set {SECRETS[(sname, key)]} or {sname}.{key}_file (mode 0600)"))
        for sname, key in SECRETS:
            if isinstance(data.get(sname), dict):
                data[sname].pop(key, None)
        variables = data.get("gitlab", {}).get("variables") if isinstance(data.get("gitlab"), dict) else None
        if isinstance(variables, dict):
            for name in [n for n in variables if looks_secret(str(n))]:
                variables.pop(name)  # never stored, shown or echoed
                problems.append(Problem(
                    f"gitlab.variables.{name}", "looks like a secret: secrets are not read from the configuration "
                    f"file; name a 0600 file in gitlab.variable_files.{name}, or set PROVISION_GITLAB_VARIABLES"))
        url = data.get("database", {}).get("url", "") if isinstance(data.get("database"), dict) else ""
        if isinstance(url, str) and REDACTOR._URL_PASSWORD.search(url):
            problems.append(Problem("database.url", "a password in the URL is a secret: put the URL "
                                    "in PROVISION_DATABASE_URL or the password in database.password_file"))
    secret_vars = set(SECRETS.values())
    for var in secret_vars:
        # Known before anything runs, so a value pasted anywhere by mistake is masked.
        REDACTOR.add(env.get(var))
    for sname, model in Settings.model_fields.items():
        section_cls = model.annotation
        for key, finfo in section_cls.model_fields.items():  # type: ignore[union-attr]
            var = f"{ENV_PREFIX}{sname.upper()}_{key.upper()}"
            if var in env and var not in secret_vars:
                if len(env[var]) > MAX_VALUE * 4:
                    problems.append(Problem(f"{sname}.{key}", f"{var} is {len(env[var])} characters long; "
                                            f"the limit is {MAX_VALUE * 4}"))
                    continue
                try:
                    value = _env_value(env[var], finfo.annotation)
                except (json.JSONDecodeError, RecursionError) as e:
                    msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
                    problems.append(Problem(f"{sname}.{key}", f"{var} is not valid JSON: {msg}"))
                    continue
                data.setdefault(sname, {})
                if isinstance(data[sname], dict):
                    data[sname][key] = value
                sources[f"{sname}.{key}"] = f"env:{var}"
    if "PROVISION_DATABASE_URL" in env:
        REDACTOR.text(env["PROVISION_DATABASE_URL"])  # keep the URL's password out of logs
        m = REDACTOR._URL_PASSWORD.search(env["PROVISION_DATABASE_URL"])
        if m:
            REDACTOR.add(m.group("pw"))
    rejected: set[str] = set()
    settings: Settings | None = None
    for _ in range(3 if lenient else 1):
        try:
            settings = Settings.model_validate(data)
            break
        except PydanticError as e:
            errors = e.errors()
        for err in errors:
            loc = _loc(err["loc"])
            origin = sources.get(".".join(str(p) for p in err["loc"][:2]), "")
            where = f" (from {origin})" if origin else ""
            msg = err["msg"].replace("Extra inputs are not permitted", "unknown key")
            if (err["type"] != "provision_config" and "input" in err and isinstance(err["input"], (str, int, float))
                    and tuple(err["loc"][:2]) not in (("gitlab", "variables"), ("gitlab", "variable_files"))):
                msg += f", got {type(err['input']).__name__} {_show(str(err['input']))}"
            problems.append(Problem(loc, REDACTOR.text(msg) + where))
            bad_section, bad_key = (list(map(str, err["loc"])) + ["", ""])[:2]
            if isinstance(data.get(bad_section), dict) and bad_key in data[bad_section]:
                data[bad_section].pop(bad_key)
                rejected.add(f"{bad_section}.{bad_key}")
            elif bad_section and bad_section in data:
                data.pop(bad_section)
                rejected.add(str(bad_section))
    if settings is not None:
        problems += _outside_aliases(settings)
    if lenient and settings is not None:
        return Config(settings=settings, sources=sources, file=path, problems=problems, rejected=rejected)
    if problems or settings is None:
        raise ValidationError(problems, "configuration")
    return Config(settings=settings, sources=sources, file=path)


def check_config(config: Config) -> list[Problem]:
    """Every problem with a loaded configuration that loading alone does not catch."""
    problems: list[Problem] = list(config.problems)
    s = config.settings
    for (sname, name) in SECRETS:
        try:
            config.secret(sname, name)
        except SecretError as e:
            problems.append(Problem(f"{sname}.{name}", str(e)))
    if s.dns.zone or s.dns.tsig_key_file or "dns.zone" in config.rejected:
        if not s.dns.zone and "dns.zone" not in config.rejected:
            problems.append(Problem("dns.zone", "a TSIG key is set but no zone"))
        if not s.dns.tsig_key_file:
            problems.append(Problem("dns.tsig_key_file", "the zone needs a TSIG key file"))
        else:
            try:
                from provision.dns.transport import load_keyring

                load_keyring(s.dns.tsig_key_file)  # mode, format, algorithm and secret length
            except ConfigError as e:
                problems.append(Problem("dns.tsig_key_file", str(e)))
    if s.dns.ttl_min > s.dns.ttl_max:
        problems.append(Problem("dns.ttl_min", "is greater than dns.ttl_max"))
    if (s.gitlab.url or "gitlab.url" in config.rejected) and not s.gitlab.root_group:
        problems.append(Problem("gitlab.root_group", "is required when gitlab.url is set"))
    problems += _check_acme(config)
    if s.checks.tls_fail_days > s.checks.tls_warn_days:
        problems.append(Problem("checks.tls_fail_days", "is greater than checks.tls_warn_days"))
    if s.hosting.inventory and not s.hosting.known_hosts:
        problems.append(Problem("hosting.known_hosts", "is required when hosting.inventory is set: SSH connections "
                                "accept only these pinned host keys (never ~/.ssh/known_hosts)"))
    for name, path in s.gitlab.variable_files.items():
        try:
            read_secret_file(path, f"gitlab.variable_files.{name}")
        except SecretError as e:
            problems.append(Problem(f"gitlab.variable_files.{name}", str(e)))
    for key in ("sop.file", "hosting.inventory", "hosting.known_hosts", "gitlab.deploy_key_file", "gitlab.ca_bundle"):
        sname, name = key.split(".")
        value = getattr(getattr(s, sname), name)
        if value and not Path(value).expanduser().exists():
            problems.append(Problem(key, f"{value} does not exist"))
    return problems


def _check_acme(config: Config) -> list[Problem]:
    """The ACME settings are complete: EAB in pairs, DNS-01 with its key and server, files present."""
    h = config.settings.hosting
    if h.tls_source != "acme":
        return []
    from provision.secrets import check_secret_file

    problems: list[Problem] = []
    try:
        hmac = config.secret("hosting", "acme_eab_hmac_key")
    except SecretError:
        hmac = None  # reported with the other secrets
    if h.acme_eab_kid and not hmac and not h.acme_eab_hmac_key_file:
        problems.append(Problem("hosting.acme_eab_hmac_key_file", "acme_eab_kid is set: the CA also needs its HMAC key "
                                "(PROVISION_HOSTING_ACME_EAB_HMAC_KEY or acme_eab_hmac_key_file, mode 0600)"))
    if (hmac or h.acme_eab_hmac_key_file) and not h.acme_eab_kid:
        problems.append(Problem("hosting.acme_eab_kid", "an EAB HMAC key is set but not its key id"))
    if h.acme_eab_kid and not h.acme_server:
        problems.append(Problem("hosting.acme_server", "external account binding needs the CA's directory URL"))
    if h.acme_ca_bundle and not Path(h.acme_ca_bundle).expanduser().is_file():
        problems.append(Problem("hosting.acme_ca_bundle", f"{h.acme_ca_bundle} does not exist"))
    if h.acme_tsig_key_file:
        try:
            check_secret_file(Path(h.acme_tsig_key_file).expanduser(), "hosting.acme_tsig_key_file")
        except SecretError as e:
            problems.append(Problem("hosting.acme_tsig_key_file", str(e)))
    elif h.acme_challenge == "dns-01":
        problems.append(Problem("hosting.acme_tsig_key_file", "acme_challenge is dns-01: set the TSIG key "
                                "limited to _acme-challenge names (docs/hosting.md)"))
    return problems


# ---- command groups: which keys each needs (config check, doctor) ---------------------------

@dataclass
class GroupStatus:
    group: str  # install, hosting, dns, repo, check
    state: str  # "configured" | "not configured" (none of its keys set) | "partial" (some set)
    missing: list[str]


def _group_keys(config: Config) -> dict[str, list[tuple[str, bool]]]:
    """Each command group's required keys, with whether each is set."""
    s = config.settings
    try:
        token = bool(config.secret("gitlab", "token"))
    except SecretError:
        token = False
    tls = []
    if s.hosting.tls_source == "local-ca":
        tls = [("hosting.local_ca_cert", bool(s.hosting.local_ca_cert)),
               ("hosting.local_ca_key_file", bool(s.hosting.local_ca_key_file))]
    return {
        "repo": [("gitlab.url", bool(s.gitlab.url)), ("gitlab.root_group", bool(s.gitlab.root_group)),
                 ("gitlab.token", token)],
        "dns": [("dns.zone", bool(s.dns.zone)), ("dns.tsig_key_file", bool(s.dns.tsig_key_file))],
        "install": [("hosting.inventory", bool(s.hosting.inventory)), ("hosting.known_hosts", bool(s.hosting.known_hosts)),
                    ("hosting.repo_url", bool(s.hosting.repo_url)),
                    ("hosting.repo_known_hosts", bool(s.hosting.repo_known_hosts))],
        "hosting": [("hosting.inventory", bool(s.hosting.inventory)), ("hosting.known_hosts", bool(s.hosting.known_hosts)),
                    ("dns.zone", bool(s.dns.zone)), *tls],
        "check": [],  # checks what the state store holds; nothing of its own is required
    }


def group_status(config: Config) -> list[GroupStatus]:
    """Per command group: configured, not configured (no key of its own set) or partial.

    A group with none of its keys set is simply not in use (not an error); a group with
    some keys set and others missing is an error naming the missing keys. A secret alone
    (PROVISION_GITLAB_TOKEN set for the whole machine or job) does not put a group in use."""
    out = []
    for group, keys in _group_keys(config).items():
        missing = [k for k, ok in keys if not ok]
        plain = [k for k, _ in keys if k != "gitlab.token"]
        if not missing:
            out.append(GroupStatus(group, "configured", []))
        elif all(k in missing for k in plain):
            out.append(GroupStatus(group, "not configured", missing))
        else:
            out.append(GroupStatus(group, "partial", missing))
    return out
