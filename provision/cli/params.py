"""Click parameter types for what the changing commands take: request IDs, git refs,
commits, plan checksums, reasons, output files, host names.

Each refuses a bad value before the command does anything (exit 2, Click's "Invalid value
for 'NAME'" naming the argument or option). Values are shown with repr(), shortened, so a
newline or an escape sequence in a value never reaches the terminal as such.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from provision.textcheck import first_invisible, shown

#: Any configured prefix (general.request_id_prefix: [A-Z][A-Z0-9]{0,9}), a year, a number.
REQUEST_ID = re.compile(r"^[A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,6}\Z")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}\Z")
_COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}\Z")
_CHECKSUM = re.compile(r"^[0-9a-f]{16,64}\Z")


show = shown
invisible = first_invisible


def request_id_problem(value: str) -> str | None:
    if not REQUEST_ID.match(value):
        return f"{show(value)} is not a request ID (like REQ-2026-0001)"
    return None


def ref_problem(value: str) -> str | None:
    """A tag, branch or commit: letters, digits, '.', '_', '/', '+', '-' (not first), and
    git's ref rules (no '..', '//', '@{', no part starting with '.' or ending in '.lock')."""
    if not _REF.match(value):
        return (f"{show(value)} is not a git tag, branch or commit (letters, digits, '.', '_', '/', '+', "
                "'-'; not starting with '-'; at most 200 characters)")
    if ".." in value or "//" in value or value.endswith(("/", ".", ".lock")) or any(
            part.startswith(".") or part.endswith(".lock") for part in value.split("/")):
        return f"{show(value)} is not a valid git ref name ('..', '//', a part starting with '.' or ending in '.lock')"
    return None


class RequestIdType(click.ParamType):
    name = "REQ"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        msg = request_id_problem(str(value))
        if msg:
            self.fail(msg, param, ctx)
        return str(value)


class GitRefType(click.ParamType):
    name = "REF"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        msg = ref_problem(str(value))
        if msg:
            self.fail(msg, param, ctx)
        return str(value)


class CommitType(click.ParamType):
    name = "COMMIT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not _COMMIT.match(str(value)):
            self.fail(f"{show(str(value))} is not a commit (7 to 64 hexadecimal digits)", param, ctx)
        return str(value).lower()


class ChecksumType(click.ParamType):
    name = "HEX"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not _CHECKSUM.match(str(value)):
            self.fail(f"{show(str(value))} is not a plan checksum (16 hexadecimal digits, as the plan shows)",
                      param, ctx)
        return str(value)


class TextType(click.ParamType):
    """Free text that goes to the audit log: one line, no control or invisible
    characters, not blank, at most `max_len` characters. Quotes and ';' are fine."""

    name = "TEXT"

    def __init__(self, max_len: int = 2000) -> None:
        self.max_len = max_len

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not text.strip():
            self.fail("must not be empty", param, ctx)
        if len(text) > self.max_len:
            self.fail(f"is {len(text)} characters long, more than {self.max_len}", param, ctx)
        bad = invisible(text)
        if bad:
            self.fail(f"{show(text)} contains a control or invisible character ({bad})", param, ctx)
        return text


class OutputFileType(click.ParamType):
    """A file to write: no control characters in the name, its directory exists (a typo in
    a path is caught before the run, not after it), it is not a directory. Checked before any work, so a bad path never wastes a run."""

    name = "FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        text = str(value)
        bad = invisible(text)
        if not text or bad:
            self.fail(f"{show(text)} is not a file name (empty, or a control character {bad})", param, ctx)
        if len(text.encode()) > 4096 or any(len(p.encode()) > 255 for p in Path(text).parts):
            self.fail(f"{show(text)} is too long for a file name", param, ctx)
        path = Path(text).expanduser()
        if path.is_dir():
            self.fail(f"{show(text)} is a directory; give a file name", param, ctx)
        if not path.parent.is_dir():
            self.fail(f"the directory of {show(text)} does not exist", param, ctx)
        return path


class HostnameType(click.ParamType):
    name = "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from provision import names

        msg = names.check_hostname(str(value))
        if msg:
            self.fail(f"{show(str(value))}: {msg}", param, ctx)
        return names.to_ascii(str(value))


def command_words_problem(words: tuple[str, ...]) -> str | None:
    """`provision exec`: the command is the operator's (run as the app user), but it is
    logged and shown: no NUL, newline or other control character can hide part of it."""
    for w in words:
        bad = invisible(w.replace("\t", " "))
        if bad:
            return f"{show(w)} contains a control or invisible character ({bad}): give one command line"
    if sum(len(w) for w in words) > 8192:
        return "is longer than 8192 characters"
    return None


REQ = RequestIdType()
REF = GitRefType()
COMMIT = CommitType()
CHECKSUM = ChecksumType()
REASON = TextType(2000)
OUTPUT_FILE = OutputFileType()
HOSTNAME = HostnameType()
