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
