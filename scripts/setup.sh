#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) for the toolkit and its tests:
# Debian packages from scripts/debian-packages.txt, then a venv at .venv with the
# project installed in it (editable, with the test extras).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/setup.sh must run as root (it installs Debian packages and the tests start servers)." >&2
  exit 2
fi

packages=$(grep -vE '^\s*(#|$)' scripts/debian-packages.txt | tr '\n' ' ')
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $packages 2>/dev/null | awk '$4 != "installed" {print $1}' || true)
# dpkg-query prints nothing for packages it has never heard of: count those as missing too.
for p in $packages; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$(echo $missing)" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps packaged daemons (postgresql, bind9, nginx...) from starting on
  # this machine: the tests start their own throwaway instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

# A wheel of every dependency pinned in constraints.txt, kept in .wheels: the offline
# install test (tests/test_offline_install.py) builds the wheelhouse from these with no index.
.venv/bin/python -m pip wheel -q --constraint constraints.txt --wheel-dir .wheels -r constraints.txt

# gitlab-ci-local runs the release pipeline's jobs for real in the CI tests
# (tests/install/test_ci_pipeline.py): 4.56.x is the last line that runs on Debian 12's Node 20.
GCL_VERSION=4.56.2
if [ "$(.tools/gcl/node_modules/.bin/gitlab-ci-local --version 2>/dev/null)" != "$GCL_VERSION" ]; then
  npm install --silent --no-fund --no-audit --prefix .tools/gcl "gitlab-ci-local@$GCL_VERSION" >/dev/null
fi
