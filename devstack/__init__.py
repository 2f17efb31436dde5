"""devstack: a tool for trying the whole stack on one machine, not part of the product.

- `sandbox`: throwaway Kominfo servers, databases, BIND, pebble (ACME) and the GitLab
  emulator behind them; `python -m devstack.sandbox up|status|down` (docs/sandbox.md).
- `gitlab_emulator`: a GitLab REST v4 emulator with real git behind it
  (`python -m devstack.gitlab_emulator`, docs/gitlab-emulator.md).
- `demo_push`: the developer's part of the demo (push the sample app, tag v1.0.0).
- `ca`: the local CA of the sandbox and the tests.
- `git_server`, `gitlab_target`, `toml`: what the benchmarks share with the tests (a git
  daemon's repositories of sample apps, the GitLab the provider runs against, TOML values).

Used by scripts/demo.sh, bench/ and tests/. Never imported by `provision/`, not carried
by the wheel, and it imports nothing from `tests/` (tests/test_layers.py checks all three).
"""
