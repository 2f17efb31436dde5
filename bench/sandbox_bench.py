"""Benchmark of the sandbox: root filesystem build, server start/stop, five servers, memory and disk.

    sudo python bench/sandbox_bench.py            # cached root filesystem (builds it if missing)
    sudo python bench/sandbox_bench.py --cold     # also a cold build into a temp cache (minutes, ~1 GB)
    sudo python bench/sandbox_bench.py --runs 5
    sudo python bench/sandbox_bench.py --smoke    # one repetition (CI)

Prints a table; medians where a measure is repeated. Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.sandbox import rootfs  # noqa: E402
from devstack.sandbox.server import Sandbox, Server, netns_pids  # noqa: E402

Row = tuple[str, str, str]


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _median(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s" + (f" (n={len(xs)}, min {min(xs):.2f}, max {max(xs):.2f})" if len(xs) > 1 else "")


def pss_mb(server: Server) -> float:
    """Proportional set size of every process of the server: its fair share of memory."""
    total = 0
    for pid in netns_pids(server.netns):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sx", "--block-size=1K", str(path)], capture_output=True, text=True).stdout
    return int(out.split()[0]) / 1024 if out else 0.0


def bench_cold() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="kp-bench-cache-", dir="/var/tmp") as d:
        os.environ["KOMINFO_SANDBOX_CACHE"] = d
        try:
            t = _timed(rootfs.ensure_rootfs)
            size = du_mb(rootfs.rootfs_path())
        finally:
            del os.environ["KOMINFO_SANDBOX_CACHE"]
    return [("root filesystem, cold build", f"{t:.0f} s", f"{size:.0f} MB on disk")]


def bench(runs: int, state: Path) -> list[Row]:
    rows: list[Row] = []
    path = rootfs.ensure_rootfs(echo=True)
    marker = dict(line.split("=", 1) for line in (path / rootfs.MARKER).read_text().split())
    rows.append(("root filesystem, last cold build", f"{marker.get('seconds', '?')} s",
                 f"{du_mb(path):.0f} MB, built {marker.get('built', '?')}"))
    rows.append(("root filesystem, cached", _median([_timed(rootfs.ensure_rootfs) for _ in range(5)]), "lookup only"))

    sb = Sandbox(state)
    ssh_ready, services, stops, mems, disks = [], [], [], [], []
    try:
        for i in range(runs):
            t = time.perf_counter()
            s = sb.start_server(f"bench{i}")
            ssh_ready.append(time.perf_counter() - t)
            s.wait_services()
            services.append(time.perf_counter() - t)
            mems.append(pss_mb(s))
            disks.append(du_mb(s.dir / "upper"))
            stops.append(_timed(lambda s=s: sb.stop_server(s.name)))
        rows += [("start one server: sshd answering", _median(ssh_ready), ""),
                 ("start one server: all 5 services active", _median(services), "ssh nginx php-fpm mariadb postgresql"),
                 ("stop one server", _median(stops), "nothing left"),
                 ("memory per server (PSS, services idle)", f"{statistics.median(mems):.0f} MB", ""),
                 ("disk per server (overlay upper dir)", f"{statistics.median(disks):.1f} MB", "at boot")]

        t = time.perf_counter()
        five = sb.start_servers([f"five{i}" for i in range(5)])
        five_ssh = time.perf_counter() - t
        for s in five:
            s.wait_services(timeout=300)
        five_all = time.perf_counter() - t
        five_mem = sum(pss_mb(s) for s in five)
        stop5 = _timed(sb.stop_all)
        rows += [("start five servers (parallel): sshd answering", f"{five_ssh:.2f} s", ""),
                 ("start five servers: all services active", f"{five_all:.2f} s", f"{five_mem:.0f} MB PSS together"),
                 ("stop five servers", f"{stop5:.2f} s", "")]
    finally:
        sb.stop_all()

    cli = [sys.executable, "-m", "devstack.sandbox", "--state-dir", str(state / "cli")]
    root = Path(__file__).resolve().parents[1]
    t = time.perf_counter()
    subprocess.run([*cli, "up"], cwd=root, check=True, capture_output=True)
    up = time.perf_counter() - t
    again = _timed(lambda: subprocess.run([*cli, "up"], cwd=root, check=True, capture_output=True))
    down = _timed(lambda: subprocess.run([*cli, "down"], cwd=root, check=True, capture_output=True))
    rows += [("`python -m devstack.sandbox up` (cached rootfs)", f"{up:.2f} s", "one server, services active"),
             ("`up` again (idempotent)", f"{again:.2f} s", ""), ("`down`", f"{down:.2f} s", "")]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="start/stop repetitions for the medians")
    parser.add_argument("--cold", action="store_true", help="also time a cold root filesystem build")
    parser.add_argument("--smoke", action="store_true", help="one repetition, cached root filesystem (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.cold = 1, False
    if os.geteuid() != 0:
        print("the sandbox benchmark needs root", file=sys.stderr)
        return 2
    state = Path(tempfile.mkdtemp(prefix="kp-bench-", dir="/var/tmp"))
    state.chmod(0o755)  # BIND (in `python -m devstack.sandbox up`) runs as nobody and must traverse it
    try:
        rows = (bench_cold() if args.cold else []) + bench(args.runs, state)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\nsandbox benchmark ({os.cpu_count()} cores, load {load:.1f} at the end)\n")
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':{w}}  {'value':>30}  note")
    for name, value, note in rows:
        print(f"{name:{w}}  {value:>30}  {note}")
    if not rows or any(not value for _, value, _ in rows):
        print("smoke: a measure is missing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
