"""The files a new repository starts with: README, document placeholders and, in the
"trigger" CI mode only, a `.gitlab-ci.yml` whose one job triggers Kominfo's pipeline.
`ops_ci_file` renders the operations project's install pipeline (docs/ci.md).

Seeded once, on first creation (the audit log remembers it by project id); a file the
developer has changed is never overwritten, and a file the developer deleted is not
brought back.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from provision.gitlab.desired import Desired

SEED_MESSAGE = "Kerangka repositori dari Kominfo ({request_id})"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=PackageLoader("provision.gitlab", "templates"), undefined=StrictUndefined,
                       keep_trailing_newline=True, autoescape=False)


def seed_files(d: Desired, organisation: str = "Diskominfo") -> dict[str, str]:
    """Path -> content of every seed file, in a stable order."""
    env = _env()

    def render(name: str) -> str:
        return env.get_template(name).render(d=d, organisation=organisation)

    return {path: render(template) for path, template in seed_paths(d).items()}


def seed_paths(d: Desired) -> dict[str, str]:
    """Path in the repository -> template name."""
    docs = d.documents
    test_dir = docs["test_documents"].rstrip("/")
    paths = {
        "README.md": "README.md.j2",
        docs["installation_guide"]: "installation_guide.md.j2",
        docs["user_guide"]: "user_guide.md.j2",
        docs["system_requirements"]: "system_requirements.md.j2",
        (f"{test_dir}/README.md" if test_dir not in ("", ".") else "PENGUJIAN.md"): "test_documents.md.j2",
    }
    if d.ci_mode == "trigger":  # with a CI configuration path set, a project's own file never runs
        paths[".gitlab-ci.yml"] = "gitlab-ci.yml.j2"
    return paths


def ops_ci_file(ops_project: str, ops_file: str = "install.yml", runner_tag: str = "kominfo-provision") -> str:
    """The operations project's install pipeline (the file `gitlab.ci_config` names)."""
    return _env().get_template("ops-install.yml.j2").render(ops_project=ops_project, ops_file=ops_file,
                                                            runner_tag=runner_tag)


def blob_id(content: str | bytes) -> str:
    """Git's blob id of `content` (what GitLab returns as `blob_id`)."""
    data = content.encode() if isinstance(content, str) else content
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_actions(files: dict[str, str]) -> list[dict[str, Any]]:
    return [{"action": "create", "file_path": path, "content": content} for path, content in files.items()]
