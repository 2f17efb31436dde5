"""Benchmark: issue 1,000 new subdomains (an A record plus an ownership TXT each) in a zone
that already holds 2,000 record sets, on a real BIND primary + secondary on loopback.

    .venv/bin/python bench/dns_bench.py [--runs 5] [--new 1000] [--existing 2000] [--nsupdate-sample 200]
    .venv/bin/python bench/dns_bench.py --smoke   # 20 names into 50, one run, in seconds (CI)

Compared, each on a fresh BIND pair per run (start-up not timed), median of the runs:
- provider: DnsProvider.plan + apply in-process (validation, signed AXFR, prerequisites,
  UPDATEs, read back, verification on both servers); and again without verification
  (the read back from the primary still done), the work octoDNS does;
- CLI: `python cli.py dns apply REQ --yes --force --reason ...` as a new process (the same
  plus interpreter start, configuration, state store, audit events per change, request
  lock); `--force --reason` passes the production gate (no install was tested here) and
  records the override, one more audit event;
- nsupdate: one `nsupdate -k KEY` process per record (2 records per subdomain); only
  --nsupdate-sample records are timed and the time is extrapolated to all of them;
- octoDNS 1.22 + octodns-bind (Rfc2136Provider), `octodns-sync --doit` syncing a zone file
  holding the same records: the project's test venv has them (the `test` extra); otherwise
  this script installs them into its own venv (/tmp/octodns-venv) from PyPI with pip; its default batch of 1,000 changes fails with
  TooBig on this change, so the config sets update_batch_size 500. Neither nsupdate nor octoDNS checks
  prerequisites, ownership, or that the secondaries serve the result.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.sandbox.bind import BindPair  # noqa: E402

ZONE = "batam.test."
VENV = Path("/tmp/octodns-venv")
PY = sys.executable


def existing_records(n: int) -> list[str]:
    return [f"h{i:05d} 300 IN A 198.51.100.{i % 250 + 1}" for i in range(n)]


def new_names(n: int) -> list[tuple[str, str]]:
    return [(f"s{i:04d}.bench", f"203.0.113.{i % 250 + 1}") for i in range(n)]


def spec_yaml(n: int) -> str:
    lines = ["version: 1", "application:", "  slug: bench", "  name: Benchmark", "runtime:",
             "  kind: static", "hosting:", "  host: web1", "dns:", "  records:"]
    for name, ip in new_names(n):
        lines += [f"    - name: {name}", "      type: A", "      ttl: 300", f"      values: ['{ip}']"]
    return "\n".join(lines) + "\n"


def settings_toml(pair: BindPair, state: Path) -> str:
    servers = ", ".join(f'"{s}"' for s in pair.servers)
    return (f'[general]\nstate_dir = "{state}"\n[dns]\nzone = "{ZONE}"\nprimary = "{pair.primary_addr}"\n'
            f'tsig_key_file = "{pair.client_key_file}"\nverify_servers = [{servers}]\n'
            "allow_private_addresses = true\nverify_timeout = 60\n")


def zone_count(pair: BindPair, server: str) -> int:
    host, port = server.rsplit(":", 1)
    out = subprocess.run(["dig", "-k", str(pair.client_key_file), "-p", port, f"@{host}", ZONE, "AXFR",
                          "+nocmd", "+nostats", "+nocomments"], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line and "\tTSIG\t" not in line and "\tSOA\t" not in line)


def fresh(existing: int) -> BindPair:
    return BindPair(zone=ZONE, records=existing_records(existing)).start()


def run_provider(existing: int, n: int, verify: bool = True) -> float:
    from provision.config import Dns
    from provision.dns import DnsProvider
    from provision.spec import load_spec

    pair = fresh(existing)
    try:
        spec = load_spec(spec_yaml(n), "bench.yaml")

        class Quiet:
            def attempt(self, *a: object) -> int: return 0
            def succeeded(self, *a: object, **k: object) -> None: ...
            def failed(self, *a: object, **k: object) -> None: ...

        settings = Dns(zone=ZONE, primary=pair.primary_addr, tsig_key_file=str(pair.client_key_file),
                       verify_servers=pair.servers, allow_private_addresses=True, verify_timeout=60)
        t0 = time.perf_counter()
        p = DnsProvider(settings)
        plan = p.plan(spec, "REQ-2026-0001", "Dinas Bench")
        report = p.apply(plan, Quiet(), verify=verify)
        dt = time.perf_counter() - t0
        assert report.ok and len(report.applied) == 2 * n, report.as_dict()["details"]
        assert all(v["ok"] for v in report.details.get("verification", [])) and (
            not verify or len(report.details["verification"]) == 2)
        return dt
    finally:
        pair.stop()


def run_cli(existing: int, n: int) -> float:
    pair = fresh(existing)
    try:
        with tempfile.TemporaryDirectory(prefix="kp-bench-") as tmp:
            home = Path(tmp)
            (home / "provision.toml").write_text(settings_toml(pair, home / "state"))
            (home / "spec.yaml").write_text(spec_yaml(n))
            env = dict(os.environ, PROVISION_CONFIG=str(home / "provision.toml"), PROVISION_ACTOR="bench")

            def cli(*args: str) -> subprocess.CompletedProcess[str]:
                proc = subprocess.run([PY, str(ROOT / "cli.py"), *args], env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"provision {' '.join(args)}: exit {proc.returncode}: {proc.stderr}")
                return proc

            cli("request", "open", "--opd-code", "bench", "--opd-name", "Dinas Bench", "--app", "Bench",
                "--letter-number", "1/BENCH/2026", "--letter-date", "2026-11-02", "--id", "REQ-2026-0001")
            cli("spec", "set", "REQ-2026-0001", str(home / "spec.yaml"))
            t0 = time.perf_counter()
            out = cli("dns", "apply", "REQ-2026-0001", "--yes", "--force", "--reason", "benchmark: no install")
            dt = time.perf_counter() - t0
            assert f"Applied {2 * n} of {2 * n} changes" in out.stdout, out.stdout[-500:]
            return dt
    finally:
        pair.stop()


def run_nsupdate(existing: int, n: int, sample: int) -> tuple[float, int]:
    """(extrapolated seconds for 2n records, records actually timed)."""
    pair = fresh(existing)
    try:
        host, port = pair.primary_addr.rsplit(":", 1)
        records = []
        for name, ip in new_names(n):
            records.append(f"update add {name}.{ZONE} 300 IN A {ip}")
            records.append(f'update add _provision-owner.{name}.{ZONE} 300 IN TXT "kominfo-provision '
                           'request=REQ-2026-0001 types=A opd=Dinas Bench"')
        timed = records[:sample]
        t0 = time.perf_counter()
        for cmd in timed:
            subprocess.run(["nsupdate", "-k", str(pair.client_key_file)], check=True, capture_output=True, text=True,
                           input=f"server {host} {port}\nzone {ZONE}\n{cmd}\nsend\n")
        dt = time.perf_counter() - t0
        assert zone_count(pair, pair.primary_addr) == existing + 4 + len(timed)
        return dt * len(records) / len(timed), len(timed)
    finally:
        pair.stop()


def ensure_octodns() -> Path:
    beside = Path(sys.executable).parent / "octodns-sync"
    if beside.exists():
        return beside
    sync = VENV / "bin" / "octodns-sync"
    if not sync.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "octodns", "octodns-bind"], check=True)
    return sync


def run_octodns(existing: int, n: int, sync: Path) -> float:
    pair = fresh(existing)
    try:
        with tempfile.TemporaryDirectory(prefix="kp-octo-") as tmp:
            d = Path(tmp)
            (d / "zones").mkdir()
            lines = [f"$ORIGIN {ZONE}", "$TTL 3600", "@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 300",
                     *pair.records]
            for name, ip in new_names(n):
                lines.append(f"{name} 300 IN A {ip}")
                lines.append(f'_provision-owner.{name} 300 IN TXT "kominfo-provision request=REQ-2026-0001 '
                             'types=A opd=Dinas Bench"')
            (d / "zones" / "batam.test.").write_text("\n".join(lines) + "\n")
            secret = pair.client_key_file.read_text().split('secret "')[1].split('"')[0]
            host, port = pair.primary_addr.rsplit(":", 1)
            (d / "config.yaml").write_text(
                "providers:\n  zonefile:\n    class: octodns_bind.ZoneFileSource\n"
                f"    directory: {d / 'zones'}\n  bind:\n    class: octodns_bind.Rfc2136Provider\n"
                f"    host: {host}\n    port: {port}\n    key_name: provision-key\n"
                f"    key_secret: {secret}\n    key_algorithm: hmac-sha256\n"
                # The default batch of 1,000 changes raises TooBig on this change
                # (octodns-bind #81): 500 records with ownership TXTs fit in 64 KiB.
                "    update_batch_size: 500\n"
                f"zones:\n  {ZONE}:\n    sources: [zonefile]\n    targets: [bind]\n")
            t0 = time.perf_counter()
            proc = subprocess.run([str(sync), "--config-file", str(d / "config.yaml"), "--doit"],
                                  capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"octodns-sync failed: {proc.stderr[-2000:]}")
            got = zone_count(pair, pair.primary_addr)
            assert got == existing + 4 + 2 * n, f"octoDNS left {got} records"
            return dt
    finally:
        pair.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--new", type=int, default=1000)
    ap.add_argument("--existing", type=int, default=2000)
    ap.add_argument("--nsupdate-sample", type=int, default=200)
    ap.add_argument("--skip", action="append", default=[], choices=["cli", "nsupdate", "octodns"])
    ap.add_argument("--smoke", action="store_true", help="a small size that runs in seconds (CI)")
    a = ap.parse_args()
    if a.smoke:
        a.runs, a.new, a.existing, a.nsupdate_sample, a.skip = 1, 20, 50, 10, []
    rows: list[tuple[str, list[float], str]] = []
    rows.append(("provider (plan+apply+verify)", [run_provider(a.existing, a.new) for _ in range(a.runs)], ""))
    rows.append(("provider, no wait for the secondary", [run_provider(a.existing, a.new, verify=False)
                                                          for _ in range(a.runs)], "read back from the primary only"))
    if "cli" not in a.skip:
        rows.append(("CLI `provision dns apply --yes`", [run_cli(a.existing, a.new) for _ in range(a.runs)], ""))
    if "nsupdate" not in a.skip:
        res = [run_nsupdate(a.existing, a.new, a.nsupdate_sample) for _ in range(a.runs)]
        rows.append(("nsupdate, one process per record", [r[0] for r in res],
                     f"extrapolated from {res[0][1]} of {2 * a.new} records"))
    if "octodns" not in a.skip:
        sync = ensure_octodns()
        rows.append(("octoDNS + octodns-bind sync", [run_octodns(a.existing, a.new, sync) for _ in range(a.runs)],
                     "update_batch_size 500 (default 1000: TooBig)"))
    base = statistics.median(rows[0][1])
    cli_rows = [r for r in rows if r[0].startswith("CLI")]
    cli = statistics.median(cli_rows[0][1]) if cli_rows else base
    print(f"\n{a.new} new subdomains (A + ownership TXT) into a zone of {a.existing} record sets; "
          f"BIND primary + secondary on loopback; median of {a.runs} runs\n")
    print(f"{'method':38} {'median s':>9} {'min s':>7} {'max s':>7} {'x provider':>10} {'x CLI':>7}  note")
    for name, times, note in rows:
        m = statistics.median(times)
        print(f"{name:38} {m:9.3f} {min(times):7.3f} {max(times):7.3f} {m / base:10.1f} {m / cli:7.1f}  {note}")
    octo = [statistics.median(t) for name, t, _ in rows if name.startswith("octoDNS")]
    if cli_rows and octo:
        print(f"\nCLI / octoDNS: {cli / octo[0]:.2f}x (target: at most 1.0x)")
    expected = 2 + (0 if "cli" in a.skip else 1) + (0 if "nsupdate" in a.skip else 1) + (0 if "octodns" in a.skip else 1)
    if len(rows) != expected or not all(t and all(0 < x < 3600 for x in t) for _, t, _ in rows):
        print(f"smoke: a method or a figure is missing: {rows}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
