"""Tests of the sandbox (devstack.sandbox) and its pytest fixtures (fixtures.py, bind_fixtures.py)."""
