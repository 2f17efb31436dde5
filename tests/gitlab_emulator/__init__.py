"""A GitLab REST v4 emulator for the tests: real HTTP on loopback, real git repositories behind it.

See docs/gitlab-emulator.md.
"""

from .app import Settings
from .emulator import GitLabEmulator

__all__ = ["GitLabEmulator", "Settings"]
