"""Huge and pathological files: specs of many MB or endless (/dev/zero), YAML alias bombs
and deep nesting, a configuration file that is huge or nested without end, environment
JSON nested without end, attachments over general.max_attachment_mb. Each is refused
(exit 2, naming the file, key or option) quickly, without expanding or reading it all,
and nothing is stored."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.hostile.corpus import HUGE, register
from tests.hostile.test_records import rejected

ALIAS_BOMB = "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))
DEEP_YAML = "version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_MAP = "version: 1\nx:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200)) + "  " * 201 + "v\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _big(path: Path, size: int) -> Path:
    with path.open("wb") as f:  # sparse where the file system allows: cheap to make
        f.truncate(size)
    return path


SPEC_FILES = register("spec", "huge spec files", [
    (HUGE, "8 MB of YAML", lambda d: _write(d / "big.yaml", "version: 1\n" + "# padding\n" * 800_000), "FILE"),
    (HUGE, "a sparse 64 MB file", lambda d: _big(d / "sparse.yaml", 64 << 20), "FILE"),
    (HUGE, "/dev/zero", lambda d: Path("/dev/zero"), "FILE"),
    (HUGE, "billion laughs", lambda d: _write(d / "bomb.yaml", ALIAS_BOMB), "bomb.yaml>"),
    (HUGE, "5000 nested lists", lambda d: _write(d / "deep.yaml", DEEP_YAML), "deep.yaml>"),
    (HUGE, "200 nested mappings", lambda d: _write(d / "deepmap.yaml", DEEP_MAP), "deepmap.yaml>"),
], category_of=lambda c: c[0])


@pytest.fixture
def opened(provision_home: Path) -> str:
    from tests.test_requests import OPEN

    r = run_cli(*OPEN, "--json")
    assert r.exit_code == 0, r
    return r.json["id"]


def test_huge_specs_refused_quickly(opened: str, provision_home: Path) -> None:
    def invoke(category: str, what: str, make: Any, field: str) -> Any:
        path = make(provision_home)
        start = time.monotonic()
        r = run_cli("spec", "set", opened, str(path))
        v = run_cli("spec", "validate", str(path))
        assert time.monotonic() - start < 10, f"{what} took {time.monotonic() - start:.1f} s"
        return (r if r.exit_code != 2 or field not in r.stderr else v), field

    rejected(SPEC_FILES, invoke, provision_home)


CONFIG_FILES = register("config", "huge configuration files", [
    (HUGE, "2 MB file", lambda: "[general]\n" + "# padding\n" * 200_000, "configuration file"),
    (HUGE, "nested arrays", lambda: "[gitlab]\nteam = " + "[" * 100_000 + "]" * 100_000 + "\n", "not valid TOML"),
    (HUGE, "nested inline tables", lambda: "[gitlab]\nvariables = " + "{a = " * 50_000 + "1" + "}" * 50_000 + "\n",
     "not valid TOML"),
    (HUGE, "a 100 000-character value", lambda: '[general]\norganisation = "' + "x" * 100_000 + '"\n',
     "general.organisation"),
    (HUGE, "10 000 list items", lambda: "[gitlab]\nteam = [" + ", ".join(['"a;b"'] * 10_000) + "]\n", "gitlab.team"),
], category_of=lambda c: c[0])


def test_huge_configuration_refused(provision_home: Path) -> None:
    bad = provision_home / "huge.toml"

    def invoke(category: str, what: str, make: Any, field: str) -> Any:
        bad.write_text(make())
        start = time.monotonic()
        r = run_cli("--config", str(bad), "config", "check")
        assert time.monotonic() - start < 10, f"{what} took {time.monotonic() - start:.1f} s"
        if r.exit_code == 2 and field in r.stderr:
            r = run_cli("--config", str(bad), "request", "list")  # any command stops on it
        return r, field

    rejected(CONFIG_FILES, invoke, provision_home)
    assert not (provision_home / "state").exists()


ENV_BOMBS = register("config", "huge environment values", [
    (HUGE, "PROVISION_GITLAB_VARIABLES", '{"a":' * 100_000 + "1" + "}" * 100_000, "gitlab.variables"),
    (HUGE, "PROVISION_GITLAB_TEAM", "[" * 100_000 + "]" * 100_000, "gitlab.team"),
    (HUGE, "PROVISION_DNS_ZONE", "a." * 60_000 + "test", "dns.zone"),
], category_of=lambda c: c[0])


def test_huge_environment_values_refused(provision_home: Path) -> None:
    def invoke(category: str, var: str, value: str, field: str) -> Any:
        return run_cli("config", "check", env={var: value}), field

    rejected(ENV_BOMBS, invoke, provision_home)


ATTACHMENTS = register("attachment", "huge attachments", [
    (HUGE, "1 MiB + 1 over a 1 MiB limit", 1, lambda d: _big(d / "surat.pdf", (1 << 20) + 1)),
    (HUGE, "50 MiB + 1 over the default limit", None, lambda d: _big(d / "scan.pdf", (50 << 20) + 1)),
    (HUGE, "/dev/zero", None, lambda d: Path("/dev/zero")),
    (HUGE, "a directory", None, lambda d: d / "in"),
], category_of=lambda c: c[0])


def test_huge_attachments_refused(opened: str, provision_home: Path) -> None:
    (provision_home / "in").mkdir(exist_ok=True)
    cfg = Path(os.environ["PROVISION_CONFIG"])
    base = cfg.read_text()

    def invoke(category: str, what: str, limit_mb: int | None, make: Any) -> Any:
        cfg.write_text(base.replace("[general]\n", f"[general]\nmax_attachment_mb = {limit_mb}\n") if limit_mb
                       else base)
        path = make(provision_home)
        r = run_cli("request", "step", opened, "1", "--done", "--attach", str(path))
        return r, "--attach"

    rejected(ATTACHMENTS, invoke, provision_home)
    assert not list((provision_home / "state" / "attachments").rglob("*.pdf"))
    assert not [p for p in (provision_home / "state").rglob(".incoming-*")]


def test_attachment_at_the_limit_is_stored(opened: str, provision_home: Path) -> None:
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text().replace("[general]\n", "[general]\nmax_attachment_mb = 1\n"))
    path = _big(provision_home / "surat.pdf", 1 << 20)
    r = run_cli("request", "step", opened, "1", "--done", "--attach", str(path))
    assert r.exit_code == 0, r
