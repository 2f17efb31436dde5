"""Configuration: search order, environment overrides, sources, secrets, validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provision.config import load_config
from provision.errors import ValidationError
from tests.helpers import run_cli


def write(p: Path, text: str, mode: int = 0o644) -> Path:
    p.write_text(text)
    os.chmod(p, mode)
    return p


def test_search_order_explicit_env_cwd(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = write(provision_home / "a.toml", '[dns]\nzone = "a.test"\n')
    b = write(provision_home / "b.toml", '[dns]\nzone = "b.test"\n')
    write(provision_home / "provision.toml", '[dns]\nzone = "cwd.test"\n')
    monkeypatch.setenv("PROVISION_CONFIG", str(b))
    assert load_config(str(a)).dns.zone == "a.test"
    assert load_config().dns.zone == "b.test"
    monkeypatch.delenv("PROVISION_CONFIG")
    assert load_config().dns.zone == "cwd.test"


def test_env_overrides_file_and_show_names_source(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text() + '[dns]\nzone = "file.test"\nttl_min = 120\n')
    monkeypatch.setenv("PROVISION_DNS_ZONE", "env.test")
    monkeypatch.setenv("PROVISION_GITLAB_TEAM", "ani,budi")
    monkeypatch.setenv("PROVISION_DNS_ALLOW_PRIVATE_ADDRESSES", "yes")
    c = load_config()
    assert c.dns.zone == "env.test"
    assert c.dns.ttl_min == 120
    assert c.gitlab.team == ["ani", "budi"]
    assert c.dns.allow_private_addresses is True
    r = run_cli("config", "show", "--json")
    assert r.exit_code == 0, r
    keys = {k["key"]: k for k in r.json["keys"]}
    assert keys["dns.zone"]["source"] == "env:PROVISION_DNS_ZONE"
    assert keys["dns.ttl_min"]["source"] == f"file:{cfg}"
    assert keys["dns.timeout"]["source"] == "default"


def test_secret_in_file_is_refused(provision_home: Path) -> None:
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text() + '[gitlab]\ntoken = "glpat-abcdefghijklmnop"\n')
    r = run_cli("config", "show")
    assert r.exit_code == 2, r
    assert "gitlab.token" in r.stderr and "PROVISION_GITLAB_TOKEN" in r.stderr
    assert "glpat-abcdefghijklmnop" not in r.stderr + r.stdout


def test_secret_file_readable_by_others_is_refused(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = write(provision_home / "token", "glpat-secret-value-123\n", 0o644)
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN_FILE", str(token))
    r = run_cli("config", "check")
    assert r.exit_code == 2, r
    assert f"chmod 600 {token}" in r.stderr
    os.chmod(token, 0o600)
    r = run_cli("config", "check")
    assert r.exit_code == 0, r
    assert "Configuration OK" in r.stdout


def test_show_redacts_secrets(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", "glpat-very-secret-0001")
    monkeypatch.setenv("PROVISION_DATABASE_URL", "postgresql+psycopg://prov:pg-pass-0001@127.0.0.1:1/x")
    r = run_cli("config", "show")
    assert r.exit_code == 0, r
    assert "glpat-very-secret-0001" not in r.stdout and "pg-pass-0001" not in r.stdout
    assert "gitlab.token" in r.stdout and "****" in r.stdout


def test_check_reports_every_problem_at_once(provision_home: Path) -> None:
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text() + '[dns]\ntsig_key_file = "/nonexistent/key"\nttl_min = 900\nttl_max = 60\n'
                   '[gitlab]\nurl = "ftp://x"\n[sop]\nholidays = ["2026-13-01"]\n')
    r = run_cli("config", "check")
    assert r.exit_code == 2, r
    for field in ("dns.zone", "dns.tsig_key_file", "dns.ttl_min", "gitlab.url",
                  "gitlab.root_group", "sop.holidays[0]"):
        assert field in r.stderr, field


BAD_CONFIGS = [
    ('[dns]\nzone = 5\n', "dns.zone"),
    ('[dns]\nbogus = 1\n', "dns.bogus"),
    ('[nosuchsection]\nx = 1\n', "nosuchsection"),
    ('[dns]\ntimeout = -1\n', "dns.timeout"),
    ('[dns]\nmax_delete_share = 2\n', "dns.max_delete_share"),
    ('[general]\nrequest_id_prefix = "req"\n', "general.request_id_prefix"),
    ('[hosting]\ntls_source = "letsencrypt-ish"\n', "hosting.tls_source"),
    ('[gitlab]\nteam = "ani"\n', "gitlab.team"),
    ('[database]\nurl = "postgresql://u:hunter22@db/x"\n', "database.url"),
    ('[database]\npassword = "hunter22"\n', "database.password"),
    ('[checks]\nconcurrency = 0\n', "checks.concurrency"),
    ('[dns\nzone = "x"\n', "not valid TOML"),
    ('[hosting]\nkeep_releases = 0\n', "hosting.keep_releases"),
    ('[gitlab]\nvariables = ["A"]\n', "gitlab.variables"),
]


@pytest.mark.parametrize("text,field", BAD_CONFIGS)
def test_bad_configuration_is_rejected_naming_the_field(provision_home: Path, text: str, field: str) -> None:
    write(provision_home / "bad.toml", text)
    r = run_cli("--config", str(provision_home / "bad.toml"), "config", "show")
    assert r.exit_code == 2, r
    assert field in r.stderr
    assert "hunter22" not in r.stderr
    assert not (provision_home / "state").exists()  # nothing was created


def test_bad_env_value_names_variable(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISION_DNS_TIMEOUT", "soon")
    with pytest.raises(ValidationError) as e:
        load_config()
    assert "dns.timeout" in str(e.value) and "env:PROVISION_DNS_TIMEOUT" in str(e.value)


def test_missing_explicit_config_file(provision_home: Path) -> None:
    r = run_cli("--config", "/nonexistent/provision.toml", "config", "show")
    assert r.exit_code == 2, r
    assert "/nonexistent/provision.toml does not exist" in r.stderr


def test_every_key_is_documented() -> None:
    from provision.config import Settings

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    missing = [f"{s}.{k}" for s, f in Settings.model_fields.items() for k in f.annotation.model_fields  # type: ignore[union-attr]
               if f"`PROVISION_{s.upper()}_{k.upper()}`" not in doc]
    assert missing == []


def test_alias_templates_and_ssh_logins_are_accepted(provision_home: Path) -> None:
    # Documented forms that stricter value checks must not refuse (docs/hosting.md,
    # docs/configuration.md): alias templates, and an SSH login name in hosting.repo_url.
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text() + '[hosting]\naliases = ["www.{subdomain}", "{slug}.apps.{zone}."]\n'
                   'repo_url = "ssh://git@gitlab.batam.go.id:2222/{root_group}/{group}/{slug}.git"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 0 and "Configuration OK" in r.stdout, r
    cfg.write_text(cfg.read_text().replace('"{slug}.apps.{zone}."', '"{nope}.x"').replace(
        "ssh://git@", "https://git:pw@"))
    r = run_cli("config", "check")
    assert r.exit_code == 2, r
    assert "hosting.aliases[1]: '{nope}.x' has an unknown placeholder (use {subdomain}, {slug}, {zone})" in r.stderr
    assert "hosting.repo_url: credentials do not belong in the URL" in r.stderr


def test_system_wide_configuration_means_one_system_wide_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service user (not root) on a host with /etc/kominfo-provision/provision.toml reads
    the operators' state in /var/lib/kominfo-provision, not an empty one in its home."""
    import provision.config as config_mod

    for var in [v for v in os.environ if v.startswith("PROVISION_")]:
        monkeypatch.delenv(var)
    system = tmp_path / "etc" / "provision.toml"
    monkeypatch.setattr(config_mod, "SYSTEM_CONFIG", system)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.chdir(tmp_path)
    assert config_mod.load_config().state_dir == tmp_path / "home" / ".local" / "share" / "kominfo-provision"
    system.parent.mkdir()
    system.write_text('[dns]\nzone = "batam.test"\n')
    system.chmod(0o644)
    cfg = config_mod.load_config()
    assert cfg.file == system and cfg.state_dir == Path("/var/lib/kominfo-provision")
    assert cfg.database_url == "sqlite:////var/lib/kominfo-provision/state.db"
    monkeypatch.setenv("PROVISION_GENERAL_STATE_DIR", str(tmp_path / "mine"))  # an explicit choice wins
    assert config_mod.load_config().state_dir == tmp_path / "mine"
# ---- issue 13, item 7: configuration files checked like secret files -------------------------

NOBODY = 65534


@pytest.mark.parametrize("how", ["implicit ./provision.toml", "--config", "PROVISION_CONFIG"])
def test_a_planted_configuration_file_is_refused(provision_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                 how: str) -> None:
    """A file owned by another user (planted in a shared directory), or writable by group or
    others, is never read: exit 2 with the chown / chmod, and nothing it names is used."""
    evil = provision_home / "evil-state"
    planted = write(provision_home / "provision.toml",
                    f'[general]\nstate_dir = "{evil}"\n[hosting]\nssh_config = "/tmp/evil_ssh_config"\n')
    monkeypatch.delenv("PROVISION_CONFIG")
    args: list[str] = []
    if how == "--config":
        args = ["--config", str(planted)]
    elif how == "PROVISION_CONFIG":
        monkeypatch.setenv("PROVISION_CONFIG", str(planted))
    os.chown(planted, NOBODY, NOBODY)
    r = run_cli(*args, "request", "list")
    assert r.exit_code == 2, r
    assert f"the configuration file {planted} belongs to another user (uid {NOBODY}): it is not read" in r.stderr
    assert f"chown root {planted}" in r.stderr
    r = run_cli(*args, "config", "check")
    assert r.exit_code == 2 and "belongs to another user" in r.stderr, r
    os.chown(planted, 0, 0)
    for loose in (0o664, 0o646, 0o666):
        os.chmod(planted, loose)
        r = run_cli(*args, "request", "list")
        assert r.exit_code == 2, r
        assert f"is writable by group or others (mode {loose:04o}): it is not read" in r.stderr
        assert f"Run: chmod go-w {planted}" in r.stderr
    assert not evil.exists()
    os.chmod(planted, 0o644)  # the owner's (root's), written by nobody else: read
    r = run_cli(*args, "config", "show", "--json")
    assert r.exit_code == 0, r
    assert r.json["file"] == str(planted)


# ---- issue 13, item 4: secret CI/CD variables and `config show` --------------------------------

def test_config_show_masks_secret_looking_values_in_tables(provision_home: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISION_GITLAB_VARIABLES",
                       '{"APP_STAGE": "staging", "DB_PASSWORD": "pw-Visible-123", "API_KEY": "key-Visible-456"}')
    for args in (["config", "show"], ["config", "show", "--json"]):
        r = run_cli(*args)
        assert r.exit_code == 0, r
        assert "pw-Visible-123" not in r.stdout and "key-Visible-456" not in r.stdout
        assert "staging" in r.stdout and "****" in r.stdout
    keys = {k["key"]: k["value"] for k in run_cli("config", "show", "--json").json["keys"]}
    assert keys["gitlab.variables"] == {"APP_STAGE": "staging", "DB_PASSWORD": "****", "API_KEY": "****"}


def test_refused_variable_values_are_not_echoed(provision_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value, field in (('{"A_TOKEN": 1234567890123}', "gitlab.variables.A_TOKEN"),
                         ('{"DB_PASSWORD": "line1\\u200bHidden-999"}', "gitlab.variables"),
                         ('{"X": ["Hidden-999"]}', "gitlab.variables.X")):
        monkeypatch.setenv("PROVISION_GITLAB_VARIABLES", value)
        r = run_cli("config", "check")
        assert r.exit_code == 2, r
        assert field in r.stderr, r.stderr
        assert "Hidden-999" not in r.stderr and "1234567890123" not in r.stderr, r.stderr


def test_a_variable_file_readable_by_others_is_refused(provision_home: Path) -> None:
    secret = write(provision_home / "ci-token", "ci-token-value-123\n", 0o644)
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text() + f'[gitlab.variable_files]\nDEPLOY_TOKEN = "{secret}"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 2, r
    assert "gitlab.variable_files.DEPLOY_TOKEN" in r.stderr and f"Run: chmod 600 {secret}" in r.stderr
    os.chmod(secret, 0o600)
    r = run_cli("config", "check")
    assert r.exit_code == 0, r
    r = run_cli("config", "show", "--json")
    assert "ci-token-value-123" not in r.stdout


# ---- issue 13, lower findings: TSIG algorithms, pinned host keys -----------------------------

def _tsig(path: Path, algorithm: str, secret_bytes: int) -> Path:
    import base64

    secret = base64.b64encode(os.urandom(secret_bytes)).decode()
    return write(path, f'key "provision." {{\n\talgorithm {algorithm};\n\tsecret "{secret}";\n}};\n', 0o600)


@pytest.mark.parametrize("algorithm,size,message", [
    ("hmac-md5", 16, "uses hmac-md5; only hmac-sha256, hmac-sha384, hmac-sha512 are accepted"),
    ("hmac-sha1", 20, "uses hmac-sha1; only hmac-sha256, hmac-sha384, hmac-sha512 are accepted"),
    ("hmac-sha256", 16, "secret is 16 bytes; hmac-sha256 needs at least 32 (the hash length)"),
    ("hmac-sha512", 32, "secret is 32 bytes; hmac-sha512 needs at least 64 (the hash length)"),
])
def test_weak_tsig_keys_are_refused(provision_home: Path, algorithm: str, size: int, message: str) -> None:
    key = _tsig(provision_home / "tsig.key", algorithm, size)
    cfg = Path(os.environ["PROVISION_CONFIG"])
    cfg.write_text(cfg.read_text() + f'[dns]\nzone = "kota.test"\ntsig_key_file = "{key}"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 2, r
    assert "dns.tsig_key_file" in r.stderr and message in r.stderr, r.stderr
    _tsig(key, "hmac-sha256", 32)
    r = run_cli("config", "check")
    assert r.exit_code == 0, r


def test_an_inventory_needs_pinned_host_keys(provision_home: Path) -> None:
    inv = write(provision_home / "inventory.yml", "all:\n  hosts: {}\n")
    cfg = Path(os.environ["PROVISION_CONFIG"])
    base = cfg.read_text()
    cfg.write_text(base + f'[hosting]\ninventory = "{inv}"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 2, r
    assert "hosting.known_hosts: is required when hosting.inventory is set" in r.stderr
    kh = write(provision_home / "known_hosts", "")
    cfg.write_text(base + f'[hosting]\ninventory = "{inv}"\nknown_hosts = "{kh}"\n')
    r = run_cli("config", "check")
    assert r.exit_code == 0, r


def test_a_misspelt_variable_is_named_with_the_closest_known_one(provision_home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from provision.config import known_variables, unknown_variables

    assert {"PROVISION_DNS_ZONE", "PROVISION_GITLAB_TOKEN", "PROVISION_GITLAB_TOKEN_FILE",
            "PROVISION_CONFIG"} <= known_variables()
    assert unknown_variables({"PROVISION_DNS_ZONE": "x", "PATH": "/bin", "PROVISION_CONFIG": "f"}) == []
    monkeypatch.setenv("PROVISION_DNS_ZONEE", "salah-ketik.example")
    monkeypatch.setenv("PROVISION_XYZZY", "1")
    r = run_cli("config", "show")
    assert r.exit_code == 0, r
    assert ("Warning: PROVISION_DNS_ZONEE is not a setting of kominfo-provision and is ignored; did you mean "
            "PROVISION_DNS_ZONE?") in r.stderr
    assert "Warning: PROVISION_XYZZY is not a setting of kominfo-provision and is ignored." in r.stderr
    assert "salah-ketik.example" not in r.stdout  # the misspelt value was not taken
