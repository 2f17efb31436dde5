"""The scheduling examples in docs/scheduling are valid: systemd units by systemd-analyze
verify (with a strict parser as well), the cron line by a strict cron parser, the GitLab
job through the project's YAML loader."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provision.yamlsrc import load_yaml

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scheduling"
PROVISION = str(Path(sys.executable).parent / "provision")


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A strict unit-file reader: sections, Key=Value, comments; anything else is an error."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if m := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            current = m.group(1)
            assert current not in sections, f"line {n}: section [{current}] twice"
            sections[current] = []
            continue
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)=(.*)", line)
        assert m and current, f"line {n}: not Key=Value inside a section: {line!r}"
        sections[current].append((m.group(1), m.group(2)))
    return sections


def test_units_verify_with_systemd(tmp_path: Path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze is part of the test machine (systemd package)"
    for name in ("provision-check.service", "provision-check.timer"):
        text = (DOCS / name).read_text()
        # Only the binary's path changes: the CLI installed here instead of /usr/local/bin.
        (tmp_path / name).write_text(text.replace("/usr/local/bin/provision", PROVISION))
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "provision-check.service"),
                        str(tmp_path / "provision-check.timer")], capture_output=True, text=True, timeout=60)
    # verify exits 0 even for unknown keys; it warns on stderr, so stderr must be empty.
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    r = subprocess.run(["systemd-analyze", "calendar", "*-*-* 02:30:00 Asia/Jakarta"], capture_output=True, text=True)
    assert r.returncode == 0 and "Next elapse" in r.stdout, r.stderr


def test_units_parse_strictly_and_run_the_check() -> None:
    service = parse_unit((DOCS / "provision-check.service").read_text())
    timer = parse_unit((DOCS / "provision-check.timer").read_text())
    svc = dict(service["Service"])
    assert svc["Type"] == "oneshot"
    argv = svc["ExecStart"].split()
    assert argv[:2] == ["/usr/local/bin/provision", "check"]
    assert "--junit" in argv and "--prometheus" in argv
    t = dict(timer["Timer"])
    assert t["Unit"] == "provision-check.service" and t["Persistent"] == "true"
    assert dict(timer["Install"])["WantedBy"] == "timers.target"
    with pytest.raises(AssertionError, match="not Key=Value"):
        parse_unit("[Service]\nExecStart /bin/true\n")


def test_the_units_command_line_is_accepted_by_the_cli(tmp_path: Path) -> None:
    # Output files' directories must exist when the command starts: the unit's
    # StateDirectory= makes them (here under tmp_path, standing for /), and node-exporter's
    # textfile directory exists where it runs.
    svc = dict(parse_unit((DOCS / "provision-check.service").read_text())["Service"])
    for state in svc["StateDirectory"].split():
        (tmp_path / "var/lib" / state).mkdir(parents=True)
    (tmp_path / "var/lib/prometheus/node-exporter").mkdir(parents=True)
    argv = [a.replace("/var/lib/", f"{tmp_path}/var/lib/") for a in svc["ExecStart"].split()[1:]]
    from provision.cli import cli

    ctx = cli.make_context("provision", list(argv), resilient_parsing=False)
    sub = cli.get_command(ctx, argv[0])
    assert sub is not None
    sub_ctx = sub.make_context(argv[0], argv[1:], parent=ctx)
    assert sub_ctx.params["junit_file"] == tmp_path / "var/lib/kominfo-provision/check/junit.xml"
    assert sub_ctx.params["prom_file"].name == "provision_check.prom"


FIELD = {"minute": (0, 59), "hour": (0, 23), "dom": (1, 31), "month": (1, 12), "dow": (0, 7)}


def cron_field(text: str, lo: int, hi: int) -> None:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step:
            assert step.isdigit() and int(step) > 0, part
        if base == "*":
            continue
        a, _, b = base.partition("-")
        for v in (a, b) if b else (a,):
            assert v.isdigit() and lo <= int(v) <= hi, f"{part} outside {lo}-{hi}"


def test_cron_file() -> None:
    jobs, env = [], {}
    for line in (DOCS / "provision-check.cron").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if re.fullmatch(r"[A-Z_]+=\S.*", line):
            k, v = line.split("=", 1)
            env[k] = v
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"a /etc/cron.d line has 5 time fields, a user and a command: {line!r}"
        for text, (lo, hi) in zip(fields[:5], FIELD.values()):
            cron_field(text, lo, hi)
        jobs.append(fields)
    assert len(jobs) == 2
    check, remind = jobs
    assert check[:5] == ["30", "2", "*", "*", "*"] and check[5] == "root"
    # Debian 12's cron has no CRON_TZ: a line would silently run in host time.
    assert "CRON_TZ" not in env and "host's time zone" in (DOCS / "provision-check.cron").read_text().replace("HOST", "host")
    # root only creates the log directory the redirection writes to, then drops to the service user
    mkdir, _, rest = check[6].partition(" && ")
    assert mkdir == "install -d -o kominfo-provision -g kominfo-provision -m 0750 /var/log/kominfo-provision"
    assert rest.startswith("runuser -u kominfo-provision -- /usr/local/bin/provision check ")
    assert "> /var/log/kominfo-provision/check.log" in rest
    assert remind[5] == "root" and remind[6] == "runuser -u kominfo-provision -- /usr/local/bin/provision request remind"
    assert env["PROVISION_CONFIG"].endswith("provision.toml")
    with pytest.raises(AssertionError):
        cron_field("61", 0, 59)


def test_gitlab_ci_job_loads_and_reports_junit() -> None:
    data, lines = load_yaml((DOCS / "gitlab-ci.yml").read_text(), "gitlab-ci.yml")
    job = data["nightly-check"]
    assert job["stage"] in data["stages"]
    assert any("schedule" in r["if"] for r in job["rules"])
    command = next(s for s in job["script"] if s.startswith("/tmp/kp/bin/provision check"))
    junit = command.split("--junit ")[1].split()[0]
    assert job["artifacts"]["reports"]["junit"] == junit
    assert job["artifacts"]["when"] == "always"  # the report is kept when a check fails the job
    assert junit in job["artifacts"]["paths"]
    assert job["tags"] == ["kominfo-provision"]  # only the operations project's protected runner
    install = next(c for c in job["before_script"] if " install " in c)
    # a pinned version from the project's own wheelhouse, never a name from a public index
    assert "--no-index --find-links wheelhouse" in install and "==${PROVISION_VERSION}" in install
    assert "[postgresql]" in install and job["variables"]["PROVISION_VERSION"]
    assert "-c wheelhouse/constraints.txt" in install  # the versions the wheelhouse was built with
    pips = [c for c in job["before_script"] + job["script"] if "pip install" in c]
    assert pips == [install]  # nothing else is installed, from an index or otherwise
    assert "wheelhouse.tar.gz" in job["variables"]["WHEELHOUSE_URL"]
    assert lines[("nightly-check",)] > 1
