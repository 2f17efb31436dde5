"""Where an application lives on its server, the part that hosting (the site) and install
(the release) must agree on: the PHP version a spec gets when it names none, and the
loopback port of a Python or Node app server."""

from __future__ import annotations

import zlib
from typing import Any

#: The PHP version of a spec whose runtime names none, and of a web host whose inventory
#: does not set `provision_php_versions`.
DEFAULT_PHP = "8.2"


def app_port(instance: str) -> int:
    """A stable port per instance for python/node app servers (127.0.0.1 only)."""
    return 20000 + zlib.crc32(instance.encode()) % 10000


def php_version(runtime: Any) -> str:
    """The PHP version of a spec's `runtime` (its own, or DEFAULT_PHP)."""
    return str(runtime.version) if runtime.kind == "php" and runtime.version else DEFAULT_PHP
