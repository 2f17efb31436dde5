"""Known secret values never reach the database, exports, output or logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.test_requests import open_request

TOKEN = "glpat-Zx9secretTOKENvalue"
DBPASS = "db-Secret-Pass-777"
TOKEN_FILE_VALUE = "file-secret-0123456789"


def test_secrets_reach_nothing(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", TOKEN)
    pw = provision_home / "dbpass"
    pw.write_text(DBPASS)
    os.chmod(pw, 0o600)
    monkeypatch.setenv("PROVISION_DATABASE_PASSWORD_FILE", str(pw))
    outputs = []
    rid = open_request()
    # an operator pasting a secret where it does not belong: masked, not stored
    for args in (["request", "step", rid, "1", "--done", "--note", f"token {TOKEN} ok",
                  "--output-ref", DBPASS],
                 ["config", "show"], ["config", "show", "--json"], ["config", "check"],
                 ["request", "show", rid, "--json"], ["audit", "log", "--json"],
                 ["audit", "export", "--format", "csv"], ["audit", "export"],
                 ["spec", "set", rid, f"/nonexistent/{TOKEN}.yaml"]):
        r = run_cli(*args)
        outputs.append(r.stdout + r.stderr)
    blob = "\n".join(outputs)
    assert "****" in blob
    state = provision_home / "state"
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "state.db" for p in files)
    for secret in (TOKEN, DBPASS):
        assert secret not in blob
        for p in files:
            assert secret.encode() not in p.read_bytes(), p


# ---- issue 13, item 2: every configured secret is known before anything is written ----------

def _tables(db: Path) -> str:
    """Every row of the tables a command writes free text into, as one text."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        rows = []
        for t in ("request_steps", "runs", "audit_events", "requests"):
            rows += [repr(r) for r in con.execute(f"SELECT * FROM {t}")]  # noqa: S608 - fixed names
    finally:
        con.close()
    return "\n".join(rows)


def test_file_secrets_pasted_into_free_text_are_masked(provision_home: Path) -> None:
    """A secret read from a file (token_file, TSIG key, database password file, a secret
    CI/CD variable file, the request's secrets file) pasted into --note, --output-ref or a
    reason never reaches request_steps, runs.command, audit_events, nor the output."""
    import base64
    import secrets as pysecrets

    token = "glpat-" + pysecrets.token_hex(12)
    tsig = base64.b64encode(pysecrets.token_bytes(32)).decode()
    dbpass = "dbpw-" + pysecrets.token_hex(8)
    cipass = "ci-" + pysecrets.token_hex(10)
    appsecret = "app-" + pysecrets.token_hex(10)
    files = {
        "token": (provision_home / "gitlab.token", token + "\n"),
        "tsig": (provision_home / "tsig.key", f'key "provision." {{\n\talgorithm hmac-sha256;\n\tsecret "{tsig}";\n}};\n'),
        "db": (provision_home / "db-password", dbpass),
        "ci": (provision_home / "ci.secret", cipass),
    }
    for path, text in files.values():
        path.write_text(text)
        os.chmod(path, 0o600)
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text() + f'[database]\npassword_file = "{files["db"][0]}"\n'
                   f'[dns]\nzone = "kota.test"\ntsig_key_file = "{files["tsig"][0]}"\n'
                   f'[gitlab]\ntoken_file = "{files["token"][0]}"\n'
                   f'[gitlab.variable_files]\nDEPLOY_PASSWORD = "{files["ci"][0]}"\n')
    rid = open_request()
    (provision_home / "state" / "secrets").mkdir(mode=0o700)
    envfile = provision_home / "state" / "secrets" / f"{rid}.env"
    envfile.write_text(f"APP_KEY={appsecret}\n")
    os.chmod(envfile, 0o600)
    r1 = run_cli("request", "step", rid, "1", "--done", "--note", f"token {token} and tsig {tsig}",
                 "--output-ref", dbpass)
    r2 = run_cli("request", "step", rid, "3", "--done", "--out-of-order", "--reason", f"skip {cipass}",
                 "--note", f"app {appsecret}")
    r3 = run_cli("request", "show", rid, "--json")
    for r in (r1, r2, r3):
        assert r.exit_code == 0, r
    stored = _tables(provision_home / "state" / "state.db")
    shown = "\n".join(r.stdout + r.stderr for r in (r1, r2, r3))
    assert "****" in stored and "****" in shown
    for secret in (token, tsig, dbpass, cipass, appsecret):
        assert secret not in stored, secret
        assert secret not in shown, secret


def test_text_stored_before_a_secret_was_known_is_masked_when_shown(provision_home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets as pysecrets

    later = "later-" + pysecrets.token_hex(10)
    rid = open_request()
    r = run_cli("request", "step", rid, "1", "--done", "--note", f"pasted {later}")
    assert r.exit_code == 0, r
    assert later in _tables(provision_home / "state" / "state.db")  # not a secret yet
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", later)  # now it is
    for args in (["request", "show", rid, "--json"], ["audit", "log", "--json"], ["request", "show", rid]):
        r = run_cli(*args)
        assert r.exit_code == 0, r
        assert later not in r.stdout + r.stderr, args
    # The value was stored in clear on purpose (it was no secret then); the secrets sweep,
    # which knows every value the redactor learned, must not find this test's state.
    import shutil

    shutil.rmtree(provision_home / "state")


# ---- issue 13, item 6: bounded text work ----------------------------------------------------

def test_a_huge_argument_is_refused_quickly_and_named(provision_home: Path) -> None:
    import time

    rid = open_request()
    for args, name in ((["--note", "x" * 100_000], "--note"), ([f"--note={'y' * 100_000}"], "--note"),
                       (["--output-ref", "a://b:" * 20_000], "--output-ref")):
        start = time.perf_counter()
        r = run_cli("request", "step", rid, "1", "--done", *args)
        took = time.perf_counter() - start
        print(f"{name} of {len(args[-1])} characters refused in {took * 1000:.1f} ms")
        assert r.exit_code == 2, r
        assert f"the value of {name} is " in r.stderr and "the limit is 16384" in r.stderr, r.stderr
        assert took < 0.5, took
    r = run_cli("request", "show", rid, "--json")
    assert r.json["steps"][0]["status"] != "done"


@pytest.mark.parametrize("text", ["a" * 1_000_000, "a://b:" * 200_000, "ab://" * 200_000,
                                  "http://u:" + "p" * 1_000_000, "a:" * 500_000, "x@" * 500_000,
                                  ("a://b:" + "x/" * 125) * 4000, ("a://b:" + "x" * 250) * 4000])
def test_the_redactor_is_linear(text: str) -> None:
    """Each pattern has bounded repetitions: a million pathological characters take well
    under a second (an unbounded pattern took 8.4 s on 40,000)."""
    import time

    from provision.secrets import REDACTOR

    start = time.perf_counter()
    REDACTOR.text(text)
    took = time.perf_counter() - start
    print(f"{len(text)} characters redacted in {took * 1000:.1f} ms")
    assert took < 2.0, took  # about 0.03-0.4 s on an idle core


def test_the_redactor_still_masks_url_passwords() -> None:
    from provision.secrets import REDACTOR

    assert REDACTOR.text("postgresql+psycopg://prov:s3cret@db/x and https://u:p%40ss@h/ sqlite://a:b/c:d@e") == \
        "postgresql+psycopg://prov:****@db/x and https://u:****@h/ sqlite://a:****@e"
