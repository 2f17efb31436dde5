"""The cached root filesystem: mirror discovery, cache key, failure messages, the cached tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.sandbox import SandboxError, rootfs


def _apt(tmp_path: Path, sources: dict[str, str], legacy: str | None = None) -> Path:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    for name, text in sources.items():
        (etc / "sources.list.d" / name).write_text(text)
    if legacy is not None:
        (etc / "sources.list").write_text(legacy)
    return etc


def test_mirror_from_deb822_skips_security_suite(tmp_path: Path) -> None:
    etc = _apt(tmp_path, {"debian.sources": (
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")})
    assert rootfs.apt_mirror(etc) == "http://mirror.invalid/debian"


def test_mirror_from_one_line_sources_list(tmp_path: Path) -> None:
    etc = _apt(tmp_path, {}, "# comment\ndeb [arch=amd64] http://mirror.invalid/d bookworm main\n")
    assert rootfs.apt_mirror(etc) == "http://mirror.invalid/d"


def test_no_bookworm_source_is_a_clear_error(tmp_path: Path) -> None:
    etc = _apt(tmp_path, {}, "deb http://mirror.invalid/d bullseye main\n")
    with pytest.raises(SandboxError, match="no apt source for Debian bookworm"):
        rootfs.apt_mirror(etc)


def test_cache_key_follows_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    before = rootfs.cache_key()
    monkeypatch.setattr(rootfs, "PACKAGES", (*rootfs.PACKAGES, "vim"))
    assert rootfs.cache_key() != before


def test_a_tree_without_marker_is_not_used(tmp_path: Path) -> None:
    half = tmp_path / "rootfs-x.tmp-123"
    (half / "etc").mkdir(parents=True)
    assert not rootfs.is_built(half)
    (half / rootfs.MARKER).write_text("key=x\n")
    assert rootfs.is_built(half)


@pytest.mark.parametrize(("log", "expected"), [
    ("E: Failed getting release file http://m/dists/bookworm/Release", "mirror .* is unreachable"),
    ("tar: ./usr/lib/x: Cannot write: No space left on device", "disk filled up"),
    ("something else entirely", "exit 1; read"),
])
def test_build_failures_say_what_and_what_next(log: str, expected: str) -> None:
    msg = rootfs._explain_failure(1, log, "http://m", Path("/x.log"))
    assert msg.startswith("building the sandbox root filesystem failed")
    assert __import__("re").search(expected, msg), msg


def test_low_disk_space_refuses_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(rootfs.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**8, 10**8))
    with pytest.raises(SandboxError, match="not enough disk space"):
        rootfs._check_host(tmp_path)


@pytest.mark.root
def test_cached_tree_has_the_service_manager_and_no_host_keys() -> None:
    try:
        path = rootfs.ensure_rootfs()
    except SandboxError as e:
        pytest.fail(f"root filesystem could not be built: {e}", pytrace=False)
    assert rootfs.is_built(path)
    # Ansible reads PID 1's name: the shebang must name python3 directly, not via env.
    assert (path / "usr/local/sbin/systemd").read_text().startswith("#!/usr/bin/python3\n")
    assert (path / "usr/bin/systemctl.distrib").exists()  # the real one, diverted
    assert not list((path / "etc/ssh").glob("ssh_host_*"))
    assert not (path / "usr/sbin/policy-rc.d").exists()
    wants = path / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "postgresql@15-main.service").is_symlink()
    # The replacement waits ~5 s per start of a notify service that has no PID file.
    dropin = path / "etc/systemd/system/mariadb.service.d/kominfo-sandbox.conf"
    assert "PIDFile=/run/mysqld/mysqld.pid" in dropin.read_text()


@pytest.mark.root
def test_unreachable_mirror_fails_clearly_and_leaves_no_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 1 on loopback: nothing listens, so debootstrap fails at its first download.
    monkeypatch.setenv("KOMINFO_SANDBOX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(rootfs, "apt_mirror", lambda: "http://127.0.0.1:1/debian")
    with pytest.raises(SandboxError, match="mirror http://127.0.0.1:1/debian .* unreachable"):
        rootfs.ensure_rootfs()
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert all(name.endswith((".log", ".lock")) for name in left), left
