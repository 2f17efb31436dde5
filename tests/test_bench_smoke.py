"""Every benchmark under bench/ runs at its --smoke size, so none rots.

A benchmark's smoke run is small (seconds to a couple of minutes) but does the whole
comparison: it measures its figures and their anchor in the same run and exits non-zero
when either is missing (each script's own check). Here: exit 0 and the comparison line
printed. A new script under bench/ without --smoke fails `test_every_benchmark_is_listed`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

# script -> (what its output must show: the figure next to its anchor, needs root)
SMOKE: dict[str, tuple[list[str], bool]] = {
    "cli_bench.py": (["ansible-playbook --version (anchor)", "provision request list", "target 300 ms"], False),
    "dns_bench.py": (["provider (plan+apply+verify)", "CLI `provision dns apply --yes`",
                      "octoDNS + octodns-bind sync", "CLI / octoDNS:"], False),
    "gitlab_bench.py": (["anchors: first run", "second apply wrote nothing", "anchors / ours, first apply"], False),
    "sandbox_bench.py": (["start one server", "`python -m devstack.sandbox up` (cached rootfs)"], True),
    "install_bench.py": (["project vs defaults: fresh x"], True),
    "check_bench.py": (["one after another (concurrency 1)", "speed-up: whole command",
                        "identical across all"], True),
    "hosting_bench.py": (["no-change re-run:", "one run / 2 runs:"], True),
    "concurrent_apply_bench.py": (["one after the other (anchor)", "every run exited 0"], True),
}


def test_every_benchmark_is_listed() -> None:
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SMOKE), f"bench/ scripts without a smoke test here: {scripts ^ set(SMOKE)}"
    for name in scripts:
        assert "--smoke" in (BENCH / name).read_text(), f"bench/{name} has no --smoke size"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_smoke(script: str) -> None:
    expected, needs_root = SMOKE[script]
    if needs_root:
        assert os.geteuid() == 0, "the sandbox benchmarks need root: the README's test command runs as root"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"bench/{script} --smoke exited {proc.returncode}:\n{out[-3000:]}"
    for line in expected:
        assert line in proc.stdout, f"bench/{script} --smoke did not print {line!r}:\n{out[-3000:]}"
    print(f"\nbench/{script} --smoke:\n{proc.stdout[-1500:]}")
