#!/usr/bin/env bash
# Installs Debian's redis-server, the shared correlation store the tests of
# rules/redisstore and daemon/ start on 127.0.0.1 (never as a service),
# unless it is already there. Idempotent and quiet. Prints the path of the
# binary on its last line.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server: $(command -v redis-server)"
  exit 0
fi
echo "installing redis-server (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# policy-rc.d-less machines would start the packaged service: the tests
# start their own servers, so keep it from starting.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server: not found after apt-get install" >&2
  exit 1
fi
echo "redis-server: $(command -v redis-server)"
