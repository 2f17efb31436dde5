"""Where and what to install: one request's application in one environment on its host.

`resolve_target` turns request + spec + configuration into an `InstallTarget` and checks
everything that can be checked before any server is touched (host in the inventory, the
deploy key and secrets files private, the repository URL configured). Its `extravars()`
are what install.yml receives: none of them secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from provision import deploy_keys
from provision.errors import ConfigError, Problem, ValidationError
from provision.placement import DEFAULT_PHP, app_port, php_version, staging_cert_paths, tls_paths
from provision.secrets import REDACTOR, check_secret_file

Env = Literal["staging", "production"]


@dataclass
class InstallTarget:
    request_id: str
    env: Env
    host: str
    slug: str
    instance: str  # user, php-fpm pool, service unit and vhost name
    app_root: str
    kind: str
    repo_url: str
    server_names: list[str]
    port: int
    spec: Any = field(repr=False)
    php_version: str = DEFAULT_PHP
    document_root: str = "."
    start_command: str = ""
    env_vars: dict[str, str] = field(default_factory=dict)
    deploy_key_file: str = ""
    known_hosts: str = ""
    secrets_file: str = ""
    keep_releases: int = 5
    tls_cert: str = ""  # production: the certificate the hosting step put on the server
    tls_key: str = ""
    # Staging: served only over TLS, with a self-signed certificate the install makes on
    # the server (tls_cert/tls_key are where it is).
    tls_self_signed: bool = False
    # Staging: who may reach it (hosting.staging_allow; an htpasswd file on the controller).
    allow: list[str] = field(default_factory=list)
    auth_file: str = ""
    # Production: the staging instance it stops once it serves ("" = none, or the spec keeps it).
    retire: str = ""

    def extravars(self, ref: str = "", release: str = "") -> dict[str, Any]:
        return {
            "app_host": self.host, "app_instance": self.instance, "app_root": self.app_root,
            "app_kind": self.kind, "app_repo_url": self.repo_url, "app_version": ref,
            "app_release": release, "app_server_names": self.server_names,
            "app_document_root": self.document_root, "app_php_version": self.php_version,
            "app_start_command": self.start_command, "app_port": self.port,
            "app_env": self.env_vars, "app_deploy_key_file": self.deploy_key_file,
            "app_known_hosts": self.known_hosts, "app_secrets_file": self.secrets_file,
            "app_keep_releases": self.keep_releases,
            "app_tls_cert": self.tls_cert, "app_tls_key": self.tls_key, "app_tls_self_signed": self.tls_self_signed,
            "app_writable": list(self.spec.runtime.writable) if self.spec else [],
            "app_process_exec": bool(self.spec.runtime.process_exec) if self.spec else False,
            "app_allow": list(self.allow), "app_auth_file": self.auth_file,
            "app_retire_instance": self.retire,
            "app_retire_root": f"{self.app_root.rpartition('/')[0]}/{self.retire}" if self.retire else "",
        }

    def as_dict(self) -> dict[str, Any]:
        return {"request": self.request_id, "env": self.env, "host": self.host, "instance": self.instance,
                "app_root": self.app_root, "kind": self.kind, "repo_url": REDACTOR.text(self.repo_url),
                "server_names": self.server_names, "port": self.port}


def instance_name(slug: str, env: str) -> str:
    return slug if env == "production" else f"{slug}-staging"


def _secrets_file(config: Any, request_id: str) -> str:
    base = Path(config.hosting.secrets_dir).expanduser() if config.hosting.secrets_dir else config.state_dir / "secrets"
    f = base / f"{request_id}.env"
    if not f.exists():
        return ""
    check_secret_file(f, f"the secrets of {request_id}")
    for line in f.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            REDACTOR.add(line.split("=", 1)[1].strip())
    return str(f.resolve())


def _ssh_url(url: str) -> bool:
    """An SSH git URL: ssh://... or scp-like user@host:path."""
    return url.startswith(("ssh://", "git@")) or ("@" in url and ":" in url and "://" not in url)


def resolve_target(app: Any, request_id: str, env: Env, inventory: Any) -> InstallTarget:
    """Everything about the install that can be checked here. Raises ValidationError/ConfigError."""
    req = app.requests.get(request_id)
    spec = app.specs.get(request_id)
    cfg = app.config
    h = cfg.hosting
    problems: list[Problem] = []
    if spec.hosting.host not in inventory.hostvars:
        inventory.require(spec.hosting.host)  # raises NotFound with the hosts it knows
    if not h.repo_url:
        raise ConfigError("hosting.repo_url is not set: the server does not know where to clone from.",
                          "Set it, e.g. repo_url = \"git@gitlab.example.go.id:{root_group}/{group}/{slug}.git\".")
    group = spec.repository.group or req.opd_code
    try:
        repo_url = h.repo_url.format(root_group=cfg.gitlab.root_group, group=group,
                                     slug=spec.application.slug, opd=req.opd_code)
    except (KeyError, IndexError) as e:
        raise ConfigError(f"hosting.repo_url: unknown placeholder {e} (use root_group, group, slug, opd).") from e
    key = ""
    if h.deploy_key_file:  # one key shared by every project (gitlab.deploy_key_file on GitLab)
        try:
            check_secret_file(Path(h.deploy_key_file).expanduser(), "hosting.deploy_key_file")
            key = str(Path(h.deploy_key_file).expanduser().resolve())
        except ConfigError as e:
            problems.append(Problem("hosting.deploy_key_file", str(e)))
    elif not cfg.gitlab.deploy_key_file and _ssh_url(repo_url):  # the project's own key
        own = deploy_keys.current_path(cfg.state_dir, request_id)
        if not own.exists():
            problems.append(Problem("deploy key", f"{request_id} has no deploy key yet: `provision repo apply "
                                    f"{request_id}` makes it and adds it to the project, read-only"))
        else:
            try:
                check_secret_file(own, f"the deploy key of {request_id}")
                key = str(own.resolve())
            except ConfigError as e:
                problems.append(Problem("deploy key", str(e)))
    known = ""
    if h.repo_known_hosts:
        p = Path(h.repo_known_hosts).expanduser()
        if not p.is_file():
            problems.append(Problem("hosting.repo_known_hosts", f"{p} does not exist"))
        else:
            known = p.read_text(encoding="utf-8").strip()
    elif _ssh_url(repo_url):
        problems.append(Problem("hosting.repo_known_hosts", "an SSH repository needs the git server's pinned "
                                "host key (a known_hosts file); it is never accepted on first use"))
    try:
        secrets = _secrets_file(cfg, request_id)
    except ConfigError as e:
        problems.append(Problem("secrets", str(e)))
        secrets = ""
    auth = ""
    if env == "staging" and h.staging_auth_file:
        try:
            check_secret_file(Path(h.staging_auth_file).expanduser(), "hosting.staging_auth_file")
            auth = str(Path(h.staging_auth_file).expanduser().resolve())
        except ConfigError as e:
            problems.append(Problem("hosting.staging_auth_file", str(e)))
    if env == "staging" and not h.staging_allow and not auth:
        problems.append(Problem("hosting.staging_allow", "is empty and hosting.staging_auth_file is not set: the "
                                "staging instance would be served to everyone; allow networks or set a password file"))
    if problems:
        raise ValidationError(problems, "install settings")
    instance = instance_name(spec.application.slug, env)
    zone = (cfg.dns.zone or "localhost").rstrip(".")
    names = spec.hostnames(zone) if env == "production" else [f"{spec.subdomain}-staging.{zone}"]
    rt = spec.runtime
    tls: tuple[str, str] | None = None
    if env == "production":
        # The hosting's vhost has TLS: the install's vhost must keep it, not drop to HTTP.
        tls = tls_paths(app, request_id)
    else:  # staging: only over TLS, its own self-signed certificate (no DNS record before step 15)
        tls = staging_cert_paths(instance)
    return InstallTarget(
        request_id=request_id, env=env, host=spec.hosting.host, slug=spec.application.slug,
        instance=instance, app_root=f"{h.apps_root.rstrip('/')}/{instance}", kind=rt.kind,
        repo_url=repo_url, server_names=names, port=app_port(instance), spec=spec,
        php_version=php_version(rt),
        document_root=rt.document_root, start_command=rt.start_command or "",
        env_vars={**rt.env, "APP_ENV": env}, deploy_key_file=key, known_hosts=known,
        secrets_file=secrets, keep_releases=h.keep_releases,
        tls_cert=tls[0] if tls else "", tls_key=tls[1] if tls else "", tls_self_signed=env == "staging",
        allow=list(h.staging_allow) if env == "staging" else [], auth_file=auth,
        retire=instance_name(spec.application.slug, "staging")
        if env == "production" and not spec.hosting.keep_staging else "")
