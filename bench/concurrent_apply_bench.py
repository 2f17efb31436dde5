#!/usr/bin/env python3
"""Benchmark: N whole `provision apply` runs (steps 14-15: staging install, tests, Berita
Acara, DNS, hosting, production install, Surat Rekomendasi) on N requests at once, against
the same N runs one after the other (the anchor: one sysadmin doing them in turn).

    sudo -E .venv/bin/python bench/concurrent_apply_bench.py [--requests 4] [--json FILE]
    sudo -E .venv/bin/python bench/concurrent_apply_bench.py --smoke   # 2 at once against 2 in turn (CI)

Builds its own sandbox (python -m devstack.sandbox up --state-dir <tmp>: one Kominfo server,
BIND, the GitLab emulator), prepares 2N requests up to step 13 (steps recorded in-process;
step 11 and the developer's push of v1.0.0 as in scripts/demo.sh), then times both ways.
Every run must exit 0 and the audit chain must verify; prints a table and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=os.environ.copy())


def wait(procs: list[subprocess.Popen[str]], what: str) -> None:
    for p in procs:
        out, err = p.communicate(timeout=3600)
        if p.returncode != 0:
            sys.exit(f"{what} failed (exit {p.returncode}):\n{out[-2000:]}\n{err[-2000:]}")


def prepare(n: int, state: Path) -> list[str]:
    import yaml

    from provision.context import App

    spec = yaml.safe_load((ROOT / "scripts" / "demo-spec.yaml").read_text())
    app = App()
    app.audit.start_run(["bench: prepare"], None, None)
    rids = []
    for i in range(1, n + 1):
        rid = app.requests.open(opd_code="disdik", opd_name="Dinas Pendidikan", app_name=f"Aplikasi {i}",
                                letter_number=f"{i}/BENCH/2026", letter_date=dt.date(2026, 11, 2)).id
        slug = f"app{i}"
        s = json.loads(json.dumps(spec).replace("sisekolah", slug))
        s["application"]["name"] = f"Aplikasi {i}"
        app.specs.set(rid, yaml.safe_dump(s), "bench")
        for step in range(1, 11):
            app.requests.step(rid, step, "done")
        rids.append(rid)
    wait([cli("apply", rid, "--until", "11", "--yes") for rid in rids], "apply --until 11")
    for rid in rids:
        subprocess.run([sys.executable, "-m", "devstack.demo_push", rid,
                        str(state / "gitlab" / "credentials.json")], check=True, cwd=ROOT,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        app.requests.step(rid, 12, "done")
        app.requests.step(rid, 13, "done")
    return rids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="2 requests each way (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.requests = 2
    from devstack.sandbox.__main__ import cmd_down, cmd_up

    state = Path(tempfile.mkdtemp(prefix="kp-bench-concurrent-"))
    state.chmod(0o755)  # BIND runs as nobody and must traverse it
    for var in [v for v in os.environ if v.startswith("PROVISION_")]:
        del os.environ[var]
    os.environ.update(PROVISION_CONFIG=str(state / "provision.toml"), PROVISION_ACTOR="bench",
                      KOMINFO_SANDBOX_DIR=str(state))
    figures: dict[str, float] = {}
    try:
        cmd_up(state, 1)
        rids = prepare(2 * args.requests, state)
        together, one_by_one = rids[: args.requests], rids[args.requests:]
        t = time.monotonic()
        wait([cli("apply", rid, "--ref", "v1.0.0", "--yes") for rid in together], "concurrent apply")
        figures["concurrent_s"] = time.monotonic() - t
        t = time.monotonic()
        for rid in one_by_one:
            wait([cli("apply", rid, "--ref", "v1.0.0", "--yes")], "sequential apply")
        figures["sequential_s"] = time.monotonic() - t
        wait([cli("audit", "verify")], "audit verify")
    finally:
        cmd_down(state)
    n = args.requests
    print(f"\n{n} whole applies (steps 14-15) on one sandbox server, load {os.getloadavg()[0]:.1f}:")
    print(f"  {'at once (ours)':<28}{figures['concurrent_s']:>8.1f} s")
    print(f"  {'one after the other (anchor)':<28}{figures['sequential_s']:>8.1f} s")
    print(f"  ratio: {figures['sequential_s'] / figures['concurrent_s']:.2f}x faster at once; "
          "every run exited 0 and the audit chain verifies")
    if args.json:
        args.json.write_text(json.dumps({"requests": n, **figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
