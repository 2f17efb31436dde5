"""Configuration: one TOML file, every key overridable by a PROVISION_* variable.

Search order for the file: --config, $PROVISION_CONFIG, ./provision.toml, the user's
config dir, /etc/kominfo-provision/provision.toml. A key `section.key` is overridden by
PROVISION_SECTION_KEY. Secrets are never read from the file or the command line: each
comes from its environment variable or from a `*_file` (mode 0600).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from provision.errors import ConfigError, Problem, SecretError, ValidationError
from provision.secrets import MASK, REDACTOR, read_secret_file, secret_from_env

SYSTEM_CONFIG = Path("/etc/kominfo-provision/provision.toml")
ENV_PREFIX = "PROVISION_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class General(Section):
    organisation: str = "Dinas Komunikasi dan Informatika Kota Batam"
    organisation_short: str = "Diskominfo Kota Batam"
    government: str = "Pemerintah Kota Batam"
    city: str = "Batam"
    request_id_prefix: str = Field("REQ", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    state_dir: str = ""  # default: platform data dir (root: /var/lib/kominfo-provision)
    timezone: str = "Asia/Jakarta"


class Database(Section):
    url: str = ""  # default: sqlite:///<state_dir>/state.db
    password_file: str = ""  # for a URL without a password
    lock_timeout: float = Field(30.0, ge=0)


class Sop(Section):
    file: str = ""  # replacement for the packaged SOP YAML
    holidays: list[str] = []  # ISO dates skipped when counting working days


class Names(Section):
    reserved: list[str] | None = None  # None: the packaged default list


class Dns(Section):
    zone: str = ""
    primary: str = "127.0.0.1:53"  # host:port of the primary that takes updates
    tsig_key_file: str = ""  # tsig-keygen output, mode 0600
    verify_servers: list[str] = []  # host:port; empty: the zone's NS set
    timeout: float = Field(5.0, gt=0)
    verify_timeout: float = Field(30.0, gt=0)
    ownership_prefix: str = "_provision-owner"
    allow_private_addresses: bool = False
    cname_suffixes: list[str] = []  # CNAME targets outside the zone allowed only under these
    ttl_min: int = Field(60, ge=0)
    ttl_max: int = Field(86400, ge=1)
    max_update_share: float = Field(0.3, ge=0, le=1)
    max_delete_share: float = Field(0.3, ge=0, le=1)
    # `dns apply` needs a passing `provision test` of the commit to be installed, unless
    # --force --reason (the production gate, docs/hosting.md).
    require_passing_test: bool = True


class GitLab(Section):
    url: str = ""
    token_file: str = ""  # or PROVISION_GITLAB_TOKEN
    root_group: str = ""
    ca_bundle: str = ""
    timeout: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=0)
    team: list[str] = []  # Kominfo technical team usernames, made maintainers
    deploy_key_file: str = ""  # public key of the Kominfo servers, added read-only
    variables: dict[str, str] = {}  # extra CI/CD variables (not secret)


class Hosting(Section):
    inventory: str = ""  # Ansible inventory (file or directory)
    apps_root: str = "/srv/apps"
    keep_releases: int = Field(5, ge=1)
    tls_source: Literal["acme", "local-ca", "none"] = "acme"
    local_ca_cert: str = ""
    local_ca_key_file: str = ""
    aliases: list[str] = []
    ssh_config: str = ""
    known_hosts: str = ""
    forks: int = Field(10, ge=1)
    # Step 14 (install): where the server clones from, with which key, trusting which host key.
    repo_url: str = ""  # template: {root_group} {group} {slug} {opd}, e.g. git@gitlab.example:{root_group}/{group}/{slug}.git
    repo_known_hosts: str = ""  # file with the git server's host key lines (pinned on the server)
    deploy_key_file: str = ""  # private deploy key (0600) copied to the server, never logged
    secrets_dir: str = ""  # <REQ>.env files (0600) appended to the app's .env; default <state_dir>/secrets
    run_timeout: int = Field(1800, ge=10)  # seconds a playbook run may take
    keep_runs: int = Field(50, ge=1)  # ansible-runner private data dirs kept under <state_dir>/ansible
    strategy: Literal["linear", "free", "mitogen_linear", "mitogen_free"] = "linear"  # see docs/install.md
    # Step 15 (hosting): refuse to start below this much free disk; ACME account and directory.
    min_free_mb: int = Field(100, ge=0)
    acme_email: str = ""
    acme_server: str = ""  # empty: certbot's default (Let's Encrypt)


class Reports(Section):
    output_dir: str = ""  # default: <state_dir>/reports
    letterhead: list[str] = ["PEMERINTAH KOTA BATAM", "DINAS KOMUNIKASI DAN INFORMATIKA"]
    address: str = ""
    signatory_name: str = ""
    signatory_title: str = "Kepala Dinas Komunikasi dan Informatika"
    signatory_nip: str = ""
    number_format: str = "{seq}/{kind}/Kominfo-PE/{month_roman}/{year}"


class Checks(Section):
    concurrency: int = Field(32, ge=1)
    timeout: float = Field(10.0, gt=0)
    tls_warn_days: int = Field(21, ge=0)
    tls_fail_days: int = Field(7, ge=0)
    # The only addresses a check connects to (HTTP, TLS, and the probes of A/AAAA records).
    probe_networks: list[str] = ["127.0.0.0/8", "::1/128"]
    probe_ports: list[int] = [80, 443]  # an A/AAAA record "answers" when one of these accepts TCP
    probe_timeout: float = Field(1.0, gt=0)
    connect_to: dict[str, str] = {}  # "name:port" -> "address:port" (like curl --connect-to)
    ca_bundle: str = ""  # CA certificates the TLS check trusts (default: the system's)
    resolvers: list[str] = []  # host:port servers that may resolve CNAME targets outside the zone
    disk_warn_percent: int = Field(80, ge=1, le=100)
    disk_fail_percent: int = Field(90, ge=1, le=100)
    keep_days: int = Field(365, ge=1)  # stored results older than this are deleted at each run


class Settings(Section):
    general: General = General()
    database: Database = Database()
    sop: Sop = Sop()
    names: Names = Names()
    dns: Dns = Dns()
    gitlab: GitLab = GitLab()
    hosting: Hosting = Hosting()
    reports: Reports = Reports()
    checks: Checks = Checks()


# Secrets: (section, name) -> the environment variable. The `<name>_file` key is the
# other way in. None of them may appear in the TOML file itself.
SECRETS: dict[tuple[str, str], str] = {
    ("gitlab", "token"): "PROVISION_GITLAB_TOKEN",
    ("database", "password"): "PROVISION_DATABASE_PASSWORD",
}


@dataclass
class Config:
    """The effective configuration, where each value came from, and the secrets."""

    settings: Settings
    sources: dict[str, str]  # "dns.zone" -> "default" | "file:/etc/..." | "env:PROVISION_DNS_ZONE"
    file: Path | None
    _secrets: dict[str, str | None] = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> Any:
        # Config.dns, Config.gitlab... read through to the settings sections.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.settings, name)

    @property
    def state_dir(self) -> Path:
        if self.settings.general.state_dir:
            return Path(self.settings.general.state_dir).expanduser()
        if os.geteuid() == 0:
            return Path("/var/lib/kominfo-provision")
        from platformdirs import user_data_dir

        return Path(user_data_dir("kominfo-provision"))

    @property
    def database_url(self) -> str:
        return self.settings.database.url or f"sqlite:///{self.state_dir / 'state.db'}"

    def secret(self, section: str, name: str) -> str | None:
        """The secret's value from its variable or its `_file`; None when not set.

        Raises SecretError for a file that is missing or readable by others.
        """
        key = f"{section}.{name}"
        if key not in self._secrets:
            value = secret_from_env(SECRETS[(section, name)])
            path = os.environ.get(SECRETS[(section, name)] + "_FILE") or getattr(
                getattr(self.settings, section), f"{name}_file", "")
            if value is None and path:
                value = read_secret_file(path, f"{key} (from {path})")
            self._secrets[key] = value
        return self._secrets[key]

    def flat(self, redact: bool = True) -> list[tuple[str, Any, str]]:
        """(key, value, source) for every key, secrets masked."""
        rows: list[tuple[str, Any, str]] = []
        for sname, section in self.settings:
            for key, value in section:
                dotted = f"{sname}.{key}"
                if redact and isinstance(value, str):
                    value = REDACTOR.text(value)
                rows.append((dotted, value, self.sources.get(dotted, "default")))
        for (sname, name), var in SECRETS.items():
            source = "env:" + var if os.environ.get(var) else (
                "file" if getattr(getattr(self.settings, sname), f"{name}_file", "") else "unset")
            rows.append((f"{sname}.{name}", MASK if source != "unset" else None, source))
        rows.sort(key=lambda r: r[0])
        return rows


def find_config_file(explicit: str | None) -> Path | None:
    """The first configuration file in the search order, or None (defaults only)."""
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError(f"--config: the file {p} does not exist.")
        return p
    env = os.environ.get("PROVISION_CONFIG")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise ConfigError(f"PROVISION_CONFIG: the file {p} does not exist.",
                              "Unset it or point it at the configuration file.")
        return p
    from platformdirs import user_config_dir

    for p in (Path.cwd() / "provision.toml",
              Path(user_config_dir("kominfo-provision")) / "provision.toml", SYSTEM_CONFIG):
        if p.is_file():
            return p
    return None


def _env_value(raw: str, annotation: Any) -> Any:
    """Turn a PROVISION_* string into the field's type: lists and dicts as JSON or comma lists."""
    text = str(annotation)
    if "list" in text:
        raw = raw.strip()
        if raw.startswith("["):
            return json.loads(raw)
        return [p.strip() for p in raw.split(",") if p.strip()]
    if "dict" in text:
        return json.loads(raw)
    if annotation is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
    return raw


def load_config(explicit: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate the configuration. Raises ValidationError with every problem."""
    env = os.environ if environ is None else environ
    path = find_config_file(explicit)
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[Problem] = []
    if path:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"configuration file {path} is not valid TOML: {e}.") from e
        except OSError as e:
            raise ConfigError(f"cannot read the configuration file {path}: {e.strerror}.") from e
        for sname, section in data.items():
            if isinstance(section, dict):
                for key in section:
                    sources[f"{sname}.{key}"] = f"file:{path}"
                    if (sname, key) in SECRETS:
                        problems.append(Problem(
                            f"{sname}.{key}", "secrets are not read from the configuration file: "
                            f"set {SECRETS[(sname, key)]} or {sname}.{key}_file (mode 0600)"))
        for sname, key in SECRETS:
            if isinstance(data.get(sname), dict):
                data[sname].pop(key, None)
        url = data.get("database", {}).get("url", "") if isinstance(data.get("database"), dict) else ""
        if isinstance(url, str) and REDACTOR._URL_PASSWORD.search(url):
            problems.append(Problem("database.url", "a password in the URL is a secret: put the URL "
                                    "in PROVISION_DATABASE_URL or the password in database.password_file"))
    secret_vars = set(SECRETS.values())
    for var in secret_vars:
        # Known before anything runs, so a value pasted anywhere by mistake is masked.
        REDACTOR.add(env.get(var))
    for sname, model in Settings.model_fields.items():
        section_cls = model.annotation
        for key, finfo in section_cls.model_fields.items():  # type: ignore[union-attr]
            var = f"{ENV_PREFIX}{sname.upper()}_{key.upper()}"
            if var in env and var not in secret_vars:
                try:
                    value = _env_value(env[var], finfo.annotation)
                except json.JSONDecodeError as e:
                    problems.append(Problem(f"{sname}.{key}", f"{var} is not valid JSON: {e.msg}"))
                    continue
                data.setdefault(sname, {})
                if isinstance(data[sname], dict):
                    data[sname][key] = value
                sources[f"{sname}.{key}"] = f"env:{var}"
    if "PROVISION_DATABASE_URL" in env:
        REDACTOR.text(env["PROVISION_DATABASE_URL"])  # keep the URL's password out of logs
        m = REDACTOR._URL_PASSWORD.search(env["PROVISION_DATABASE_URL"])
        if m:
            REDACTOR.add(m.group("pw"))
    try:
        settings = Settings.model_validate(data)
    except PydanticError as e:
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            origin = sources.get(".".join(str(p) for p in err["loc"][:2]), "")
            where = f" (from {origin})" if origin else ""
            problems.append(Problem(loc, err["msg"].replace("Extra inputs are not permitted",
                                                            "unknown key") + where))
        settings = None  # type: ignore[assignment]
    if problems or settings is None:
        raise ValidationError(problems, "configuration")
    return Config(settings=settings, sources=sources, file=path)


def check_config(config: Config) -> list[Problem]:
    """Every problem with a loaded configuration that loading alone does not catch."""
    problems: list[Problem] = []
    s = config.settings
    for (sname, name) in SECRETS:
        try:
            config.secret(sname, name)
        except SecretError as e:
            problems.append(Problem(f"{sname}.{name}", str(e)))
    if s.dns.zone or s.dns.tsig_key_file:
        if not s.dns.zone:
            problems.append(Problem("dns.zone", "a TSIG key is set but no zone"))
        if not s.dns.tsig_key_file:
            problems.append(Problem("dns.tsig_key_file", "the zone needs a TSIG key file"))
        else:
            try:
                from provision.secrets import check_secret_file

                check_secret_file(Path(s.dns.tsig_key_file), "dns.tsig_key_file")
            except SecretError as e:
                problems.append(Problem("dns.tsig_key_file", str(e)))
    if s.dns.ttl_min > s.dns.ttl_max:
        problems.append(Problem("dns.ttl_min", "is greater than dns.ttl_max"))
    if s.gitlab.url and not s.gitlab.url.startswith(("https://", "http://")):
        problems.append(Problem("gitlab.url", "must start with https:// (or http:// for a test server)"))
    if s.gitlab.url and not s.gitlab.root_group:
        problems.append(Problem("gitlab.root_group", "is required when gitlab.url is set"))
    if s.checks.tls_fail_days > s.checks.tls_warn_days:
        problems.append(Problem("checks.tls_fail_days", "is greater than checks.tls_warn_days"))
    for i, day in enumerate(s.sop.holidays):
        try:
            import datetime

            datetime.date.fromisoformat(day)
        except ValueError:
            problems.append(Problem(f"sop.holidays[{i}]", f"{day!r} is not a date (YYYY-MM-DD)"))
    for key in ("sop.file", "hosting.inventory", "gitlab.deploy_key_file", "gitlab.ca_bundle"):
        sname, name = key.split(".")
        value = getattr(getattr(s, sname), name)
        if value and not Path(value).expanduser().exists():
            problems.append(Problem(key, f"{value} does not exist"))
    return problems
