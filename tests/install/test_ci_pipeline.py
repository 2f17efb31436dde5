"""The release pipeline end to end: a vendor pushes a protected tag to the emulator with
real git, the emulator says which file runs (Kominfo's install.yml) with which variables,
gitlab-ci-local runs that file with the shell executor and those variables, and the job's
`provision install` proves who it is for and installs the tag's commit on the sandbox
server, which fetches it from the emulator over HTTP (through a tunnel into the server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.gitlab_emulator import GitLabEmulator
from tests.gitlab.ci_env import OPS, Vendor, gitlab_config, last_pipeline, open_and_apply, prepare_gitlab
from tests.gitlab.test_ci_local import gitlab_ci_local
from tests.helpers import run_cli
from tests.install.conftest import APPS, served, write_config

pytestmark = [pytest.mark.root, pytest.mark.slow]
PATH = "pemko-batam/disdik/portal-statis"


def test_a_protected_tag_is_installed_by_kominfos_pipeline(provision_home: Path, sandbox, kominfo_server,  # type: ignore[no-untyped-def]
                                                           gitlab: GitLabEmulator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.sandbox.tunnel import Tunnel

    port = int(gitlab.url.rsplit(":", 1)[1])
    tunnel = Tunnel(kominfo_server, port)
    tunnel.start()
    try:
        token = prepare_gitlab(gitlab, provision_home, visibility="public")
        monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
        write_config(provision_home, sandbox, port, gitlab_config(gitlab, provision_home))
        cfg = provision_home / "provision.toml"
        cfg.write_text(cfg.read_text().replace(
            f"git://127.0.0.1:{port}/{{slug}}.git", f"http://127.0.0.1:{port}/{{root_group}}/{{group}}/{{slug}}.git"))
        spec = (APPS / "static" / "spec.yaml").read_text().replace("host: kominfo1", f"host: {kominfo_server.name}")
        spec = spec.replace("runtime:", "repository:\n  visibility: public\n  members:\n"
                                        "    - {username: siti_lead, role: maintainer}\nruntime:")
        rid = open_and_apply(provision_home, "portal-statis", spec)
        vendor = Vendor(gitlab, "siti_lead", provision_home / "work")
        vendor.clone(PATH)
        files = {rel.name: rel.read_text() for rel in (APPS / "static").iterdir() if rel.is_file()}
        files[".gitlab-ci.yml"] = "steal:\n  script: [echo VENDOR-CODE-RAN]\n"
        sha = vendor.commit(files)
        vendor.tag("v1.0.0")
        vendor.push("main", "v1.0.0")
        p = last_pipeline(gitlab, "v1.0.0")
        assert p.config_project == OPS and "VENDOR-CODE-RAN" not in p.content
        run = gitlab_ci_local(provision_home / "ci", p.content, p.variables)
        out = run.stdout + run.stderr
        assert run.returncode == 0, out
        assert "VENDOR-CODE-RAN" not in out
        assert f"GitLab CI: protected tag v1.0.0 of {PATH} at commit {sha[:12]}" in out, out
        assert f"Installed v1.0.0 (commit {sha[:12]}) of {rid}" in out, out
        assert "Portal Statis Pemko" in served(kominfo_server, "portal-statis-staging.batam.go.id")
        log = run_cli("audit", "log", rid, "--json")
        assert log.exit_code == 0, log
        installs = [e for e in log.json if e["provider"] == "install" and e["outcome"] == "succeeded"]
        assert installs and installs[-1]["after"]["commit"] == sha, installs
    finally:
        tunnel.stop()
