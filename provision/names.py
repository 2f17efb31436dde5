"""Name rules: DNS labels and host names (RFC 1035/1123, IDNA 2008), slugs, GitLab
user names and group paths, git branch names.

Every `check_*` function returns a problem message (a whole sentence fragment naming
what is wrong and how to fix it) or `None` when the name is fine. They never raise on bad
input. `to_ascii` converts a checked name to its ASCII (A-label) form.

Internationalised names: converted with the `idna` package (IDNA 2008, not the
IDNA 2003 codec in the standard library). Refused before conversion: invisible and
control characters, text that Unicode compatibility normalisation (NFKC) or case
folding would change (full-width letters, ligatures, upper case), labels that mix
scripts, and labels written wholly in Cyrillic or Greek letters that look like Latin
ones (a whole-script look-alike of an ASCII name, e.g. Cyrillic "шоо"/"аре").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import idna

__all__ = [
    "DEFAULT_RESERVED",
    "SYSTEM_NAMES",
    "DEPLOY_USER",
    "DEPLOY_HOME",
    "MAX_NAME",
    "MAX_LABEL",
    "MAX_SLUG",
    "check_branch_name",
    "check_gitlab_path",
    "check_gitlab_username",
    "check_hostname",
    "check_label",
    "check_reserved",
    "check_slug",
    "to_ascii",
]

MAX_LABEL = 63
MAX_NAME = 253
MAX_SLUG = 32

#: Labels directly under the zone that no application may claim: mail and name service,
#: well-known service names, autodiscovery names that clients query on their own (a
#: squatter on `wpad` or `autodiscover` gets traffic it should not), names that imply
#: authority, and the attribute-leaf labels of RFC 8552 used by email authentication and
#: ACME. Configuration replaces this list; `check_reserved` takes it as a parameter.
DEFAULT_RESERVED: frozenset[str] = frozenset(
    {
        "www", "mail", "webmail", "email", "smtp", "imap", "pop", "pop3", "mx", "ns", "ns1",
        "ns2", "ns3", "ns4", "dns", "ftp", "sftp", "autodiscover", "autoconfig", "wpad",
        "isatap", "admin", "administrator", "root", "hostmaster", "postmaster", "webmaster",
        "abuse", "security", "api", "cpanel", "whm", "webdisk", "plesk", "localhost", "vpn",
        "proxy", "gateway", "gitlab", "git", "sso", "login", "auth", "intranet", "cdn",
        "_dmarc", "_domainkey", "_acme-challenge", "_mta-sts", "mta-sts", "_smtp._tls",
    }
)  # fmt: skip

#: Names an application slug can never take, whatever the configuration says: the slug
#: becomes a Unix user, a database and a database user on the hosting server, and these
#: are system accounts or database names there (Debian, MariaDB, PostgreSQL).
SYSTEM_NAMES: frozenset[str] = frozenset(
    {
        "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
        "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "messagebus",
        "sshd", "nginx", "apache", "mysql", "mariadb", "postgres", "postgresql", "redis",
        "ansible", "provision", "admin", "operator", "staff", "users", "adm", "sudo",
        "template0", "template1", "information-schema", "performance-schema",
        "kominfo-deploy",
    }
)  # fmt: skip

#: The hosting server's deploy identity: owns every application's code and releases and
#: holds the per-project deploy keys in its home; no application runs as it.
DEPLOY_USER = "kominfo-deploy"
DEPLOY_HOME = "/var/lib/kominfo-deploy"

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_UNDERSCORE_LABEL = re.compile(r"^_[a-z0-9](?:[a-z0-9-]{0,60}[a-z0-9])?\Z")
_SLUG = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]\Z")
_GITLAB_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_GITLAB_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")

# Letters of other scripts that render like Latin letters or digits in common fonts.
_LATIN_LOOKALIKES = frozenset(
    "аеорсухіјѕԁԛԝһкмнтвъьɡ"  # Cyrillic (lower case; input is already case-folded)
    "αεικνορτυχωϲ"  # Greek
)


def _show(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"


def _script(ch: str) -> str:
    """A coarse script name from the character's Unicode name (the stdlib has no
    Script property): 'LATIN', 'CYRILLIC', 'GREEK', 'CJK', ... or 'COMMON'."""
    if not unicodedata.category(ch).startswith("L"):
        return "COMMON"  # digits, '-', combining marks, symbols (IDNA judges symbols)
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def _check_unicode_label(label: str) -> str | None:
    for ch in label:
        cat = unicodedata.category(ch)
        if cat[0] in "CZ" or ch in "\u00ad\u034f\u180e\u2060\ufeff":
            return f"contains an invisible or control character {_show(ch)}: retype the name"
    if unicodedata.normalize("NFKC", label).casefold() != label:
        fixed = unicodedata.normalize("NFKC", label).casefold()
        return f"is not in normal form (upper case, full-width or compatibility characters): write {fixed!r}"
    scripts = {_script(ch) for ch in label} - {"COMMON"}
    if len(scripts) > 1:
        return f"mixes scripts ({', '.join(sorted(scripts))}): a look-alike risk, use one script"
    letters = [ch for ch in label if not ch.isascii()]
    if scripts & {"CYRILLIC", "GREEK"} and all(ch in _LATIN_LOOKALIKES for ch in letters):
        return "is written in letters that look like Latin ones: a look-alike of an ASCII name is refused"
    return None


def check_label(label: str, *, allow_idn: bool = True, allow_underscore: bool = False) -> str | None:
    """One DNS label: 1-63 of a-z, 0-9 and '-', no '-' at either end, no '--' in
    positions 3-4 unless it is a valid IDNA A-label ('xn--'). With `allow_idn`, a
    Unicode label is accepted if it converts under IDNA 2008 and passes the look-alike
    rules; with `allow_underscore`, an RFC 8552 attribute leaf such as `_dmarc`."""
    if not isinstance(label, str):
        return "must be a string"
    if label == "":
        return "has an empty label (two dots in a row, or a dot at an end)"
    if not label.isascii():
        if not allow_idn:
            return f"label {label!r} is not ASCII: internationalised names are not allowed here"
        msg = _check_unicode_label(label)
        if msg:
            return f"label {label!r} {msg}"
        try:
            alabel = idna.encode(label).decode("ascii")
        except (idna.IDNAError, UnicodeError) as e:
            return f"label {label!r} is not a valid internationalised name (IDNA 2008): {e}"
        return check_label(alabel)
    if allow_underscore and label.startswith("_"):
        return None if _UNDERSCORE_LABEL.match(label) else f"label {label!r} is not a valid underscore label"
    if len(label) > MAX_LABEL:
        return f"label {label[:20]!r}... is {len(label)} characters long; the limit is {MAX_LABEL}"
    if label != label.lower():
        return f"label {label!r} has upper-case letters: write {label.lower()!r}"
    if not _LABEL.match(label):
        bad = sorted({c for c in label if not (c.isalnum() or c == "-")})
        if bad:
            return f"label {label!r} has characters other than a-z, 0-9 and '-': {''.join(bad)!r}"
        return f"label {label!r} starts or ends with '-'"
    if label[2:4] == "--":
        if not label.startswith("xn--"):
            return f"label {label!r} has '--' in positions 3-4, which is reserved for encoded names (RFC 5891)"
        if not allow_idn:
            return f"label {label!r} is an encoded internationalised name, which is not allowed here"
        try:
            ulabel = idna.decode(label)
            if idna.encode(ulabel).decode("ascii") != label:
                raise idna.IDNAError("does not round-trip")
        except (idna.IDNAError, UnicodeError) as e:
            return f"label {label!r} is not a valid IDNA A-label: {e}"
        msg = _check_unicode_label(ulabel)
        if msg:
            return f"label {label!r} ({ulabel}) {msg}"
    return None


def check_hostname(name: str, *, allow_idn: bool = True, allow_underscore: bool = False) -> str | None:
    """A host name of one or more labels (relative, or absolute with a final dot).
    Total length of the ASCII form at most 253 characters."""
    if not isinstance(name, str):
        return "must be a string"
    if name in ("", "."):
        return "is empty"
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    for label in labels:
        msg = check_label(label, allow_idn=allow_idn, allow_underscore=allow_underscore)
        if msg:
            return msg
    ascii_len = len(".".join(to_ascii(label) for label in labels))
    if ascii_len > MAX_NAME:
        return f"is {ascii_len} characters long; a DNS name is at most {MAX_NAME}"
    return None


def to_ascii(name: str) -> str:
    """The ASCII (A-label) form of a name that passed `check_hostname`.
    Raises ValueError for one that does not convert."""
    absolute = name.endswith(".")
    labels = name[:-1].split(".") if absolute else name.split(".")
    out = []
    for label in labels:
        if label.isascii():
            out.append(label)
        else:
            try:
                out.append(idna.encode(label).decode("ascii"))
            except (idna.IDNAError, UnicodeError) as e:
                raise ValueError(f"{name!r} is not a valid internationalised name: {e}") from e
    return ".".join(out) + ("." if absolute else "")


def check_reserved(label: str, reserved: Iterable[str] = DEFAULT_RESERVED) -> str | None:
    """Refuse a label (compared in ASCII, lower case) that is on the reserved list."""
    reserved_set = {r.lower() for r in reserved}
    if label.lower() in reserved_set:
        return f"{label!r} is reserved (it is on the configured list of reserved names)"
    return None


def check_slug(slug: str, *, reserved: Iterable[str] = DEFAULT_RESERVED) -> str | None:
    """An application slug: also a DNS label, a Unix user name, a path component and (with
    '-' mapped to '_') a database and database-user name. 2-32 characters: a lower-case
    ASCII letter first, then lower-case letters, digits and single hyphens, not ending
    in a hyphen. Not a system name (`SYSTEM_NAMES`) nor on `reserved`."""
    if not isinstance(slug, str):
        return "must be a string"
    if not slug.isascii():
        return f"{slug!r} is not ASCII: a slug uses a-z, 0-9 and '-' only"
    if not 2 <= len(slug) <= MAX_SLUG:
        return f"{slug!r} is {len(slug)} characters long; a slug is 2 to {MAX_SLUG}"
    if slug != slug.lower():
        return f"{slug!r} has upper-case letters: write {slug.lower()!r}"
    if not _SLUG.match(slug):
        if not slug[0].isalpha():
            return f"{slug!r} must start with a letter a-z"
        if slug.endswith("-"):
            return f"{slug!r} must not end with '-'"
        bad = "".join(sorted({c for c in slug if not (c.isalnum() or c == "-")}))
        return f"{slug!r} has characters other than a-z, 0-9 and '-': {bad!r}"
    if "--" in slug:
        return f"{slug!r} has '--': use single hyphens"
    if slug in SYSTEM_NAMES or slug.replace("-", "_") in {n.replace("-", "_") for n in SYSTEM_NAMES}:
        return f"{slug!r} is a system account or database name on the hosting server"
    return check_reserved(slug, reserved)


def check_gitlab_username(name: str) -> str | None:
    """GitLab's user name rules: 1-255 of letters, digits, '_', '-', '.'; starting with a
    letter, digit or '_'; not ending in '.', '.git' or '.atom'; no '..' or '__'-style
    doubled specials."""
    if not isinstance(name, str):
        return "must be a string"
    if not name or len(name) > 255:
        return "must be 1 to 255 characters"
    if not _GITLAB_USER.match(name):
        return f"{name!r} is not a GitLab user name: letters, digits, '_', '-' and '.', not starting with '-' or '.'"
    if name.endswith((".", ".git", ".atom")):
        return f"{name!r} must not end with '.', '.git' or '.atom'"
    if re.search(r"[._-]{2}", name):
        return f"{name!r} has two special characters in a row"
    return None


def check_gitlab_path(path: str) -> str | None:
    """A GitLab group path relative to the configured root group: segments separated by
    '/', each following GitLab's path rules (as user names, above)."""
    if not isinstance(path, str):
        return "must be a string"
    if path.startswith("/") or path.endswith("/") or "//" in path or not path:
        return f"{path!r} must be segments separated by single '/', with none at either end"
    for seg in path.split("/"):
        if not _GITLAB_PATH_SEGMENT.match(seg) or seg.endswith((".", ".git", ".atom")):
            return f"segment {seg!r} is not a GitLab path (letters, digits, '_', '-', '.')"
    if len(path) > 255:
        return "is longer than 255 characters"
    return None


_REF_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
# Beyond git's rules: branch names go into CI scripts and commands, so only these characters.
_REF_SAFE = re.compile(r"[A-Za-z0-9._/+@-]+\Z")


def check_branch_name(name: str) -> str | None:
    """git check-ref-format rules for a branch name (`refs/heads/<name>`)."""
    if not isinstance(name, str):
        return "must be a string"
    if not name or len(name) > 255:
        return "must be 1 to 255 characters"
    m = _REF_BAD.search(name)
    if m:
        return f"{name!r} contains {m.group()!r}, which git does not allow in a branch name"
    if name == "@" or "@{" in name or ".." in name or "//" in name:
        return f"{name!r} contains '@{{', '..' or '//' or is '@', which git does not allow"
    if name.startswith(("-", "/")) or name.endswith(("/", ".")):
        return f"{name!r} must not start with '-' or '/' nor end with '/' or '.'"
    for comp in name.split("/"):
        if comp.startswith(".") or comp.endswith(".lock"):
            return f"{name!r}: no part may start with '.' or end with '.lock'"
    if not name.isascii():
        return f"{name!r}: use ASCII for branch names"
    if not _REF_SAFE.match(name):
        bad = "".join(sorted({c for c in name if not re.match(r"[A-Za-z0-9._/+@-]", c)}))
        return f"{name!r} contains {bad!r}: use letters, digits, '.', '_', '/', '+', '@' and '-' in branch names"
    return None
