"""Check results for machines: JSON, JUnit XML (GitLab's test report), Prometheus textfile.

Files are written to a temporary name and renamed, so a reader (GitLab's artifact upload,
node_exporter's textfile collector) never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from provision.checks.results import KINDS, Result, Summary, sort_results


def as_json(summary: Summary, run_id: str | None = None) -> dict[str, Any]:
    return {"run_id": run_id, "ok": summary.ok, "seconds": round(summary.seconds, 3),
            "setup_seconds": round(summary.setup_seconds, 3),
            "counts": summary.counts, "by_check": summary.by_kind(),
            "results": [r.as_dict() for r in sort_results(summary.results)]}


def junit(summary: Summary) -> bytes:
    """One <testsuite> per check kind, one <testcase> per result: fail -> <failure>; a
    warning passes there, with its message in <system-out>.

    GitLab's JUnit parser (lib/gitlab/ci/parsers/test/junit.rb) keeps text only from
    <failure>, <error> and <skipped>: a passing case's <system-out> is dropped, so a
    warning there would be invisible in the pipeline's Tests tab. Each warning is also a
    failing case in a last suite named "warnings" (type="warning"), which GitLab shows;
    the job's exit code still says whether a check failed."""
    root = ET.Element("testsuites", name="provision check",
                      tests=str(len(summary.results) + summary.counts["warn"]),
                      failures=str(summary.counts["fail"] + summary.counts["warn"]), time=f"{summary.seconds:.3f}")
    kinds = [k for k in KINDS if any(r.check == k for r in summary.results)]
    kinds += sorted({r.check for r in summary.results} - set(kinds))
    for kind in kinds:
        rs = sort_results([r for r in summary.results if r.check == kind])
        suite = ET.SubElement(root, "testsuite", name=kind, tests=str(len(rs)),
                              failures=str(sum(r.status == "fail" for r in rs)), errors="0", skipped="0",
                              time=f"{sum(r.duration for r in rs):.3f}")
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=f"{kind}.{r.request or 'zone'}",
                                 name=f"{r.request or 'zone'}: {r.name}", time=f"{r.duration:.3f}")
            if r.status == "fail":
                f = ET.SubElement(case, "failure", message=_clean(r.message), type="fail")
                f.text = _clean(r.message)
            elif r.status == "warn":
                ET.SubElement(case, "system-out").text = "WARNING: " + _clean(r.message)
    warns = sort_results([r for r in summary.results if r.status == "warn"])
    if warns:
        suite = ET.SubElement(root, "testsuite", name="warnings", tests=str(len(warns)),
                              failures=str(len(warns)), errors="0", skipped="0", time="0.000")
        for r in warns:
            case = ET.SubElement(suite, "testcase", classname=f"warnings.{r.check}",
                                 name=f"WARNING {r.check} {r.request or 'zone'}: {r.name}", time="0.000")
            f = ET.SubElement(case, "failure", message=_clean(r.message), type="warning")
            f.text = f"WARNING (not a failure: the check passed with a warning): {_clean(r.message)}"
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def _clean(text: str) -> str:
    # XML 1.0 cannot hold most control characters, whatever the escaping.
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


STATUS_VALUE = {"pass": 0, "warn": 1, "fail": 2}


def prometheus(summary: Summary, now: float | None = None) -> str:
    """Text exposition format for node_exporter's textfile collector."""
    lines = ["# HELP provision_check_status Result of one check: 0 pass, 1 warn, 2 fail.",
             "# TYPE provision_check_status gauge"]
    seen: set[tuple[str, str, str]] = set()
    results: list[Result] = []
    for r in sort_results(summary.results):  # one series per label set: the worst result wins
        k = (r.check, r.request or "", r.name)
        if k in seen:
            continue
        same = [x for x in summary.results if (x.check, x.request or "", x.name) == k]
        results.append(max(same, key=lambda x: STATUS_VALUE[x.status]))
        seen.add(k)
    for r in results:
        lines.append(f'provision_check_status{{check="{_label(r.check)}",request="{_label(r.request or "")}",'
                     f'name="{_label(r.name)}"}} {STATUS_VALUE[r.status]}')
    lines += ["# HELP provision_check_results Results of the last run by check and status.",
              "# TYPE provision_check_results gauge"]
    by = summary.by_kind()
    for kind in sorted(by):
        for status, n in by[kind].items():
            lines.append(f'provision_check_results{{check="{kind}",status="{status}"}} {n}')
    lines += ["# HELP provision_check_duration_seconds Wall time of the last run.",
              "# TYPE provision_check_duration_seconds gauge",
              f"provision_check_duration_seconds {summary.seconds:.3f}",
              "# HELP provision_check_last_run_timestamp_seconds When the last run ended.",
              "# TYPE provision_check_last_run_timestamp_seconds gauge",
              f"provision_check_last_run_timestamp_seconds {now if now is not None else time.time():.0f}",
              "# HELP provision_check_ok 1 when no check failed in the last run.",
              "# TYPE provision_check_ok gauge",
              f"provision_check_ok {1 if summary.ok else 0}"]
    return "\n".join(lines) + "\n"


def check_writable(path: str | Path, option: str) -> None:
    """Refuse (exit 2) an output file whose directory this user cannot write, before any
    check runs: a run that ends in PermissionError would hide the results it found."""
    from provision.errors import UsageError

    p = Path(path).expanduser()
    d = p.parent
    if not d.is_dir():
        raise UsageError(f"{option}: the directory {d} does not exist.",
                         f"Create it (mkdir -p {d}) with write access for this user, or choose another file.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=d)
    except OSError as e:
        import getpass

        raise UsageError(f"{option}: this user ({getpass.getuser()}) cannot write in {d} ({e.strerror}).",
                         f"Give the user write access (e.g. chgrp kominfo-provision {d} && chmod g+w {d}; "
                         "for the systemd unit also ReadWritePaths=) or choose another file.") from e
    os.close(fd)
    os.unlink(tmp)


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
