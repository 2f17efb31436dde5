"""The sandbox's BIND pair for people: outlives the command, found again, stopped cleanly."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.sandbox import SandboxError, pid_alive
from devstack.sandbox.bind import dns_toml, sandbox_down, sandbox_up
from tests.dns.conftest import dig


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory named (as nobody) may enter: pytest's tmp_path parents are 0700."""
    d = Path(tempfile.mkdtemp(prefix="kp-bind-sandbox-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_sandbox_up_is_idempotent_and_down_leaves_nothing(open_dir: Path) -> None:
    state = open_dir / "state"
    try:
        info = sandbox_up(state)
        assert sandbox_up(state) == info  # running: found, not restarted
        assert dig(str(info["secondary"]), "www.batam.test") == ["192.0.2.10"]
        toml = dns_toml(info)
        assert f'primary = "{info["primary"]}"' in toml and 'zone = "batam.test."' in toml
        assert (Path(str(info["key_file"])).stat().st_mode & 0o777) == 0o600
    finally:
        sandbox_down(state)
    pids: list[int] = info["pids"]  # type: ignore[assignment]
    assert not any(pid_alive(p) for p in pids)  # stopped and reaped
    assert not (state / "bind").exists() and not (state / "bind.json").exists()


def test_state_dir_named_cannot_enter_is_a_clear_error(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    with pytest.raises(SandboxError, match="named runs as nobody and cannot enter"):
        sandbox_up(tmp_path / "state")
