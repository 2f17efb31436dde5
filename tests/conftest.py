"""Shared pytest set-up. Fixture plugins of each part of the test stack are listed here."""

import importlib.util

# Each part of the sandbox registers its fixtures here once its module exists.
_PLUGINS = [
    "tests.sandbox.fixtures",
    "tests.gitlab_emulator.fixtures",
]
pytest_plugins = [p for p in _PLUGINS if importlib.util.find_spec(p.rsplit(".", 1)[0]) is not None]
