"""A provision environment wired to the emulator, for the CLI tests and the benchmark."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.gitlab_emulator import GitLabEmulator
from tests.helpers import CliResult, run_cli

SPEC = """\
version: 1
application:
  slug: {slug}
  name: Sistem Informasi Sekolah
repository:
  members:
    - {{username: budi.dev, role: developer}}
    - {{username: siti_lead, role: maintainer}}
runtime:
  kind: php
  version: "8.2"
hosting:
  host: web1
"""


@dataclass
class Env:
    home: Path
    emulator: GitLabEmulator
    token: str
    key: str

    def config(self, **gitlab: object) -> None:
        """Rewrite the config file's [gitlab] section (values as TOML literals)."""
        values = {"url": f'"{self.emulator.url}"', "root_group": '"pemko-batam"', "team": '["kominfo.ops"]',
                  "deploy_key_file": f'"{self.home / "kominfo.pub"}"', "max_retries": "1", "timeout": "5",
                  "variables": '{APP_STAGE = "staging"}'}
        values.update({k: str(v) for k, v in gitlab.items()})
        lines = [f'[general]\nstate_dir = "{self.home / "state"}"\n', "[gitlab]"]
        lines += [f"{k} = {v}" for k, v in values.items()]
        (self.home / "provision.toml").write_text("\n".join(lines) + "\n")

    def emulator_keys(self, path: str) -> list[tuple[str, bool]]:
        """The project's deploy keys as GitLab's API lists them: (public key, can push)."""
        import gitlab

        from provision.gitlab.desired import key_body

        project = gitlab.Gitlab(self.emulator.url, private_token=self.token).projects.get(path)
        return [(key_body(k.key), k.can_push) for k in project.keys.list(get_all=True)]

    def open_request(self, slug: str = "sisekolah", opd: str = "disdik") -> str:
        r = run_cli("request", "open", "--opd-code", opd, "--opd-name", "Dinas Pendidikan", "--app",
                    "Sistem Informasi Sekolah", "--letter-number", "005/DISDIK/2026", "--letter-date",
                    "2026-11-02", "--json")
        assert r.exit_code == 0, r
        rid = r.json["id"]
        spec = self.home / f"{slug}.yaml"
        spec.write_text(SPEC.format(slug=slug))
        r = run_cli("spec", "set", rid, str(spec))
        assert r.exit_code == 0, r
        return rid


def setup_emulator(emulator: GitLabEmulator, home: Path) -> tuple[str, str]:
    """Users, the provisioner's token and the root group; a deploy key pair in `home`."""
    emulator.create_user("provisioner", "Kominfo Provisioner")
    token = emulator.create_token("provisioner", ["api"])
    for name in ("budi.dev", "siti_lead", "kominfo.ops"):
        emulator.create_user(name)
    emulator.create_group("pemko-batam", "Pemerintah Kota Batam", owner="provisioner")
    key = home / "kominfo"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kominfo", "-f", str(key)], check=True)
    return token, (home / "kominfo.pub").read_text().strip()


def apply(rid: str, *extra: str) -> CliResult:
    return run_cli("repo", "apply", rid, "--yes", *extra)
