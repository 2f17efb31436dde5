#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs what it needs,
# then runs pytest. The tests start their own servers (BIND, PostgreSQL, throwaway
# Kominfo servers, the GitLab emulator); one that cannot start fails, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
