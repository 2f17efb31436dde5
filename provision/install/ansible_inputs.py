"""What crosses from provision into ansible-playbook: values and the environment.

Values. ansible-core templates every string of an extra var it trusts when the string is
used, so a spec value such as "{{ lookup('pipe', 'id') }}" passed as plain `-e` JSON runs
on the controller. Every value therefore travels in one 0600 JSON file in the run's
private directory, each string written as `{"__ansible_unsafe": "..."}` (in dicts and
lists too), and reaches the playbook as `-e @FILE`: Ansible uses it as data, never as a
template. This is the only way values reach a playbook (`AnsibleRunner.run`).

Why JSON and not YAML's `!unsafe`: ansible-core 2.19 re-resolves the type of a scalar
tagged `!unsafe` as if it were unquoted, so `!unsafe ""` arrives as None, `!unsafe "true"`
as True and `!unsafe "0123"` as the integer 83. `__ansible_unsafe` (the form Ansible's
own JSON serialisation uses, read by every ansible-core since 2.7) keeps a string a
string. Dict keys are never templated; keys starting with `__ansible` are refused, as
Ansible would read them as markers.

Environment. ansible-runner starts the playbook with a copy of our whole environment and
writes that environment to `artifacts/<ident>/command`. `child_env` keeps only what the
playbook needs: the settings ansible-runner and the adapter set, and a short allow-list
of inherited names (`INHERITED`). Tokens and database URLs in the operator's environment
stay out of the child and out of the artifacts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

VARS_FILE = "extravars.json"
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
UNSAFE = "__ansible_unsafe"

# Inherited from the operator's environment, by name. PATH is rebuilt by the adapter;
# HOME finds ~/.ssh and ~/.ansible; the locale and TERM shape output; TMPDIR and TZ are
# what the standard library reads; USER/LOGNAME name the local user; SSH_AUTH_SOCK lets
# ssh use the operator's agent when the key to the servers is held there (a socket path,
# not a key: the agent answers only to this user).
INHERITED = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR", "USER", "LOGNAME",
                       "SSH_AUTH_SOCK",
                       # the path of the sandbox whose inventory inventory/sandbox reads (a
                       # benchmark or a second checkout keeps its sandbox elsewhere)
                       "KOMINFO_SANDBOX_DIR"})
INHERITED_PREFIXES = ("LC_",)
# Names ansible-runner itself sets in the child (RunnerConfig.prepare), kept when it set them.
RUNNER_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_")
RUNNER_NAMES = frozenset({"ORIGINAL_STDOUT_CALLBACK", "AD_HOC_COMMAND_ID"})


def mark_unsafe(value: Any, where: str = "extravars") -> Any:
    """`value` with every string wrapped as `{"__ansible_unsafe": ...}`; numbers, booleans
    and None kept. Anything else raises TypeError, so nothing slips through unmarked."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, (str, Path)):
        return {UNSAFE: str(value)}
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is not a string")
            if k.startswith("__ansible"):
                raise ValueError(f"{where}: key {k!r} would be read by Ansible as a marker")
            out[k] = mark_unsafe(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [mark_unsafe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: a {type(value).__name__} cannot be passed to Ansible")


def render_vars(extravars: Mapping[str, Any]) -> str:
    """The JSON text of the vars file: top-level names plain (they are ours), values unsafe.
    ASCII only: every other character travels as a \\uXXXX escape."""
    body: dict[str, Any] = {}
    for name, value in extravars.items():
        if not isinstance(name, str) or not VAR_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid Ansible variable name")
        body[name] = mark_unsafe(value, name)
    return json.dumps(body, ensure_ascii=True, sort_keys=True, indent=1, allow_nan=False) + "\n"


def write_vars_file(private_dir: Path, extravars: Mapping[str, Any]) -> Path:
    """Write the run's vars file (0600, created new, never followed through a link)."""
    path = Path(private_dir) / VARS_FILE
    text = render_vars(extravars)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    return path


def child_env(prepared: Mapping[str, str], ours: Mapping[str, str],
              inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    """The playbook's environment: from ansible-runner's prepared one (a copy of ours plus
    its settings), keep what the adapter set (`ours`), what ansible-runner set or changed
    under its own names, and the allow-listed inherited names. Everything else goes."""
    inherited = os.environ if inherited is None else inherited
    env: dict[str, str] = {}
    for name, value in prepared.items():
        if name in ours:
            env[name] = ours[name]
        elif name in INHERITED or name.startswith(INHERITED_PREFIXES):
            env[name] = value
        elif (name.startswith(RUNNER_PREFIXES) or name in RUNNER_NAMES) and inherited.get(name) != value:
            env[name] = value  # set by ansible-runner, not merely copied from our environment
    return env
