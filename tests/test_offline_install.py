"""Installable offline: constraints.txt pins every distribution an installation needs, and
the wheelhouse scripts/wheelhouse.sh builds installs into a fresh venv with no index.

No test reaches a package index: the dependency wheels come from .wheels, which
scripts/setup.sh fills from constraints.txt (a missing .wheels fails, it does not skip).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
WHEELS = ROOT / ".wheels"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
# What a venv brings before anything is installed into it.
VENV_SEED = {"pip", "setuptools"}


def pins() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; every line a pin, a comment or blank."""
    out: dict[str, str] = {}
    for n, line in enumerate(CONSTRAINTS.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)", text)
        assert m, f"constraints.txt line {n} is not a name==version pin: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in out, f"constraints.txt pins {name} twice"
        out[name] = m.group(2)
    return out


def runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["postgresql"]]


def offline_env() -> dict[str, str]:
    """No pip configuration from this machine (its find-links, extra index URLs), no index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PROVISION_", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def test_constraints_pin_every_runtime_dependency() -> None:
    pinned = pins()
    assert "pip-compile" in CONSTRAINTS.read_text() and "scripts/wheelhouse.sh --compile" in CONSTRAINTS.read_text()
    for req in runtime_requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} (pyproject.toml) is not pinned: run scripts/wheelhouse.sh --compile"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject.toml's {req}: "
            "run scripts/wheelhouse.sh --compile")
    # the extras asked for in pyproject.toml are resolved too (pyhanko[opentype], psycopg[binary])
    assert "psycopg-binary" in pinned and "uharfbuzz" in pinned
    assert canonicalize_name(PROJECT["name"]) not in pinned  # the project itself comes from its wheel


@pytest.mark.slow
def test_wheelhouse_installs_offline_and_pins_everything(tmp_path: Path) -> None:
    assert WHEELS.is_dir() and any(WHEELS.glob("*.whl")), (
        f"{WHEELS} holds no wheels: run scripts/setup.sh (it downloads the pinned dependencies once)")
    env = offline_env()
    out = tmp_path / "wheelhouse"
    built = subprocess.run(["bash", str(ROOT / "scripts" / "wheelhouse.sh"), str(out)],
                           env={**env, "PIP_FIND_LINKS": str(WHEELS), "PYTHON": sys.executable},
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"for kominfo-provision {VERSION}" in built.stdout and f"{out}.tar.gz" in built.stdout
    # the wheelhouse is exactly the project's wheel and one wheel per pin, and carries constraints.txt
    pinned = pins()
    wheels = {canonicalize_name(w.name.split("-")[0]): w.name.split("-")[1] for w in out.glob("*.whl")}
    assert wheels.pop(canonicalize_name(PROJECT["name"])) == VERSION
    assert wheels == pinned
    assert (out / "constraints.txt").read_text() == CONSTRAINTS.read_text()
    assert (tmp_path / "wheelhouse.tar.gz").stat().st_size > 0

    # a fresh venv, no index, no machine pip configuration: only the unpacked tarball
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xzf", str(tmp_path / "wheelhouse.tar.gz"), "-C", str(unpacked)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = str(venv / "bin" / "pip")
    inst = subprocess.run([pip, "install", "--no-index", "--find-links", str(unpacked),
                           "-c", str(unpacked / "constraints.txt"), f"kominfo-provision[postgresql]=={VERSION}"],
                          env=env, capture_output=True, text=True, timeout=1200)
    assert inst.returncode == 0, inst.stderr[-3000:]
    check = subprocess.run([pip, "check"], env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "No broken requirements found" in check.stdout, check.stdout + check.stderr
    listed = subprocess.run([pip, "list", "--format=json"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    installed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}
    assert installed.pop(canonicalize_name(PROJECT["name"])) == VERSION
    # every installed distribution pinned at the installed version, and no pin left unused
    unpinned = {n: v for n, v in installed.items() if n not in pinned and n not in VENV_SEED}
    assert unpinned == {}, f"installed but not in constraints.txt: {unpinned}"
    differ = {n: (v, pinned[n]) for n, v in installed.items() if n in pinned and pinned[n] != v}
    assert differ == {}
    assert set(pinned) - set(installed) == set(), "pins nothing installs: run scripts/wheelhouse.sh --compile"

    # the installed command runs, away from the checkout
    work = tmp_path / "elsewhere"
    work.mkdir()
    run_env = {**env, "PROVISION_ACTOR": "offline test", "HOME": str(work)}
    exe = str(venv / "bin" / "provision")
    r = subprocess.run([exe, "--version"], cwd=work, env=run_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and VERSION in r.stdout, (r.returncode, r.stdout, r.stderr)
    r = subprocess.run([exe, "--help"], cwd=work, env=run_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("Usage: provision"), (r.returncode, r.stdout, r.stderr)
    assert "install" in r.stdout and "request" in r.stdout
    r = subprocess.run([exe, "no-such-command"], cwd=work, env=run_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "No such command 'no-such-command'" in r.stderr, (r.returncode, r.stderr)
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import provision; print(provision.__file__)"],
                           cwd=work, env=run_env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where
