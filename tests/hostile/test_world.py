"""Hostile command-line arguments and configuration against real servers: the changing
commands (apply, dns, repo, hosting, install, rollback, test, exec, report) with a request
that is ready for them, the zone on BIND, the GitLab emulator and a sandbox Kominfo server.

Every case exits 2 naming the argument, option or configuration key, and nothing changes:
after each case the state database, the zone's serial and the emulator's call log
(no call at all) are compared; after each group, the whole zone (AXFR), the emulator's
objects and a hash of the server's /etc/nginx, /etc/php, /srv and accounts.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.sandbox.bind import BindPair
from tests.gitlab.cli_env import SPEC, setup_emulator
from tests.helpers import CliResult, run_cli
from tests.hostile.corpus import (
    BAD_TEXT,
    FORMAT,
    IDNA_VALUES,
    INVISIBLE,
    JINJA,
    LOOKALIKE,
    NEWLINE_NUL,
    NGINX,
    OVERLONG,
    SHELL,
    SQL,
    TRAVERSAL,
    WRONG_TYPE,
    YAML,
    Case,
    register,
)
from tests.hostile.test_records import snapshot
from tests.hosting.conftest import _environment
from tests.sandbox.bind_fixtures import HAND_RECORDS, ZONE

SERVER_STATE = ("find /etc/nginx /etc/php /srv -xdev \\( -type f -o -type l \\) -print0 2>/dev/null | sort -z "
                "| xargs -0 sha256sum 2>/dev/null; sha256sum /etc/passwd /etc/group; ls -la /srv /srv/* 2>/dev/null")


@dataclass
class World:
    home: Path
    rid: str
    bind: BindPair
    gitlab: Any
    server: Any
    base: dict[str, dict[str, Any]]

    def zone(self) -> str:
        host, port = self.bind.primary_addr.rsplit(":", 1)
        out = subprocess.run(["dig", "-k", str(self.bind.client_key_file), "-p", port, f"@{host}", ZONE, "AXFR",
                              "+nocomments", "+nostats", "+nocmd"], capture_output=True, text=True, timeout=20,
                             check=True).stdout
        lines = sorted(line for line in out.splitlines() if "\tTSIG\t" not in line and line.strip())
        assert any("\tSOA\t" in line for line in lines), out
        return "\n".join(lines)

    def serial(self) -> int | None:
        assert self.bind.primary is not None
        return self.bind.soa_serial(self.bind.primary.port)

    def gitlab_objects(self) -> tuple[int, ...]:
        st = self.gitlab.app.state
        return tuple(len(getattr(st, a, ())) for a in ("users", "groups", "projects", "deploy_keys"))

    def server_state(self) -> str:
        out = self.server.run(SERVER_STATE, check=False).stdout
        assert "/etc/passwd" in out and "/etc/nginx/" in out, out[-2000:]
        return hashlib.sha256(out.encode()).hexdigest()

    def everything(self) -> dict[str, Any]:
        return {"zone": self.zone(), "gitlab": self.gitlab_objects(), "server": self.server_state(),
                "state": snapshot(self.home)}

    def config_text(self, override: dict[str, dict[str, str]] | None = None) -> str:
        """The world's provision.toml with some values replaced (values are TOML literals)."""
        sections = {s: dict(v) for s, v in self.base.items()}
        for s, kv in (override or {}).items():
            sections.setdefault(s, {}).update(kv)
        return "".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) for s, kv in sections.items())


def _lit(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, list, dict, bool, int, float)) else str(value)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, gitlab_emulator: Any, sandbox: Any,
          kominfo_server: Any) -> Iterator[World]:
    home = tmp_path_factory.mktemp("hostile-world")
    bind = BindPair(zone=ZONE, records=HAND_RECORDS)
    bind.start()
    mp: pytest.MonkeyPatch | None = None
    try:
        gitlab_emulator.reset()
        token, _ = setup_emulator(gitlab_emulator, home)
        base = {
            "general": {"state_dir": _lit(str(home / "state"))},
            "dns": {"zone": _lit(ZONE), "primary": _lit(bind.primary_addr),
                    "tsig_key_file": _lit(str(bind.client_key_file)), "verify_servers": _lit(bind.servers),
                    "allow_private_addresses": "true"},
            "gitlab": {"url": _lit(gitlab_emulator.url), "root_group": _lit("pemko-batam"),
                       "team": _lit(["kominfo.ops"]), "deploy_key_file": _lit(str(home / "kominfo.pub")),
                       "max_retries": "1", "timeout": "5"},
            "hosting": {"inventory": _lit(str(sandbox.inventory)), "ssh_config": _lit(str(sandbox.ssh_config)),
                        "known_hosts": _lit(str(sandbox.known_hosts)), "tls_source": _lit("none"),
                        "repo_url": _lit("git://127.0.0.1:9/{slug}.git")},
        }
        w = World(home, "", bind, gitlab_emulator, kominfo_server, base)
        (home / "provision.toml").write_text(w.config_text())
        mp = _environment(home)  # this config, no stray PROVISION_*/CI variables, cwd = home
        mp.setenv("PROVISION_GITLAB_TOKEN", token)
        r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app",
                    "Sistem Informasi Sekolah", "--letter-number", "005/DISDIK/2026", "--letter-date", "2026-11-02",
                    "--json")
        assert r.exit_code == 0, r
        w.rid = r.json["id"]
        spec = home / "spec.yaml"
        spec.write_text(SPEC.format(slug="sisekolah").replace("host: web1", f"host: {kominfo_server.name}"))
        r = run_cli("spec", "set", w.rid, str(spec))
        assert r.exit_code == 0, r
        for n in range(1, 11):  # the manual steps: the request is ready for apply
            r = run_cli("request", "step", w.rid, str(n), "--done")
            assert r.exit_code == 0, r
        yield w
    finally:
        if mp is not None:
            mp.undo()
        bind.stop()


def rejected(world: World, cases: list[Any], invoke: Any) -> None:
    """Each case: exit 2, its field named, and after it the same state database, zone serial
    and no GitLab call. After the group: the same zone, GitLab objects and server files."""
    before = world.everything()
    serial = world.serial()
    world.gitlab.calls.reset()
    failures = []
    for case in cases:
        r, field = invoke(*case)
        state = snapshot(world.home)
        calls = len(world.gitlab.calls.calls)
        if r.exit_code != 2 or field not in r.stderr or state != before["state"] or calls or world.serial() != serial:
            failures.append(f"{case!r:.100}: {r!r:.500} (state changed: {state != before['state']}, "
                            f"GitLab calls: {calls}, serial: {world.serial()} was {serial})")
            before["state"] = state
            world.gitlab.calls.reset()
    assert not failures, f"{len(failures)} of {len(cases)} cases not rejected properly:\n" + "\n".join(failures)
    after = world.everything()
    assert after == before, "the world changed during rejected invocations"


# ---- command-line arguments ---------------------------------------------------------------

#: The changing commands, with REQ in its place, as they would be run.
COMMANDS: list[list[str]] = [
    ["apply", "REQ", "--yes"], ["apply", "REQ", "--dry-run"], ["dns", "plan", "REQ"], ["dns", "apply", "REQ", "--yes"],
    ["dns", "delete", "REQ", "--yes"], ["repo", "plan", "REQ"], ["repo", "apply", "REQ", "--yes"],
    ["repo", "archive", "REQ", "--yes"], ["repo", "delete", "REQ", "--purge", "--force", "--reason", "x", "--yes"],
    ["hosting", "plan", "REQ"], ["hosting", "apply", "REQ", "--yes"], ["hosting", "delete", "REQ", "--yes"],
    ["install", "REQ", "--ref", "v1.0.0", "--yes"], ["rollback", "REQ", "--yes"], ["test", "REQ"],
    ["exec", "REQ", "--", "id"], ["report", "berita-acara", "REQ"], ["report", "rekomendasi", "REQ"],
    ["spec", "set", "REQ", "spec.yaml"], ["request", "close", "REQ", "--reason", "x", "--yes"],
]
BAD_IDS: list[Case] = [
    (SHELL, "REQ-2026-0001;id"), (SHELL, "$(reboot)"), (NEWLINE_NUL, "REQ-2026-0001\n"), (NEWLINE_NUL, "REQ\x00"),
    (TRAVERSAL, "../REQ-2026-0001"), (SQL, "REQ-2026-0001' OR '1'='1"), (OVERLONG, "REQ-2026-" + "1" * 300),
    (INVISIBLE, "REQ-2026-0001\u200b"), (LOOKALIKE, "RЕQ-2026-0001"), (JINJA, "{{7*7}}"), (FORMAT, "req-2026-0001"),
    (SHELL, "REQ-2026-0001&&id"),
]
ID_CASES = register("argument", "REQ of every changing command",
                    [(cmd, c, v) for cmd in COMMANDS for c, v in BAD_IDS], category_of=lambda c: c[1])

REFS: list[Case] = [
    (SHELL, "v1;id"), (SHELL, "$(id)"), (SHELL, "`id`"), (SHELL, "-x"), (SHELL, "--upload-pack=touch /tmp/x"),
    (TRAVERSAL, "a..b"), (TRAVERSAL, "refs/../x"), (TRAVERSAL, "../v1"), (NEWLINE_NUL, "v1\x00"),
    (NEWLINE_NUL, "v1\nv2"), (NEWLINE_NUL, "v1.0.0\n"), (OVERLONG, "v" * 300), (FORMAT, ""), (FORMAT, "v1.lock"),
    (FORMAT, "HEAD@{1}"), (INVISIBLE, "v1\u202e"), (LOOKALIKE, "ｖ1"), (SHELL, "a b"), (JINJA, "{{ref}}"),
]
REQ_ARG = "__REQ__"
OPTION_CASES: list[tuple[list[str], str, str, str]] = (
    [(["apply", REQ_ARG, "--yes", "--ref"], "--ref", c, v) for c, v in REFS]
    + [(["install", REQ_ARG, "--yes", "--ref"], "--ref", c, v) for c, v in REFS]
    + [(["rollback", REQ_ARG, "--yes", "--to"], "--to", c, v) for c, v in
       [(SHELL, "abc1234;id"), (FORMAT, "abc12"), (NEWLINE_NUL, "abc1234\n"), (TRAVERSAL, "../abc1234"),
        (OVERLONG, "a" * 65), (FORMAT, "HEAD~1")]]
    + [(cmd, "--reason", c, v) for cmd in (["dns", "apply", REQ_ARG, "--force", "--yes", "--reason"],
                                           ["dns", "delete", REQ_ARG, "--force", "--yes", "--reason"],
                                           ["hosting", "apply", REQ_ARG, "--force", "--yes", "--reason"],
                                           ["hosting", "delete", REQ_ARG, "--purge", "--force", "--yes", "--reason"],
                                           ["repo", "delete", REQ_ARG, "--purge", "--force", "--yes", "--reason"])
       for c, v in BAD_TEXT]
    + [(cmd, "--checksum", c, v) for cmd in (["dns", "apply", REQ_ARG, "--yes", "--checksum"],
                                             ["repo", "apply", REQ_ARG, "--yes", "--checksum"])
       for c, v in [(SHELL, "abc;id"), (NEWLINE_NUL, "0123456789abcdef\n"), (OVERLONG, "0" * 100),
                    (FORMAT, "XYZ"), (SQL, "' OR 1=1--")]]
    + [(cmd, "--env", c, v) for cmd in (["install", REQ_ARG, "--ref", "v1.0.0", "--yes", "--env"],
                                        ["rollback", REQ_ARG, "--yes", "--env"], ["test", REQ_ARG, "--env"])
       for c, v in [(SHELL, "production;id"), (TRAVERSAL, "../staging"), (NEWLINE_NUL, "staging\n"),
                    (FORMAT, "STAGING"), (LOOKALIKE, "ѕtaging")]]
    + [(["apply", REQ_ARG, "--yes", "--until"], "--until", c, v) for c, v in
       [(FORMAT, "16"), (SHELL, "11;id"), (FORMAT, ""), (WRONG_TYPE, "x")]]
    + [(["dns", "apply", REQ_ARG, "--yes", "--lock-timeout"], "--lock-timeout", c, v) for c, v in
       [(WRONG_TYPE, "nan"), (WRONG_TYPE, "inf"), (FORMAT, "-1"), (WRONG_TYPE, "1e999"), (WRONG_TYPE, "soon")]]
    + [(["test", REQ_ARG, "--junit"], "--junit", c, v) for c, v in
       [(NEWLINE_NUL, "a\nb.xml"), (TRAVERSAL, "/nonexistent/../x.xml"), (FORMAT, "/tmp"),
        (OVERLONG, "x" * 300 + ".xml"), (INVISIBLE, "r\u202elmx.xml")]]
    + [(["check", "--prometheus"], "--prometheus", c, v) for c, v in
       [(NEWLINE_NUL, "a\nb.prom"), (TRAVERSAL, "/nonexistent/x.prom")]]
    + [(["exec", REQ_ARG, "--"], "COMMAND", c, v) for c, v in
       [(NEWLINE_NUL, "ls\nrm -rf /"), (NEWLINE_NUL, "ls\x00"), (INVISIBLE, "\x1b[2Jls"), (INVISIBLE, "ls\u202e"),
        (OVERLONG, "x" * 9000)]]
    + [(["report", "berita-acara", REQ_ARG, "--test-run"], "--test-run", c, v) for c, v in
       [(FORMAT, "-1"), (WRONG_TYPE, "x"), (SHELL, "1;2"), (OVERLONG, "9" * 30)]]
    + [(["dns", "list", "--zone"], "--zone", c, v) for c, v in IDNA_VALUES + [
        (LOOKALIKE, "bаtam.test"), (SHELL, "batam.test;id"), (NGINX, "x; }"), (YAML, "*alias")]]
)
OPTION_CASES = register("argument", "options of the changing commands", OPTION_CASES, category_of=lambda c: c[2])


def test_request_ids_rejected(world: World) -> None:
    def invoke(cmd: list[str], category: str, value: str) -> tuple[CliResult, str]:
        return run_cli(*[value if a == "REQ" else a for a in cmd]), "REQ"

    rejected(world, ID_CASES, invoke)


def test_options_rejected(world: World) -> None:
    def invoke(cmd: list[str], field: str, category: str, value: str) -> tuple[CliResult, str]:
        return run_cli(*[world.rid if a == REQ_ARG else a for a in cmd], value), field

    rejected(world, OPTION_CASES, invoke)


# ---- configuration ------------------------------------------------------------------------

#: (key, value) for an environment override PROVISION_SECTION_KEY (a string, as the shell gives it).
ENV_CASES: list[tuple[str, str, str]] = [
    *[("dns.zone", c, v) for c, v in IDNA_VALUES + [
        (LOOKALIKE, "bаtam.test"), (LOOKALIKE, "ｂａｔａｍ.test"), (INVISIBLE, "batam\u200b.test"),
        (INVISIBLE, "batam.test\u202e"), (SHELL, "batam.test;id"), (SHELL, "$(hostname).test"),
        (NGINX, "batam.test; }"), (OVERLONG, ("a" * 60 + ".") * 5 + "test"), (TRAVERSAL, "../batam.test"),
        (NEWLINE_NUL, "batam.test\n"), (JINJA, "{{zone}}.test")]],
    *[("gitlab.url", c, v) for c, v in [
        (TRAVERSAL, "file:///etc/passwd"), (SQL, "https://u:p@gitlab.example"),
        (FORMAT, "https://oauth2:glpat-xyz@gitlab.example/"), (SHELL, "https://gitlab example"),
        (FORMAT, "ftp://gitlab.example"), (JINJA, "javascript:alert(1)"), (FORMAT, "https://"),
        (FORMAT, "https://gitlab.example/?private_token=x"), (SHELL, "http://a;b/"),
        (NEWLINE_NUL, "https://gitlab.example\n"), (IDNA_VALUES[0][0], "https://xn--zz/"),
        (LOOKALIKE, "https://gіtlab.example"), (OVERLONG, "https://" + "a" * 20000)]],
    *[("dns.primary", c, v) for c, v in [
        (SHELL, "127.0.0.1:53;id"), (SHELL, "$(id):53"), (FORMAT, "127.0.0.1"), (FORMAT, "127.0.0.1:99999"),
        (NEWLINE_NUL, "127.0.0.1:53\n"), (IDNA_VALUES[0][0], "xn--zz:53")]],
    *[("dns.verify_servers", c, v) for c, v in [(SHELL, "127.0.0.1:53,a b:53"), (FORMAT, '["127.0.0.1"]')]],
    *[("dns.tsig_key_file", c, v) for c, v in [(TRAVERSAL, "/etc/kominfo/../../root/key"),
                                               (NEWLINE_NUL, "/etc/key\n")]],
    *[("hosting.apps_root", c, v) for c, v in [
        (SHELL, "/srv/apps;id"), (TRAVERSAL, "/srv/../etc"), (FORMAT, "srv/apps"), (JINJA, "/srv/{{7*7}}"),
        (NGINX, "/srv/apps; }"), (SHELL, "/srv/a pps")]],
    *[("hosting.repo_url", c, v) for c, v in [
        (TRAVERSAL, "file:///srv/x.git"), (JINJA, "git://h/{slug.__class__}.git"), (SHELL, "ssh://h/x;id"),
        (SHELL, "git://h/{slug}.git; rm -rf /"), (JINJA, "{0}"), (SHELL, "ext::sh -c touch% /tmp/pwned"),
        (FORMAT, "https://u:p@h/{slug}.git")]],
    *[("hosting.aliases", c, v) for c, v in [(IDNA_VALUES[0][0], "xn--zz"), (SHELL, "a;b"),
                                             (LOOKALIKE, "wwԝ.example")]],
    *[("hosting.acme_server", c, v) for c, v in [(TRAVERSAL, "file:///etc/passwd"), (SHELL, "https://a b")]],
    *[("hosting.acme_email", c, v) for c, v in [(SHELL, "a@b.example;id"), (NEWLINE_NUL, "a@b.example\nBcc: x")]],
    *[("reports.number_format", c, v) for c, v in [
        (JINJA, "{seq.__class__.__mro__}"), (JINJA, "{seq!r}"), (JINJA, "{{7*7}}"), (JINJA, "{0}"),
        (NEWLINE_NUL, "{seq}\n"), (JINJA, "{seq:{kind}}")]],
    *[("reports.letterhead", c, v) for c, v in [(NEWLINE_NUL, '["a\\nb"]'), (INVISIBLE, '["a\\u202eb"]')]],
    *[("reports.signatory_name", c, v) for c, v in [(INVISIBLE, "Budi\u200b"), (OVERLONG, "B" * 400)]],
    *[("gitlab.root_group", c, v) for c, v in [(TRAVERSAL, "../x"), (SHELL, "a;b"), (TRAVERSAL, "/abs")]],
    *[("gitlab.team", c, v) for c, v in [(SHELL, "ani,a;b"), (NEWLINE_NUL, '["x\\n"]'), (SQL, "x' OR 1=1")]],
    *[("gitlab.variables", c, v) for c, v in [(SHELL, '{"A;B": "x"}'), (NEWLINE_NUL, '{"A": "x\\ny"}'),
                                              (WRONG_TYPE, '["A"]'), (WRONG_TYPE, '{"A": ')]],
    *[("general.timezone", c, v) for c, v in [(TRAVERSAL, "../../etc/passwd"), (SHELL, "Asia/Jakarta;id"),
                                              (FORMAT, "Mars/Olympus")]],
    *[("general.organisation", c, v) for c, v in [(INVISIBLE, "a\u202eb"), (OVERLONG, "x" * 300),
                                                  (FORMAT, "   ")]],
    *[("general.state_dir", c, v) for c, v in [(TRAVERSAL, "/var/lib/../../etc")]],
    *[("general.request_id_prefix", c, v) for c, v in [(SHELL, "R;Q"), (SQL, "' OR 1=1")]],
    *[("checks.connect_to", c, v) for c, v in [(SHELL, '{"a.test:443": "1.2.3.4:443;id"}')]],
    *[("checks.probe_networks", c, v) for c, v in [(FORMAT, "127.0.0.0/33"), (SHELL, "0.0.0.0/0;id")]],
    *[("checks.probe_ports", c, v) for c, v in [(FORMAT, "0"), (WRONG_TYPE, "http")]],
    *[("checks.resolvers", c, v) for c, v in [(SHELL, "1.1.1.1:53;id")]],
    *[("names.reserved", c, v) for c, v in [(SHELL, "www,a;b"), (LOOKALIKE, "ԝԝԝ")]],
    *[("sop.holidays", c, v) for c, v in [(FORMAT, "2026-02-30"), (SHELL, "$(date)")]],
    *[("database.url", c, v) for c, v in [(SHELL, "sqlite:///x; rm -rf /"), (FORMAT, "mysql://x/y")]],
    *[("dns.timeout", c, v) for c, v in [(WRONG_TYPE, "soon"), (WRONG_TYPE, "nan"), (WRONG_TYPE, "inf")]],
    *[("dns.ttl_min", c, v) for c, v in [(WRONG_TYPE, "1.5"), (FORMAT, "-5")]],
    *[("dns.allow_private_addresses", c, v) for c, v in [(WRONG_TYPE, "maybe")]],
    *[("general.max_attachment_mb", c, v) for c, v in [(FORMAT, "0"), (FORMAT, "99999"), (WRONG_TYPE, "1MB")]],
]
ENV_CASES = register("config", "environment", ENV_CASES, category_of=lambda c: c[1])

#: (section, key, TOML literal): values in provision.toml, including what the environment cannot hold.
FILE_CASES: list[tuple[str, str, str, str]] = [
    ("dns", "zone", WRONG_TYPE, "5"), ("dns", "zone", NEWLINE_NUL, '"batam\\u0000.test"'),
    ("dns", "zone", IDNA_VALUES[0][0], '"xn--zz"'), ("dns", "zone", IDNA_VALUES[0][0], '"a..b"'),
    ("dns", "zone", OVERLONG, json.dumps("l" * 64 + ".test")),
    ("dns", "timeout", WRONG_TYPE, '"5"'), ("dns", "timeout", WRONG_TYPE, "nan"), ("dns", "timeout", WRONG_TYPE, "inf"),
    ("dns", "allow_private_addresses", WRONG_TYPE, '"yes"'), ("dns", "ttl_min", WRONG_TYPE, "60.5"),
    ("dns", "tsig_key_file", NEWLINE_NUL, '"/etc/key\\u0000x"'), ("gitlab", "team", WRONG_TYPE, '"ani"'),
    ("gitlab", "max_retries", WRONG_TYPE, "true"), ("checks", "probe_ports", WRONG_TYPE, '["80"]'),
    ("gitlab", "url", TRAVERSAL, '"file:///etc/passwd"'), ("gitlab", "url", SQL, '"https://u:pw@gitlab.example"'),
    ("hosting", "repo_url", TRAVERSAL, '"file:///srv/{slug}.git"'),
    ("reports", "number_format", JINJA, '"{seq.__init__.__globals__}"'),
    ("hosting", "apps_root", NGINX, '"/srv/apps; include /etc/shadow;"'),
    ("gitlab", "root_group", YAML, '"!!python/object:os.system"'), ("hosting", "aliases", YAML, '["*alias"]'),
    ("general", "organisation", NEWLINE_NUL, '"Dinas\\r\\nX: y"'),
    ("reports", "letterhead", WRONG_TYPE, '"PEMERINTAH"'), ("reports", "letterhead", OVERLONG, json.dumps(["L"] * 40)),
    ("gitlab", "variables", WRONG_TYPE, '{A = 1}'), ("hosting", "forks", WRONG_TYPE, '"10"'),
]
FILE_CASES = register("config", "file", FILE_CASES, category_of=lambda c: c[2])

#: A command that reads the configuration to check it, and changing ones that must stop on it.
CONFIG_COMMANDS = [["config", "check"], ["dns", "apply", REQ_ARG, "--yes"], ["apply", REQ_ARG, "--until", "11", "--yes"]]


def test_environment_overrides_rejected(world: World) -> None:
    def invoke(key: str, category: str, value: str) -> tuple[CliResult, str]:
        var = "PROVISION_" + key.replace(".", "_").upper()
        results = [run_cli(*[world.rid if a == REQ_ARG else a for a in cmd], env={var: value})
                   for cmd in CONFIG_COMMANDS]
        worst = next((r for r in results if r.exit_code != 2 or key not in r.stderr), results[0])
        return worst, key

    rejected(world, ENV_CASES, invoke)


def test_configuration_file_values_rejected(world: World) -> None:
    bad = world.home / "bad.toml"

    def invoke(section: str, key: str, category: str, literal: str) -> tuple[CliResult, str]:
        bad.write_text(world.config_text({section: {key: literal}}))
        results = [run_cli("--config", str(bad), *[world.rid if a == REQ_ARG else a for a in cmd])
                   for cmd in CONFIG_COMMANDS]
        worst = next((r for r in results if r.exit_code != 2 or f"{section}.{key}" not in r.stderr), results[0])
        assert "pw@" not in worst.stderr and "glpat" not in worst.stderr  # credentials are not echoed
        return worst, f"{section}.{key}"

    rejected(world, FILE_CASES, invoke)
