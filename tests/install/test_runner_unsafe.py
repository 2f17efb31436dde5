"""Data never becomes code in Ansible, and the playbook's environment holds no secret
(issue 13, items 1 and 3; provision/install/ansible_inputs.py).

A real local playbook (connection local, no server) gets hostile values through
`AnsibleRunner.run()` and uses them the ways the project's playbooks do: `{{ var }}` in
module arguments, a template, filters, `assert`, `when:` and a lookup's argument. No
marker may appear, and every value must arrive verbatim. A control run shows that the
same values given as plain `-e` JSON (what ansible-runner's `extravars` does) do run, so
the test can tell the difference.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.secret_sweep import add_root

PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: Use the values the ways the project's playbooks do
      ansible.builtin.copy:
        content: "{{ {'text': text, 'nested': nested, 'listed': listed, 'upper': text | upper | lower} | to_json }}"
        dest: "{{ out_dir }}/values.json"
        mode: "0600"
    - name: Template
      ansible.builtin.template:
        src: "{{ out_dir }}/t.j2"
        dest: "{{ out_dir }}/templated.txt"
        mode: "0600"
    - name: Assert on the value
      ansible.builtin.assert:
        that:
          - text | length > 0
          - "'lookup' in text"
    - name: A condition on the value
      ansible.builtin.copy:
        content: "{{ nested.deep[0] }}"
        dest: "{{ out_dir }}/when.txt"
        mode: "0600"
      when: nested.deep[0] | length > 0 and text != ''
    - name: A value as a lookup's argument
      ansible.builtin.set_fact:
        looked_up: "{{ lookup('ansible.builtin.env', text) | default('', true) }}"
    - name: The environment the playbook sees
      ansible.builtin.copy:
        content: "{{ query('ansible.builtin.env', 'PROVISION_GITLAB_TOKEN', 'DATABASE_URL', 'HOME', default='') | to_json }}"
        dest: "{{ out_dir }}/env.json"
        mode: "0600"
"""


def hostile(marker_dir: Path) -> dict[str, str]:
    """Each form of Jinja, every one of which would touch a marker if it were evaluated."""
    m = marker_dir
    return {
        "expr": f"{{{{ lookup('pipe', 'touch {m}/expr') }}}}",
        "stmt": f"{{% set x = lookup('pipe', 'touch {m}/stmt') %}}done",
        "if": f"{{% if lookup('pipe', 'touch {m}/if') is defined %}}yes{{% endif %}}",
        "comment": f"{{# c #}}{{{{ lookup('pipe', 'touch {m}/comment') }}}}{{# d #}}",
        "query": f"x {{{{ query('pipe', 'touch {m}/query') }}}} y",
        "raw": f"{{% raw %}}{{% endraw %}}{{{{ lookup('ansible.builtin.pipe', 'touch {m}/raw') }}}}",
        "newline": f"line1\n{{{{ lookup('pipe', 'touch {m}/newline') }}}}\n\t\u202e\u200b",
    }


def _inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return inv


def test_hostile_values_reach_the_playbook_as_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from provision.install.runner import AnsibleRunner

    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    values = hostile(markers)
    text = " | ".join(values.values())
    nested = {"deep": [values["stmt"], {"k": values["if"]}], values["expr"]: values["comment"]}
    # strings that look like other types stay strings (YAML's !unsafe would not keep them)
    listed = [values["query"], values["raw"], values["newline"], 7, True, None, "", "true", "0123", "null", "1e3"]
    (out / "t.j2").write_text("{{ text }}\n{{ nested | to_json }}\n")
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK)
    token, db_url = "glpat-sweepTOKEN-4242abcd", "postgresql://kp:DbPassw0rd-77x@127.0.0.1/kp"
    monkeypatch.setenv("PROVISION_GITLAB_TOKEN", token)
    monkeypatch.setenv("DATABASE_URL", db_url)
    runner = AnsibleRunner(tmp_path / "state", str(_inventory(tmp_path)))
    add_root(tmp_path / "state", "ansible-runner private data dirs")  # the session's sweep looks too

    r = runner.run(str(book), {"text": text, "nested": nested, "listed": listed, "out_dir": str(out)})

    assert r.ok, r.stdout_tail
    assert sorted(p.name for p in markers.iterdir()) == [], "a spec value ran as a template"
    got = json.loads((out / "values.json").read_text())
    assert got["text"] == text and got["upper"] == text.lower()
    assert got["nested"] == nested and got["listed"] == listed
    assert (out / "templated.txt").read_text() == f"{text}\n{json.dumps(nested)}\n"
    assert (out / "when.txt").read_text() == values["stmt"]
    # the values went in one 0600 file of unsafe strings, and nowhere else
    vars_file = r.private_dir / "extravars.json"
    assert stat.S_IMODE(vars_file.stat().st_mode) == 0o600
    assert json.loads(vars_file.read_text())["text"] == {"__ansible_unsafe": text}
    command = json.loads((r.private_dir / "artifacts" / "run" / "command").read_text())
    assert command["command"][-2:] == ["-e", f"@{vars_file}"] or f"@{vars_file}" in command["command"]
    assert "lookup" not in " ".join(command["command"]), command["command"]
    # item 3: neither the child nor the artifact holds the operator's secrets
    seen = json.loads((out / "env.json").read_text())
    assert seen[:2] == ["", ""] and seen[2] == os.environ["HOME"], seen
    assert "PROVISION_GITLAB_TOKEN" not in command["env"] and "DATABASE_URL" not in command["env"]
    for f in r.private_dir.rglob("*"):
        if f.is_file():
            body = f.read_bytes()
            assert token.encode() not in body and b"DbPassw0rd-77x" not in body, f
    assert command["env"]["ANSIBLE_STDOUT_CALLBACK"] == "awx_display"  # ansible-runner's own settings kept
    assert command["env"]["ANSIBLE_CONFIG"].endswith("ansible.cfg")


def test_control_plain_extra_vars_are_templated(tmp_path: Path) -> None:
    """Without the unsafe file, the same values run: the test above can fail."""
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    values = hostile(markers)
    (out / "t.j2").write_text("{{ text }}\n")
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK)
    extra = json.dumps({"text": values["expr"], "nested": {"deep": [values["stmt"]]}, "listed": [], "out_dir": str(out)})
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(["ansible-playbook", "-i", str(_inventory(tmp_path)), "-e", extra, str(book)],
                          capture_output=True, text=True, env=env, timeout=300)
    # the lookup ran (and left an empty string, which the play's assert then refuses)
    assert sorted(p.name for p in markers.iterdir()) == ["expr", "stmt"], proc.stdout[-3000:]
    assert proc.returncode == 2 and "Assertion failed" in proc.stdout, proc.stdout[-3000:]


def test_vars_file_marks_every_string(tmp_path: Path) -> None:
    """Unit: strings wrapped at every depth, keys plain, other scalars kept, unknown types
    and Ansible's marker keys refused, the file created new."""
    from provision.install.ansible_inputs import render_vars, write_vars_file

    u = "__ansible_unsafe"
    text = render_vars({"a": {"k{{x}}": ["{{ y }}", 1, 2.5, False, None]}, "b": "\u202e{%x%}\n", "c": Path("/p")})
    assert json.loads(text) == {"a": {"k{{x}}": [{u: "{{ y }}"}, 1, 2.5, False, None]},
                                "b": {u: "\u202e{%x%}\n"}, "c": {u: "/p"}}
    assert text.isascii()
    with pytest.raises(ValueError, match="valid Ansible variable name"):
        render_vars({"bad name": "x"})
    with pytest.raises(TypeError, match="a set cannot be passed"):
        render_vars({"a": {"b": {1, 2}}})
    with pytest.raises(ValueError, match="read by Ansible as a marker"):
        render_vars({"a": {"__ansible_vault": "x"}})
    write_vars_file(tmp_path, {"a": "b"})
    with pytest.raises(FileExistsError):  # created new, never over something planted
        write_vars_file(tmp_path, {"a": "b"})


def test_child_env_keeps_the_allow_list_only() -> None:
    """Unit: what ansible-runner prepared, filtered."""
    from provision.install.ansible_inputs import child_env

    inherited = {"PATH": "/bin", "HOME": "/root", "LC_ALL": "C.UTF-8", "PROVISION_GITLAB_TOKEN": "t0ken-secret",
                 "DATABASE_URL": "postgresql://u:pw@h/d", "ANSIBLE_VAULT_PASSWORD_FILE": "/v",
                 "ANSIBLE_STDOUT_CALLBACK": "yaml", "MYSQL_PWD": "pw", "SSH_AUTH_SOCK": "/run/a"}
    prepared = {**inherited, "ANSIBLE_STDOUT_CALLBACK": "awx_display", "AWX_ISOLATED_DATA_DIR": "/a",
                "RUNNER_OMIT_EVENTS": "False", "ANSIBLE_CONFIG": "/pb/ansible.cfg", "PATH": "/venv/bin:/bin"}
    ours = {"ANSIBLE_CONFIG": "/pb/ansible.cfg", "PATH": "/venv/bin:/bin"}
    assert child_env(prepared, ours, inherited) == {
        "PATH": "/venv/bin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8", "SSH_AUTH_SOCK": "/run/a",
        "ANSIBLE_STDOUT_CALLBACK": "awx_display", "AWX_ISOLATED_DATA_DIR": "/a", "RUNNER_OMIT_EVENTS": "False",
        "ANSIBLE_CONFIG": "/pb/ansible.cfg"}
