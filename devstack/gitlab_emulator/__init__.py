"""A GitLab REST v4 emulator for the tests and the sandbox: real HTTP on loopback, real git
repositories behind it.

See docs/gitlab-emulator.md. Its pytest fixtures and test helpers are in tests/gitlab_emulator/.
"""

from .app import Settings
from .emulator import GitLabEmulator

__all__ = ["GitLabEmulator", "Settings"]
