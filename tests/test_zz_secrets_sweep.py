"""Issue 9, item 6: after every other test of the session, no secret value used by the tests
is found outside the places secrets belong (tests/secret_sweep.py says what is scanned and
what is allowed). The plugin's collection hook runs `test_no_secret_outside_its_place` last."""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.secret_sweep import MIN_LEN, REGISTRY, Registry, collect_automatic, collect_private_keys, scan


def test_the_sweep_finds_a_planted_secret(tmp_path: Path) -> None:
    """The scanner reports each encoding, in plain files, SQLite, gzip and PDF streams, with
    the file and the kind; a 0600 secret file is allowed, the same file at 0644 is not."""
    token, pw, tsig = "glpat-PlantedToken0123", "Planted-DB-pass_4567", "c2VjcmV0LXRzaWctcGxhbnRlZA=="
    short = "abc123"
    tree = tmp_path / "home"
    (tree / "state" / "ansible" / "runs" / "r1" / "artifacts" / "run" / "job_events").mkdir(parents=True)
    (tree / "state" / "ansible" / "runs" / "r1" / "artifacts" / "run" / "job_events" / "1-x.json").write_text(
        f'{{"stdout": "DB_PASSWORD={pw}"}}')
    (tree / "audit.csv").write_text(f"1,hosting,url,https://x/?t={quote(token, safe='')}\n")
    (tree / "notes.txt").write_text(f"Authorization: Basic {base64.b64encode(('u:' + token).encode()).decode()}")
    (tree / "nginx.log.2.gz").write_bytes(gzip.compress(f"GET /?k={tsig} 200\n".encode()))
    content = zlib.compress(f"BT /F1 10 Tf ({pw}) Tj ET".encode())
    (tree / "rekomendasi.pdf").write_bytes(b"%PDF-1.3\n1 0 obj <</Filter /FlateDecode>>\nstream\n" + content
                                           + b"\nendstream\nendobj\n")
    import sqlite3
    db = sqlite3.connect(tree / "state" / "state.db")
    db.execute("create table audit (reason text)")
    db.execute("insert into audit values (?)", (f"failed with {token}",))
    db.commit()
    db.close()
    ok = tree / "gitlab-token"
    ok.write_text(token)
    os.chmod(ok, 0o600)
    bad = tree / "db-password"
    bad.write_text(pw)
    os.chmod(bad, 0o644)
    (tree / "short.txt").write_text(short)
    secrets = {token: "GitLab token", pw: "hosting database password", tsig: "TSIG key secret",
               short: "too short"}
    rep = scan([(tree, "provision home")], secrets)
    found = {(f.path.name, f.secret_kind, f.encoding) for f in rep.findings}
    assert found == {
        ("1-x.json", "hosting database password", "raw"),
        ("audit.csv", "GitLab token", "url-encoded") if quote(token, safe="") != token else
        ("audit.csv", "GitLab token", "raw"),
        ("notes.txt", "GitLab token", "base64"),
        ("nginx.log.2.gz", "TSIG key secret", "raw"),
        ("rekomendasi.pdf", "hosting database password", "raw"),
        ("state.db", "GitLab token", "raw"),
        ("db-password", "hosting database password", "raw"),
    }, rep.findings
    assert [(p.name, k) for p, _, k in rep.allowed] == [("gitlab-token", "GitLab token")]
    assert rep.too_short == 1 and rep.secrets == 3 and len(short) < MIN_LEN
    assert all(str(f.path).startswith(str(tree)) and "provision home" == f.root_kind for f in rep.findings)
    assert "provision home" in str(rep.findings[0])


def test_a_file_of_secrets_and_comments_is_allowed_a_log_line_is_not(tmp_path: Path) -> None:
    """A 0600 file made only of secrets (one a line) and comments is a secrets file (the
    notify URLs); the same secret in a 0600 file with any other text is a finding."""
    url, other = "json://127.0.0.1:9999/notify-planted", "tgram://planted-bot-token/12345"
    tree = tmp_path / "home"
    tree.mkdir()
    urls = tree / "notify-urls"
    urls.write_text(f"# the operators' channel\n{url}\n\n{other}\n")
    log = tree / "run.log"
    log.write_text(f"sending to\n{url}\n")
    for f in (urls, log):
        os.chmod(f, 0o600)
    rep = scan([(tree, "provision home")], {url: "notify URL", other: "notify URL"})
    assert sorted(p.name for p, _, _ in rep.allowed) == ["notify-urls", "notify-urls"]
    assert [(f.path.name, f.secret_kind) for f in rep.findings] == [("run.log", "notify URL")]


def test_the_sweep_reads_what_it_captured(tmp_path: Path) -> None:
    """What is deleted before the end (a server's upper dir) is kept by capture and scanned."""
    reg = Registry()
    upper = tmp_path / "upper"
    (upper / "var" / "log" / "nginx").mkdir(parents=True)
    (upper / "var" / "lib" / "mysql").mkdir(parents=True)
    (upper / "var" / "log" / "nginx" / "error.log").write_text("password=Captured-Secret-99\n")
    (upper / "var" / "lib" / "mysql" / "ib_logfile0").write_text("Captured-Secret-99")
    reg._evidence = tmp_path / "evidence"
    reg._evidence.mkdir()
    reg.add_root(reg._evidence, "captured")
    reg.capture_tree(upper, "server-kominfo9", "sandbox server kominfo9", skip=("var/lib/mysql",))
    import shutil
    shutil.rmtree(upper)
    reg.remember("Captured-Secret-99", "hosting database password")
    rep = scan(reg.roots, reg.secrets)
    assert [(f.path.name, f.root_kind) for f in rep.findings] == [("error.log", "captured sandbox server kominfo9")]


def test_the_sweep_finds_a_private_key_outside_its_file(tmp_path: Path) -> None:
    """A private key in the places swept is found and looked for everywhere: in its 0600
    file it is allowed; JSON-escaped in an artifact (newlines as \\n) it is a finding."""
    import json
    import subprocess

    key = tmp_path / "deploy" / "id_ed25519"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    events = tmp_path / "state" / "ansible" / "runs" / "r" / "artifacts" / "run" / "job_events"
    events.mkdir(parents=True)
    (events / "3-copy.json").write_text(json.dumps({"invocation": {"content": key.read_text()}}))
    (key.parent / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    reg = Registry()
    collect_private_keys(reg, [(tmp_path, "provision home")])
    assert list(reg.secrets.values()) == ["SSH private key"]
    rep = scan([(tmp_path, "provision home")], reg.secrets)
    assert [(f.path.name, f.secret_kind) for f in rep.findings] == [("3-copy.json", "SSH private key")]
    assert [p.name for p, _, _ in rep.allowed] == ["id_ed25519"]


def test_the_sweep_knows_secrets_given_by_environment_variables(tmp_path: Path) -> None:
    """Issue 13: a token or URL password that only the environment held (the toolkit never
    read it, so the redactor never learned it) is searched too; paths to secret files are not
    secrets. An artifact like ansible-runner's `command` before the allow-list is a finding."""
    from tests.secret_sweep import collect_env

    environ = {"PROVISION_GITLAB_TOKEN": "glpat-EnvOnlyToken-123456", "PGPASSWORD": "Pg-Env-Password-77",
               "DATABASE_URL": "postgresql://kp:Env%40UrlPass-987@127.0.0.1/kp", "CI_JOB_TOKEN": "short",
               "PROVISION_GITLAB_TOKEN_FILE": "/etc/provision/gitlab-token", "HOME": "/root"}
    reg = Registry()
    collect_env(reg, environ)
    assert reg.secrets == {"glpat-EnvOnlyToken-123456": "environment variable PROVISION_GITLAB_TOKEN",
                           "Pg-Env-Password-77": "environment variable PGPASSWORD",
                           "Env@UrlPass-987": "password in the URL of DATABASE_URL",
                           "short": "environment variable CI_JOB_TOKEN"}
    art = tmp_path / "state" / "ansible" / "runs" / "r1" / "artifacts" / "run"
    art.mkdir(parents=True)
    (art / "command").write_text(json.dumps({"command": ["ansible-playbook"], "env": environ}))
    os.chmod(art / "command", 0o600)
    rep = scan([(tmp_path, "provision home")], reg.secrets)
    assert sorted((f.path.name, f.secret_kind) for f in rep.findings) == [
        ("command", "environment variable PGPASSWORD"), ("command", "environment variable PROVISION_GITLAB_TOKEN"),
        ("command", "password in the URL of DATABASE_URL")], rep.findings


def test_no_secret_outside_its_place(request: pytest.FixtureRequest) -> None:
    others = [i for i in request.session.items if i.nodeid != request.node.nodeid]
    collect_automatic(REGISTRY)
    roots = list(REGISTRY.roots)
    collect_private_keys(REGISTRY, roots)
    started = time.monotonic()
    rep = scan(roots, REGISTRY.secrets)
    took = time.monotonic() - started
    REGISTRY.last_summary = f"{rep.summary()}\n  {len(rep.findings)} findings, in {took:.1f} s"
    print(REGISTRY.last_summary)
    errors = sorted(e for e in REGISTRY.sources if e.startswith("capture error"))
    assert not errors, errors
    assert not rep.findings, "secrets outside their place:\n" + "\n".join(map(str, rep.findings))
    if not others:
        return  # run alone: nothing else ran, so nothing was made to look for
    # An empty sweep must not pass when tests made secrets: what they used was registered and searched.
    # (A captured PostgreSQL database alone is a source without secrets: a run of only the
    # database tests has nothing to look for.)
    if REGISTRY.secrets or REGISTRY.sources - {"postgresql"}:
        assert rep.secrets > 0 and rep.files > 0, REGISTRY.last_summary
    missing = [f"{p} ({k})" for p, k in REGISTRY.roots if not p.exists()]
    assert not missing, f"roots gone before the sweep: {missing}"
    expected = {"bind": "TSIG key secret", "gitlab emulator": "GitLab token"}
    for source, kind in expected.items():
        if source in REGISTRY.sources:
            assert rep.kinds.get(kind), f"{source} ran but no {kind} was registered:\n{REGISTRY.last_summary}"
    if any(i.nodeid.endswith("test_server.py::test_apply_serves_tls_and_keeps_the_password_secret") for i in others):
        assert rep.kinds.get("hosting database password (server env file)"), \
            f"hosting ran on sandbox servers but no database password was read from them:\n{REGISTRY.last_summary}"
    if any(i.nodeid.endswith("test_secrets.py::test_secrets_reach_nothing") for i in others):
        assert any(k.startswith("redactor") for k in rep.kinds), REGISTRY.last_summary
