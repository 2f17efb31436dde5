"""The operator docs keep up with the code: every error message the toolkit can raise has
an entry in docs/troubleshooting.md, with its exit code, and the same entry (same code,
same message quoted in English) in docs/id/pemecahan-masalah.md.

The catalogue (an `ast` walk over provision/) and the reading of the entries come from
scripts/error_catalogue.py.
An entry is a `### E-AREA-NN ...` heading followed by the message quoted in backticks and
a line giving the exit code (`Exit N` / `Kode keluar N`); a message is covered when an
entry quotes its first literal words (its stem), with anything in place of placeholders.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ID = ROOT / "docs" / "id" / "pemecahan-masalah.md"
# Entries for what Click or the error boundary print themselves (not a raise site).
NOT_RAISED = ("E-CLI-", "E-VERIFY-")  # E-VERIFY-: what `audit verify` prints


def _load_catalogue() -> Any:
    spec = importlib.util.spec_from_file_location("error_catalogue", ROOT / "scripts" / "error_catalogue.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("error_catalogue", module)
    spec.loader.exec_module(module)
    return module


catalogue_module = _load_catalogue()
# How a document's entries are read and matched lives with the catalogue, so that
# `python scripts/error_catalogue.py --missing` uses it without importing the tests.
EN = catalogue_module.TROUBLESHOOTING
entries = catalogue_module.entries
covering = catalogue_module.covering
uncovered = catalogue_module.uncovered


@functools.cache
def _catalogue() -> tuple[Any, ...]:
    return tuple(catalogue_module.catalogue())


def _describe(e: Any) -> str:
    return f"{e.where()} {e.cls} (exit {e.exit_code}): {e.message!r} [stem: {e.stem!r}]"


def test_catalogue_finds_the_errors() -> None:
    cat = list(_catalogue())
    by_cls = {e.cls for e in cat}
    # A few known sites, so an extraction that silently finds nothing fails.
    assert {"LockTimeout", "StateError", "TsigBadKey", "ValidationError", "ConfigError"} <= by_cls
    assert any(e.message == "request {request_id} does not exist." and e.exit_code == 2 for e in cat)
    assert any(e.cls == "DnsTimeout" and e.exit_code == 8 and e.hint for e in cat)
    assert len(cat) > 150


def test_every_error_message_has_an_entry() -> None:
    missing = uncovered(list(_catalogue()))
    assert not missing, (
        f"{len(missing)} error message(s) have no entry in docs/troubleshooting.md. Add an entry "
        "(`### E-AREA-NN`, the message in backticks, `Exit N`, what it means, what to do) and the "
        "same code in docs/id/pemecahan-masalah.md:\n  " + "\n  ".join(map(_describe, missing)))


def test_entries_give_the_exit_code() -> None:
    docs = entries(EN)
    wrong = []
    for e in _catalogue():
        for d in covering(e, docs) if not e.passthrough else []:
            if e.exit_code not in d.exit_codes("Exit"):
                wrong.append(f"{d.code} says exit {sorted(d.exit_codes('Exit'))}, but {_describe(e)}")
    assert not wrong, "\n".join(wrong)


def test_every_entry_is_in_bahasa_indonesia() -> None:
    en, id_ = entries(EN), entries(ID)
    assert sorted(set(en) - set(id_)) == [], "entries in troubleshooting.md missing from pemecahan-masalah.md"
    assert sorted(set(id_) - set(en)) == [], "entries in pemecahan-masalah.md missing from troubleshooting.md"
    problems = []
    for e in _catalogue():
        if e.passthrough:
            continue
        for d in covering(e, en):
            other = id_[d.code]
            if not covering(e, {d.code: other}):
                problems.append(f"{d.code} in pemecahan-masalah.md does not quote {_describe(e)}")
            if e.exit_code not in other.exit_codes("Kode keluar"):
                problems.append(f"{d.code} in pemecahan-masalah.md lacks 'Kode keluar {e.exit_code}'")
    assert not problems, "\n".join(problems)


def test_no_entry_for_a_message_that_is_gone() -> None:
    cat = [e for e in _catalogue() if not e.passthrough]
    docs = entries(EN)
    covered = {d.code for e in cat for d in covering(e, docs)}
    stale = sorted(c for c in docs if c not in covered and not c.startswith(NOT_RAISED))
    assert stale == [], f"entries whose message the code no longer raises: {stale}"


def test_the_test_fails_without_an_entry() -> None:
    """Dropping one entry makes its message uncovered, and the failure names it."""
    cat = list(_catalogue())
    docs = entries(EN)
    lock = next(e for e in cat if e.cls == "LockTimeout")
    (entry,) = covering(lock, docs)
    assert lock in uncovered(cat, {k: v for k, v in docs.items() if k != entry.code})
    assert "locks.py" in _describe(lock) and "LockTimeout (exit 6)" in _describe(lock)


def test_guides_link_the_troubleshooting_pages() -> None:
    assert "troubleshooting.md" in (ROOT / "docs" / "operator-guide.md").read_text()
    assert "pemecahan-masalah.md" in (ROOT / "docs" / "id" / "panduan-operator.md").read_text()


def test_every_group_help_has_an_example_too() -> None:
    """tests/test_cli.py checks each command; the groups (`provision dns --help`) as well."""
    import click

    from provision.cli import cli
    from tests.helpers import run_cli

    groups = [n for n in cli.list_commands(click.Context(cli))
              if isinstance(cli.get_command(click.Context(cli), n), click.Group)]
    assert "dns" in groups
    missing = [g for g in groups if "Example" not in run_cli(g, "--help").stdout]
    assert missing == [], f"provision {missing} --help has no example"


def test_no_documented_command_line_carries_a_token() -> None:
    """Shell examples read tokens from files or the environment: a token in a command's
    arguments is visible in `ps` and kept in the shell's history (issue 13)."""
    found = []
    for doc in sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]:
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                code = line.split("#", 1)[0]
                if "glpat-" in code:
                    found.append((doc.name, line))
                elif re.search(r"\$\{?[A-Z_]*(TOKEN|PASSWORD|SECRET)[A-Z_]*\}?", code) and not re.match(
                        r"\s*(export\s+)?[A-Z_]+=", code):
                    found.append((doc.name, line))
    assert found == []
