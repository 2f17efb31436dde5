"""Tests of the GitLab emulator (devstack.gitlab_emulator), its pytest fixtures (fixtures.py)
and the helpers for tests that use it (testing.py)."""
