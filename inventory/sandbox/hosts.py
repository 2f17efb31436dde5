#!/usr/bin/env python3
"""Ansible dynamic inventory of the running sandbox servers (`python -m devstack.sandbox up`).

`ansible-playbook -i inventory/sandbox ...` runs this script; it prints the inventory that
the sandbox wrote to <checkout>/.sandbox/inventory.json (or $KOMINFO_SANDBOX_DIR), where
every host carries `ansible_ssh_common_args: -F <sandbox ssh_config>` (ProxyCommand into
the server's network namespace, host key pinned). No sandbox running: an empty group.
"""

import json
import os
import sys
from pathlib import Path

state = Path(os.environ.get("KOMINFO_SANDBOX_DIR") or Path(__file__).resolve().parents[2] / ".sandbox")
try:
    inventory = json.loads((state / "inventory.json").read_text())
except (OSError, ValueError):
    inventory = {"kominfo": {"hosts": []}, "_meta": {"hostvars": {}}}

if len(sys.argv) > 2 and sys.argv[1] == "--host":
    print(json.dumps(inventory["_meta"]["hostvars"].get(sys.argv[2], {})))
else:
    print(json.dumps(inventory))
