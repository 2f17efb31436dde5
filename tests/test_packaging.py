"""The wheel carries the SOP data, the migrations and the playbooks: build it, install it
in a fresh venv, and run commands that need them, away from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    wheel = next(dist.glob("*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The wheel itself goes into the fresh venv; its dependencies are borrowed from the
    # test environment through a .pth line (a .pth file there, such as the checkout's
    # editable install, is not processed), so the test does not reinstall ansible-core
    # and friends each run. Every declared dependency must then resolve (checked below).
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    outer = [p for p in sys.path if p.endswith("site-packages")]
    (site / "zz-test-deps.pth").write_text("\n".join(outer) + "\n")
    check = subprocess.run([str(venv / "bin" / "python"), "-c", (
        "import importlib.metadata as m, re\n"
        "for req in m.requires('kominfo-provision') or []:\n"
        "    if 'extra ==' in req: continue\n"
        "    m.version(re.split(r'[ ;<>=!~\\[]', req)[0])\n")], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    env.update(PROVISION_ACTOR="packager", PATH=f"{venv / 'bin'}:{env['PATH']}")
    (work / "provision.toml").write_text(f'[general]\nstate_dir = "{work / "state"}"\n')
    exe = str(venv / "bin" / "provision")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120)

    r = run("--version")
    assert r.returncode == 0 and "0.1.0" in r.stdout, r
    r = run("request", "open", "--opd-code", "dishub", "--opd-name", "Dinas Perhubungan",
            "--app", "Parkir", "--letter-number", "1/2026", "--letter-date", "2026-01-05")
    assert r.returncode == 0, r.stderr
    assert "Opened REQ-" in r.stdout
    r = run("request", "show", r.stdout.split()[1], "--json")
    assert r.returncode == 0, r.stderr
    assert "Penyediaan" in r.stdout or "repository" in r.stdout.lower()  # SOP titles from the packaged YAML
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import provision, pathlib; print(pathlib.Path(provision.__file__).parent)"],
                           cwd=work, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed copy, not the checkout
    # every data file of the package (templates, SOP, migrations, playbooks) is installed
    pkg = ROOT / "provision"
    data = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts)
    data += sorted("playbooks/" + p.relative_to(ROOT / "playbooks").as_posix()
                   for p in (ROOT / "playbooks").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert any(d.startswith("playbooks/") for d in data) and any(d.startswith("data/") for d in data)
    missing = [rel for rel in data if not (Path(where) / rel).is_file()]
    assert missing == []

