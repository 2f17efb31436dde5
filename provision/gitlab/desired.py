"""What GitLab should hold for one request, from the request, its spec and the configuration.

Everything here is checked before any network call: a bad deploy key file, a variable name
GitLab refuses or a secret-looking value that GitLab could not mask are all reported
together as one ValidationError (exit 2).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, Problem, SecretError, ValidationError
from provision.secrets import REDACTOR, SECRETISH, read_secret_file

LEVELS = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}
ROLE_OF = {v: k for k, v in LEVELS.items()}
MAINTAINER = 40
TAG_CREATORS = {"maintainers": 40, "developers": 30, "no_one": 0}  # spec -> create_access_level
KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,255}\Z")
# The older, stricter masking rule: a value it accepts is maskable on every GitLab version.
MASKABLE_RE = re.compile(r"^[a-zA-Z0-9_+=/@:.~-]{8,}\Z")
DEPLOY_KEY_TITLE = "kominfo-provision deploy key"
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


@dataclass(frozen=True)
class Variable:
    key: str
    value: str
    masked: bool

    def shown(self) -> dict[str, Any]:
        """What may appear in a plan or the audit log: a masked value never does."""
        return {"value": "[masked]" if self.masked else self.value, "masked": self.masked,
                "protected": False, "environment_scope": "*"}


@dataclass(frozen=True)
class Desired:
    request_id: str
    opd_code: str
    opd_name: str
    root_group: str
    group_path: str  # the OPD subgroup, relative to the root group
    group_name: str
    project_path: str
    project_name: str
    description: str
    visibility: str
    default_branch: str
    members: dict[str, int]  # username -> access level
    member_fields: dict[str, str]  # username -> where it came from (for error messages)
    deploy_key: str | None  # "type base64" (no comment): matched by content
    deploy_key_title: str
    variables: dict[str, Variable]
    documents: dict[str, str] = field(default_factory=dict)
    # The release pipeline (docs/ci.md): the project's CI configuration path ("" = GitLab's
    # default `.gitlab-ci.yml`, in trigger mode), the operations project and file, the
    # protected release-tag pattern and who may create such tags.
    ci_mode: str = "config_path"
    ci_config_path: str = ""
    ops_project: str = ""
    ops_file: str = "install.yml"
    release_tags: str = "v*"
    tag_create_level: int = MAINTAINER
    runner_tag: str = "kominfo-provision"
    # The project's own key (provision/deploy_keys.py) when it has none yet: the apply makes
    # it at this controller path. Empty with a shared key (gitlab.deploy_key_file).
    deploy_key_new: str = ""

    @property
    def new_key_target(self) -> str:
        return f"{self.full_path} deploy key (new, this project's own)"

    @property
    def group_full_path(self) -> str:
        return f"{self.root_group}/{self.group_path}"

    @property
    def full_path(self) -> str:
        return f"{self.group_full_path}/{self.project_path}"


def key_body(text: str) -> str:
    """Type and base64 blob of an OpenSSH public key: what identifies it, whatever the comment."""
    return " ".join(text.split()[:2])


def fingerprint(key: str) -> str:
    """OpenSSH's SHA256 fingerprint (`SHA256:...`) of a public key line."""
    blob = base64.b64decode(key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def read_deploy_key(path: str) -> tuple[str | None, list[Problem]]:
    if not path:
        return None, []
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8").strip()
    except OSError as e:
        return None, [Problem("gitlab.deploy_key_file", f"cannot read {p}: {e.strerror}")]
    parts = text.split()
    if "PRIVATE KEY" in text:
        return None, [Problem("gitlab.deploy_key_file", f"{p} holds a private key; give the .pub file")]
    if len(text.splitlines()) != 1 or len(parts) < 2 or parts[0] not in KEY_TYPES:
        return None, [Problem("gitlab.deploy_key_file", f"{p} is not one OpenSSH public key line")]
    try:
        base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None, [Problem("gitlab.deploy_key_file", f"{p}: the key's base64 part is damaged")]
    return key_body(text), []


def check_variable(key: str, value: str, field_name: str, secret: bool = False) -> tuple[Variable | None, list[Problem]]:
    problems = []
    if not KEY_RE.match(key):
        problems.append(Problem(field_name, f"{key!r} is not a CI/CD variable name GitLab accepts ([A-Za-z0-9_], 1-255)"))
    masked = secret or bool(SECRETISH.search(key.upper()))
    if masked and not MASKABLE_RE.match(value):
        problems.append(Problem(field_name, f"{key} looks like a secret, so it is sent masked, but GitLab "
                                "cannot mask its value (at least 8 characters from a-z A-Z 0-9 _ + = / @ : . ~ -, "
                                "one line, no spaces)"))
    if masked:
        REDACTOR.add(value)  # masked everywhere the toolkit prints, stores or logs, as the other secrets
    return (Variable(key, value, masked) if not problems else None), problems


def desired_state(request: Any, spec: Any, config: Any) -> Desired:
    """Build and check the desired state. Raises ValidationError listing every problem."""
    s = config.gitlab
    problems: list[Problem] = []
    if not s.url:
        raise ConfigError("gitlab.url is not set.", "Set it in the configuration file or PROVISION_GITLAB_URL.")
    if not s.root_group:
        raise ConfigError("gitlab.root_group is not set.", "Set it to the group that holds the OPD groups (e.g. pemko-batam).")
    repo = spec.repository
    members: dict[str, int] = {}
    fields: dict[str, str] = {}
    lower: dict[str, str] = {}
    for i, m in enumerate(repo.members):
        members[m.username] = LEVELS[m.role]
        fields[m.username] = f"repository.members[{i}].username"
        lower[m.username.lower()] = m.username
    for i, username in enumerate(s.team):
        name = lower.get(username.lower(), username)
        members[name] = max(members.get(name, 0), MAINTAINER)
        fields.setdefault(name, f"gitlab.team[{i}]")
        lower[name.lower()] = name
    key, key_problems = read_deploy_key(s.deploy_key_file)
    problems += key_problems
    new_key = ""
    if not s.deploy_key_file:  # each project its own key (provision/deploy_keys.py)
        from provision import deploy_keys

        try:
            key = deploy_keys.public_key(config.state_dir, request.id)
        except ConfigError as e:
            problems.append(Problem("deploy key", str(e)))
        if key is None:
            new_key = str(deploy_keys.current_path(config.state_dir, request.id))
    variables: dict[str, Variable] = {"PROVISION_REQUEST": Variable("PROVISION_REQUEST", request.id, False)}
    given = [(name, str(value), f"gitlab.variables.{name}") for name, value in s.variables.items()]
    for name, path in s.variable_files.items():
        try:  # a secret variable's value: only from a 0600 file (or the environment)
            given.append((name, read_secret_file(path, f"gitlab.variable_files.{name}"), f"gitlab.variable_files.{name}"))
        except SecretError as e:
            problems.append(Problem(f"gitlab.variable_files.{name}", str(e)))
    for name, value, where in given:
        if name in s.variables and where.startswith("gitlab.variable_files"):
            problems.append(Problem(where, f"{name} is also in gitlab.variables: set it in one place"))
            continue
        var, var_problems = check_variable(name, value, where, secret=where.startswith("gitlab.variable_files"))
        problems += var_problems
        if name == "PROVISION_REQUEST":
            problems.append(Problem(where, "is set by the toolkit to the request ID"))
        elif var is not None:
            variables[name] = var
    if problems:
        raise ValidationError(problems, "GitLab settings")
    group = repo.group or request.opd_code
    opd_name = request.opd_name
    description = (f"{spec.application.name}: aplikasi {opd_name} ({request.opd_code.upper()}), "
                   f"permohonan {request.id}. Dikelola oleh kominfo-provision.")
    docs = spec.documents
    ops_file, _, ops_project = (s.ci_config or f"install.yml@{s.root_group.strip('/')}/ops/ci").partition("@")
    creators = getattr(repo, "release_tags_created_by", "maintainers")
    return Desired(
        request_id=request.id, opd_code=request.opd_code, opd_name=opd_name,
        root_group=s.root_group.strip("/"), group_path=group,
        group_name=opd_name if group == request.opd_code else group,
        project_path=spec.application.slug, project_name=spec.application.name,
        description=description, visibility=repo.visibility, default_branch=repo.default_branch,
        members=members, member_fields=fields, deploy_key=key, deploy_key_title=DEPLOY_KEY_TITLE,
        variables=variables,
        documents={"installation_guide": docs.installation_guide, "user_guide": docs.user_guide,
                   "test_documents": docs.test_documents, "system_requirements": docs.system_requirements},
        ci_mode=s.ci_mode, ci_config_path=f"{ops_file}@{ops_project}" if s.ci_mode == "config_path" else "",
        ops_project=ops_project, ops_file=ops_file, release_tags=s.release_tags,
        tag_create_level=TAG_CREATORS[creators], runner_tag=s.runner_tag, deploy_key_new=new_key,
    )
